"""``boxtui.client`` and ``Idempotency-Key`` (PROTOCOL §10.12): every creating method sends
a key, and an answer lost on the way back is fetched again with the same key, so the
server creates the thing once. The server is the real one, in-process; the transport in
front of it loses answers after the server has acted on the request.
(``tests/e2e/test_retry_after_drop.py`` does the same through a real socket.)
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from boxtui.client import APIConnectionError, BoxClient, Conflict
from boxtui.server.auth.models import IdentityRow
from boxtui.server.events.models import EventRow
from boxtui.server.idempotency.models import IdempotencyKeyRow
from tests.client.conftest import ciphertext, random_key
from tests.conftest import PASSWORD


class LosingTransport(httpx.AsyncBaseTransport):
    """The in-process server behind a link that loses the answers to the next ``drops``
    creating requests, after the server handled them."""

    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.drops = 0
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "idempotency-key" in request.headers:
            self.sent.append(request)
            if self.drops > 0:
                self.drops -= 1
                await response.aclose()
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return response


@pytest.fixture
async def world(sqlite_app):
    transport = LosingTransport(sqlite_app)
    async with BoxClient("http://testserver", transport=transport) as client:
        client.max_retries = 2
        await client.auth.signup("ada@example.org", PASSWORD, "Ada")
        session = await client.auth.login("ada@example.org", password=PASSWORD)
        box = await client.boxes.create("Team", random_key())
        other = await client.boxes.create("Other", random_key())
        message = await client.events.post(box.id, "msg.text", {"encrypted": ciphertext()})
        file_event = await client.files.upload(box.id, b"sealed", msg_encrypted_content=ciphertext(), msg_public_key=random_key())
        transport.sent.clear()
        yield {
            "client": client,
            "transport": transport,
            "app": sqlite_app,
            "me": session.identity.id,
            "box": box.id,
            "other": other.id,
            "message": message.id,
            "file_id": file_event.content["encrypted_file_id"],
        }


def eml() -> bytes:
    message = EmailMessage()
    message["From"] = "ada@example.org"
    message["Subject"] = "hello"
    message.set_content("body")
    return message.as_bytes()


#: Every creating method of the client, called on the world.
CALLS: dict[str, Callable[[dict[str, Any], str | None], Awaitable[Any]]] = {
    "auth.signup": lambda w, k: w["client"].auth.signup("zed@example.org", PASSWORD, "Zed", idempotency_key=k),
    "boxes.create": lambda w, k: w["client"].boxes.create("New", random_key(), idempotency_key=k),
    "events.post": lambda w, k: w["client"].events.post(w["box"], "msg.text", {"encrypted": ciphertext()}, idempotency_key=k),
    "events.share": lambda w, k: w["client"].events.share(w["message"], [{"box_id": w["other"], "content": {"encrypted": ciphertext()}}], idempotency_key=k),
    "events.batch": lambda w, k: w["client"].events.batch(
        w["box"], [{"type": "access.add", "content": {"restriction_type": "email_domain", "value": "example.net"}}], idempotency_key=k
    ),
    "events.email": lambda w, k: w["client"].events.email(w["box"], eml(), idempotency_key=k),
    "files.upload": lambda w, k: w["client"].files.upload(w["box"], b"x" * 5000, msg_encrypted_content=ciphertext(), msg_public_key=random_key(), idempotency_key=k),
    "saved_files.create": lambda w, k: w["client"].saved_files.create(
        encrypted_file_id=w["file_id"], identity_id=w["me"], encrypted_metadata=ciphertext(), key_fingerprint=random_key(), idempotency_key=k
    ),
    "saved_files.upload_direct": lambda w, k: w["client"].saved_files.upload_direct(
        w["me"], b"y" * 5000, encrypted_metadata=ciphertext(), key_fingerprint=random_key(), idempotency_key=k
    ),
    "keys.secret_storage_put": lambda w, k: w["client"].keys.secret_storage_put("sealed backup", idempotency_key=k),
}


async def rows(app, model, *where) -> int:
    async with app.state.sessionmaker() as db:
        return await db.scalar(select(func.count()).select_from(model).where(*where))


async def snapshot(w: dict[str, Any]) -> dict[str, int]:
    """Everything the creating methods can make, counted."""
    client = w["client"]
    backup = await client.keys.secret_storage_get()
    return {
        "identities": await rows(w["app"], IdentityRow),
        "boxes": await client.boxes.count_joined(),
        "events": await rows(w["app"], EventRow),
        "saved": await client.saved_files.count(w["me"]),
        "backup": backup.version if backup else 0,
        "keys": await rows(w["app"], IdempotencyKeyRow),
    }


#: What one call of each method makes (besides its one key record).
MAKES = {
    "auth.signup": {"identities": 1},
    "boxes.create": {"boxes": 1, "events": 1},  # the box and its create event
    "events.post": {"events": 1},
    "events.share": {"events": 1},
    "events.batch": {"events": 1},
    "events.email": {"events": 1},
    "files.upload": {"events": 1},
    "saved_files.create": {"saved": 1},
    "saved_files.upload_direct": {"saved": 1},
    "keys.secret_storage_put": {"backup": 1},
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_lost_answer_is_fetched_again_and_the_thing_made_once(world, name):
    before = await snapshot(world)
    world["transport"].drops = 1
    assert await CALLS[name](world, None) is not None
    sent = world["transport"].sent
    assert len(sent) == 2, "sent, answer lost, sent again"
    assert sent[0].headers["idempotency-key"] == sent[1].headers["idempotency-key"]
    uuid.UUID(sent[0].headers["idempotency-key"].strip('"'))  # a fresh UUID, quoted
    after = await snapshot(world)
    made = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert made == {**MAKES[name], "keys": 1}


async def test_each_call_gets_its_own_key_and_a_given_key_is_used(world):
    client, transport = world["client"], world["transport"]
    await client.events.post(world["box"], "msg.text", {"encrypted": ciphertext()})
    await client.events.post(world["box"], "msg.text", {"encrypted": ciphertext()})
    first, second = (r.headers["idempotency-key"] for r in transport.sent)
    assert first != second
    transport.sent.clear()
    # The outbox's way: a key it kept across a restart resends the same message safely.
    body = {"encrypted": ciphertext()}
    one = await client.events.post(world["box"], "msg.text", body, idempotency_key="outbox-41")
    two = await client.events.post(world["box"], "msg.text", body, idempotency_key="outbox-41")
    assert one == two
    assert [r.headers["idempotency-key"] for r in transport.sent] == ['"outbox-41"', '"outbox-41"']
    assert await rows(world["app"], IdempotencyKeyRow, IdempotencyKeyRow.key == "outbox-41") == 1


async def test_retries_are_bounded(world):
    client, transport = world["client"], world["transport"]
    before = await rows(world["app"], EventRow)
    transport.drops = 10
    with pytest.raises(APIConnectionError):
        await client.events.post(world["box"], "msg.text", {"encrypted": ciphertext()})
    assert len(transport.sent) == 1 + client.max_retries
    assert len({r.headers["idempotency-key"] for r in transport.sent}) == 1
    assert await rows(world["app"], EventRow) == before + 1  # every attempt reached the server; one message

    transport.sent.clear()
    transport.drops = 1
    client.max_retries = 0
    with pytest.raises(APIConnectionError):
        await client.events.post(world["box"], "msg.text", {"encrypted": ciphertext()})
    assert len(transport.sent) == 1


async def test_a_streamed_upload_is_not_sent_twice_but_can_be_resent_with_its_key(world):
    client, transport = world["client"], world["transport"]

    async def chunks():
        yield b"part one, "
        yield b"part two"

    fields = {"msg_encrypted_content": ciphertext(), "msg_public_key": random_key()}
    transport.drops = 1
    with pytest.raises(APIConnectionError):
        await client.files.upload(world["box"], chunks(), idempotency_key="stream-1", **fields)
    assert len(transport.sent) == 1
    # The caller makes the body again and resends it under the same key: answered, not doubled.
    event = await client.files.upload(world["box"], chunks(), idempotency_key="stream-1", **fields)
    assert transport.sent[-1].headers["idempotency-key"] == '"stream-1"'
    assert await rows(world["app"], EventRow, EventRow.id == event.id) == 1
    assert await rows(world["app"], EventRow, EventRow.type == "msg.file") == 2  # the world's file and this one


async def test_errors_are_not_retried_and_a_reused_key_is_a_conflict(world):
    client, transport = world["client"], world["transport"]
    await client.events.post(world["box"], "msg.text", {"encrypted": ciphertext()}, idempotency_key="k")
    transport.sent.clear()
    with pytest.raises(Conflict) as caught:
        await client.events.post(world["box"], "msg.text", {"encrypted": ciphertext()}, idempotency_key="k")
    assert caught.value.details == {"idempotency-key": "conflict"}
    assert len(transport.sent) == 1
