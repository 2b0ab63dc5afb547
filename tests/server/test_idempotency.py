"""``Idempotency-Key`` on every creating route (PROTOCOL §10.12), on SQLite and PostgreSQL.

Each test tells one promise: a replay answers the first response and creates nothing,
another body under the same key is refused, requests in flight together create one
thing, keys expire, keys belong to one identity, and the record lives and dies with
what it created.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from boxtui.core.timefmt import utcnow
from boxtui.server.app import create_app
from boxtui.server.events.models import EventRow
from boxtui.server.idempotency.models import IdempotencyKeyRow
from boxtui.server.idempotency.service import purge_expired
from tests.conftest import PASSWORD, asgi_client
from tests.server.helpers import (
    User,
    assert_error,
    box_with_member,
    ciphertext,
    create_box,
    invite,
    post_event,
    post_text,
    random_key,
    signup_login,
    upload_file,
)


def keyed(user: User | None, key: str) -> dict[str, str]:
    return {**(user.headers if user else {}), "Idempotency-Key": f'"{key}"'}


def new_key() -> str:
    return str(uuid.uuid4())


def app_of(http: httpx.AsyncClient):
    return http._transport.app  # type: ignore[attr-defined]


async def scalar(http: httpx.AsyncClient, statement) -> Any:
    async with app_of(http).state.sessionmaker() as db:
        return await db.scalar(statement)


async def count_events(http: httpx.AsyncClient, box_id: str, type_: str | None = None) -> int:
    statement = select(func.count()).select_from(EventRow).where(EventRow.box_id == box_id)
    if type_:
        statement = statement.where(EventRow.type == type_)
    return await scalar(http, statement)


def eml(subject: str = "minutes") -> bytes:
    message = EmailMessage()
    message["From"] = "ada@example.org"
    message["Subject"] = subject
    message.set_content("see attachment")
    message.add_attachment(b"col\n1\n", maintype="text", subtype="csv", filename="a.csv")
    return message.as_bytes()


def upload_form(data: bytes = b"sealed bytes", **fields: str) -> dict[str, Any]:
    return {"data": {"msg_encrypted_content": "AAAA", "msg_public_key": FIXED_KEY, **fields}, "files": {"encrypted_file": ("blob", data)}}


FIXED_KEY = random_key()


# --- every creating route replays ------------------------------------------------------------


async def _world(http: httpx.AsyncClient) -> dict[str, Any]:
    alice, bob, box = await box_with_member(http)
    other = await create_box(http, alice, "Other")
    message = await post_text(http, alice, box["id"])
    file_event = await upload_file(http, alice, box["id"])
    return {"alice": alice, "bob": bob, "box": box["id"], "other": other["id"], "message": message, "file_id": file_event["content"]["encrypted_file_id"]}


#: (name, request kwargs built from the world, how many things exist: a count function)
ROUTES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "box": lambda w: {"method": "POST", "url": "/boxes", "json": {"title": "Retried", "public_key": FIXED_KEY}},
    "event": lambda w: {"method": "POST", "url": f"/boxes/{w['box']}/events", "json": {"type": "msg.text", "content": {"encrypted": "AAAA"}}},
    "batch": lambda w: {
        "method": "POST",
        "url": f"/boxes/{w['box']}/batch-events",
        "json": {"batch_type": "accesses", "events": [{"type": "access.add", "content": {"restriction_type": "email_domain", "value": "example.net"}}]},
    },
    "share": lambda w: {"method": "POST", "url": f"/events/{w['message']['id']}/shares", "json": {"targets": [{"box_id": w["other"], "content": {"encrypted": "AAAA"}}]}},
    "upload": lambda w: {"method": "POST", "url": f"/boxes/{w['box']}/encrypted-files", **upload_form()},
    "email": lambda w: {"method": "POST", "url": f"/boxes/{w['box']}/email", "content": eml(), "headers": {"Content-Type": "message/rfc822"}},
    "saved file": lambda w: {
        "method": "POST",
        "url": "/saved-files",
        "json": {"encrypted_file_id": w["file_id"], "identity_id": w["alice"].id, "encrypted_metadata": "meta", "key_fingerprint": FIXED_KEY},
    },
    "direct saved file": lambda w: {
        "method": "POST",
        "url": f"/box-users/{w['alice'].id}/saved-files",
        "data": {"encrypted_metadata": "meta", "key_fingerprint": FIXED_KEY},
        "files": {"encrypted_file": ("blob", b"vault bytes")},
    },
    "secret storage": lambda w: {"method": "PUT", "url": "/crypto/secret-storage", "json": {"data": "sealed backup"}},
}

#: How to count what each route creates, so a test can see that a replay made nothing.
COUNTS: dict[str, Callable[[httpx.AsyncClient, dict[str, Any]], Awaitable[int]]] = {
    "box": lambda http, w: http.head("/boxes/joined", headers=w["alice"].headers),
    "event": lambda http, w: count_events(http, w["box"]),
    "batch": lambda http, w: count_events(http, w["box"]),
    "share": lambda http, w: count_events(http, w["other"]),
    "upload": lambda http, w: count_events(http, w["box"]),
    "email": lambda http, w: count_events(http, w["box"]),
    "saved file": lambda http, w: http.head("/saved-files", params={"identity_id": w["alice"].id}, headers=w["alice"].headers),
    "direct saved file": lambda http, w: http.head("/saved-files", params={"identity_id": w["alice"].id}, headers=w["alice"].headers),
    "secret storage": lambda http, w: http.get("/crypto/secret-storage", headers=w["alice"].headers),
}


async def how_many(http: httpx.AsyncClient, name: str, world: dict[str, Any]) -> Any:
    result = await COUNTS[name](http, world)
    if isinstance(result, httpx.Response):
        if name == "secret storage":
            return result.json()["version"] if result.status_code == 200 else 0
        return int(result.headers["x-total-count"])
    return result


async def send(http: httpx.AsyncClient, user: User | None, key: str | None, spec: dict[str, Any]) -> httpx.Response:
    spec = dict(spec)
    headers = {**(user.headers if user else {}), **spec.pop("headers", {})}
    if key is not None:
        headers["Idempotency-Key"] = f'"{key}"'
    return await http.request(spec.pop("method"), spec.pop("url"), headers=headers, **spec)


@pytest.mark.parametrize("name", list(ROUTES))
async def test_a_replay_answers_the_first_response_and_creates_nothing(http, name):
    world = await _world(http)
    spec = ROUTES[name](world)
    before = await how_many(http, name, world)
    key = new_key()
    first = await send(http, world["alice"], key, spec)
    assert first.status_code in (200, 201), first.text
    assert "idempotent-replayed" not in first.headers
    created = await how_many(http, name, world)
    assert created != before

    again = await send(http, world["alice"], key, spec)
    assert again.status_code == first.status_code
    assert again.content == first.content  # byte for byte
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    if name == "secret storage":
        assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert await how_many(http, name, world) == created

    # Without a key the same request is a new request (or, for these, its own error).
    fresh = await send(http, world["alice"], None, spec)
    assert fresh.status_code in (200, 201, 409, 412), fresh.text


@pytest.mark.parametrize("name", ["event", "upload", "email", "direct saved file", "secret storage", "box"])
async def test_the_same_key_with_another_body_is_refused(http, name):
    world = await _world(http)
    spec = ROUTES[name](world)
    key = new_key()
    assert (await send(http, world["alice"], key, spec)).status_code in (200, 201)
    created = await how_many(http, name, world)
    changed = dict(spec)
    if "json" in changed:
        changed["json"] = {**changed["json"], **({"data": "another backup"} if name == "secret storage" else {})}
        if name == "event":
            changed["json"] = {"type": "msg.text", "content": {"encrypted": "BBBB"}}
        if name == "box":
            changed["json"] = {"title": "Another title", "public_key": FIXED_KEY}
    elif "content" in changed:
        changed["content"] = eml("another subject")
    else:
        changed["files"] = {"encrypted_file": ("blob", b"other bytes")}
    body = assert_error(await send(http, world["alice"], key, changed), 409, "conflict", **{"idempotency-key": "conflict"})
    assert body["origin"] == "headers"
    assert await how_many(http, name, world) == created


async def test_the_same_key_on_another_route_or_box_is_refused(http):
    alice = await signup_login(http, "alice@example.com")
    one, two = await create_box(http, alice, "One"), await create_box(http, alice, "Two")
    key = new_key()
    body = {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    assert (await http.post(f"/boxes/{one['id']}/events", json=body, headers=keyed(alice, key))).status_code == 201
    assert_error(await http.post(f"/boxes/{two['id']}/events", json=body, headers=keyed(alice, key)), 409, **{"idempotency-key": "conflict"})
    assert_error(await http.post("/boxes", json={"title": "x", "public_key": random_key()}, headers=keyed(alice, key)), 409)
    assert await count_events(http, two["id"], "msg.text") == 0


async def test_the_fingerprint_ignores_json_layout_and_multipart_framing(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    key = new_key()
    first = await http.post(f"/boxes/{box['id']}/events", content=b'{"type":"msg.text","content":{"encrypted":"AAAA"}}', headers={**keyed(alice, key), "Content-Type": "application/json"})
    again = await http.post(f"/boxes/{box['id']}/events", content=b'{ "content": {"encrypted": "AAAA"},\n "type": "msg.text" }', headers={**keyed(alice, key), "Content-Type": "application/json"})
    assert (first.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.json() == first.json()

    # httpx draws a new multipart boundary for each request: a rebuilt retry still matches.
    key = new_key()
    first = await http.post(f"/boxes/{box['id']}/encrypted-files", headers=keyed(alice, key), **upload_form())
    again = await http.post(f"/boxes/{box['id']}/encrypted-files", headers=keyed(alice, key), **upload_form())
    assert first.request.headers["content-type"] != again.request.headers["content-type"]
    assert (first.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.json() == first.json()
    assert await count_events(http, box["id"], "msg.file") == 1


@pytest.mark.parametrize(
    "value",
    ['""', "", "has space", "a,b", '"unterminated', "x" * 256, '"' + "x" * 256 + '"', "caf\u00e9"],
)
async def test_a_malformed_key_is_a_400(http, value):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    headers = {**alice.headers, "Idempotency-Key": value}
    body = {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    try:
        response = await http.post(f"/boxes/{box['id']}/events", json=body, headers=headers)
    except UnicodeEncodeError:  # httpx will not send a non-ASCII header: nothing to check
        return
    assert_error(response, 400, "bad_request", **{"idempotency-key": "malformed"})
    assert await count_events(http, box["id"], "msg.text") == 0


async def test_two_key_headers_are_a_400_and_quoted_and_bare_forms_name_one_key(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    url, body = f"/boxes/{box['id']}/events", {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    two = httpx.Headers([("Authorization", alice.headers["Authorization"]), ("Idempotency-Key", '"a"'), ("Idempotency-Key", '"b"')])
    assert_error(await http.post(url, json=body, headers=two), 400, **{"idempotency-key": "malformed"})
    # An sf-string may hold an escaped quote; the key is the unescaped text.
    escaped = await http.post(url, json=body, headers={**alice.headers, "Idempotency-Key": '"k-1\\"x"'})
    assert escaped.status_code == 201, escaped.text
    assert await scalar(http, select(IdempotencyKeyRow.key).where(IdempotencyKeyRow.key.like("k-1%"))) == 'k-1"x'
    first = await http.post(url, json=body, headers={**alice.headers, "Idempotency-Key": '"k-2"'})
    again = await http.post(url, json=body, headers={**alice.headers, "Idempotency-Key": "k-2"})
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()


# --- in flight at the same time ---------------------------------------------------------------


async def test_concurrent_requests_with_one_key_create_one_event(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    key = new_key()
    body = {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    responses = await asyncio.gather(*(http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key)) for _ in range(6)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
    assert await count_events(http, box["id"], "msg.text") == 1


async def test_a_request_in_flight_waits_and_then_replays_the_one_that_committed(http):
    """Upload A is still sending its body when B (same key) arrives, creates and commits;
    A then finishes, finds B's record, and answers B's response: one file, not two."""
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    key = new_key()
    fields = {"msg_encrypted_content": "AAAA", "msg_public_key": FIXED_KEY}
    boundary = "b0undary"
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="encrypted_file"; filename="blob"\r\n\r\n'
    blob = b"x" * 50_000
    release, started = asyncio.Event(), asyncio.Event()

    async def slow_body():
        yield head.encode() + blob[:1000]
        started.set()
        await release.wait()
        yield blob[1000:] + f"\r\n--{boundary}--\r\n".encode()

    headers = {**keyed(alice, key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    slow = asyncio.create_task(http.post(f"/boxes/{box['id']}/encrypted-files", content=slow_body(), headers=headers))
    await asyncio.wait_for(started.wait(), 30)
    fast = await http.post(f"/boxes/{box['id']}/encrypted-files", headers=keyed(alice, key), data=fields, files={"encrypted_file": ("blob", blob)})
    assert fast.status_code == 201 and "idempotent-replayed" not in fast.headers
    release.set()
    slow_response = await asyncio.wait_for(slow, 60)
    assert slow_response.status_code == 201
    assert slow_response.headers["idempotent-replayed"] == "true"
    assert slow_response.content == fast.content
    assert await count_events(http, box["id"], "msg.file") == 1
    # The loser's blob was removed with its rolled-back row: only the winner's is on disk.
    blob_dir = app_of(http).state.settings.blob_dir
    assert sorted(p.name for p in blob_dir.glob("*/*")) == [fast.json()["content"]["encrypted_file_id"]]


# --- a retry after the world moved on -----------------------------------------------------------


async def test_a_retry_is_replayed_even_when_redoing_it_would_now_fail(http):
    alice, bob, box = await box_with_member(http)
    key = new_key()
    first = await post_event(http, alice, box["id"], {"type": "msg.text", "content": {"encrypted": "AAAA"}})  # noqa: F841 - some history
    sent = await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "BBBB"}}, headers=keyed(bob, key))
    upload_key = new_key()
    uploaded = await http.post(f"/boxes/{box['id']}/encrypted-files", headers=keyed(bob, upload_key), **upload_form())
    assert sent.status_code == uploaded.status_code == 201
    await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
    # The box is closed now: a new message would be a 409, the retried one is answered.
    again = await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "BBBB"}}, headers=keyed(bob, key))
    assert (again.status_code, again.headers.get("idempotent-replayed"), again.json()) == (201, "true", sent.json())
    again = await http.post(f"/boxes/{box['id']}/encrypted-files", headers=keyed(bob, upload_key), **upload_form())
    assert (again.status_code, again.headers.get("idempotent-replayed"), again.json()) == (201, "true", uploaded.json())
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "CCCC"}}, headers=keyed(bob, new_key())), 409)


async def test_a_retried_join_is_replayed_not_already_a_member(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    await invite(http, alice, box["id"], bob.email)
    key = new_key()
    joined = await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=keyed(bob, key))
    again = await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=keyed(bob, key))
    assert (joined.status_code, again.status_code, again.headers.get("idempotent-replayed")) == (201, 201, "true")
    assert again.json() == joined.json()
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=keyed(bob, new_key())), 409)


async def test_a_refused_request_records_nothing_so_its_key_still_works(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    key = new_key()
    join = {"type": "member.join"}
    assert_error(await http.post(f"/boxes/{box['id']}/events", json=join, headers=keyed(bob, key)), 403)
    assert await scalar(http, select(func.count()).select_from(IdempotencyKeyRow)) == 0
    await invite(http, alice, box["id"], bob.email)
    joined = await http.post(f"/boxes/{box['id']}/events", json=join, headers=keyed(bob, key))
    assert joined.status_code == 201 and "idempotent-replayed" not in joined.headers


# --- identities, expiry, restarts, atomicity ---------------------------------------------------


async def test_one_key_from_two_identities_makes_two_things(http):
    alice, bob, box = await box_with_member(http)
    key = new_key()
    body = {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    by_alice = await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key))
    by_bob = await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(bob, key))
    assert by_alice.status_code == by_bob.status_code == 201
    assert "idempotent-replayed" not in by_bob.headers
    assert by_alice.json()["id"] != by_bob.json()["id"]
    assert await count_events(http, box["id"], "msg.text") == 2
    # Signup keys are scoped by the e-mail: the same key signs up two people.
    for email in ("carol@example.com", "dave@example.com"):
        response = await http.post("/auth/signup", json={"email": email, "password": PASSWORD, "display_name": "x"}, headers=keyed(None, key))
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers


async def test_signup_replays_and_keeps_secrets_out_of_the_fingerprint(http):
    key = new_key()
    body = {"email": "erin@example.com", "password": PASSWORD, "display_name": "Erin"}
    first = await http.post("/auth/signup", json=body, headers=keyed(None, key))
    again = await http.post("/auth/signup", json=body, headers=keyed(None, key))
    assert (first.status_code, again.status_code, again.headers.get("idempotent-replayed")) == (201, 201, "true")
    assert again.content == first.content
    assert_error(await http.post("/auth/signup", json={**body, "display_name": "Other"}, headers=keyed(None, key)), 409, **{"idempotency-key": "conflict"})
    stored = await scalar(http, select(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key))
    assert stored.scope == "signup:erin@example.com"
    assert PASSWORD not in stored.body
    assert_error(await http.post("/auth/signup", json=body), 409, email="conflict")


async def test_an_expired_key_is_a_new_key_and_is_purged(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    key = new_key()
    body = {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    first = await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key))
    record = await scalar(http, select(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key))
    lifetime = record.expires_at - record.created_at
    assert lifetime >= timedelta(hours=24)

    async with app_of(http).state.sessionmaker() as db:  # a day passes for this key
        await db.execute(update(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    again = await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await count_events(http, box["id"], "msg.text") == 2
    # The record now belongs to the new request, for another full lifetime.
    replay = await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key))
    assert replay.json() == again.json()

    async with app_of(http).state.sessionmaker() as db:
        await db.execute(update(IdempotencyKeyRow).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    other = new_key()
    await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, other))
    assert await purge_expired(app_of(http).state.sessionmaker) >= 1
    assert await scalar(http, select(func.count()).select_from(IdempotencyKeyRow)) == 1  # only the live one


async def test_records_survive_a_restart(server_settings):
    app = create_app(server_settings)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        alice = await signup_login(http, "alice@example.com")
        box = await create_box(http, alice)
        key = new_key()
        first = await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "AAAA"}}, headers=keyed(alice, key))
    app = create_app(server_settings)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        again = await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "AAAA"}}, headers=keyed(alice, key))
        assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
        assert again.content == first.content
        assert await count_events(http, box["id"], "msg.text") == 1


async def test_a_failed_commit_keeps_neither_the_event_nor_its_key(http, monkeypatch):
    """The record is written in the event's transaction: when that commit fails, both go.

    (The route's commit: the fast path, which commits the two in one transaction of its
    own, is set aside so that the commit that fails here is the one taken.)"""
    from sqlalchemy.ext.asyncio import AsyncSession

    http._transport.app.state.fast_path = None

    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    key = new_key()
    body = {"type": "msg.text", "content": {"encrypted": "AAAA"}}
    real_commit = AsyncSession.commit
    failed = []

    async def commit_then_lose_power(self):
        if not failed and self.in_transaction():
            # The record is in this transaction, not yet committed: the moment to fail.
            if await self.scalar(select(func.count()).select_from(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key)):
                failed.append(True)
                await self.rollback()
                raise ConnectionResetError("the database went away during COMMIT")
        return await real_commit(self)

    monkeypatch.setattr(AsyncSession, "commit", commit_then_lose_power)
    with pytest.raises(ConnectionResetError):
        await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key))
    monkeypatch.setattr(AsyncSession, "commit", real_commit)
    assert failed
    assert await count_events(http, box["id"], "msg.text") == 0
    assert await scalar(http, select(func.count()).select_from(IdempotencyKeyRow)) == 0
    retried = await http.post(f"/boxes/{box['id']}/events", json=body, headers=keyed(alice, key))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert await count_events(http, box["id"], "msg.text") == 1
