"""PROTOCOL §9 (realtime) against the real process, with the ``websockets`` library."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.conformance.proto import (
    Server,
    User,
    b64u,
    ciphertext,
    make_user,
    new_pubkey,
)


def _socket(srv: Server, user: User, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return connect(
        f"{srv.ws_url}/box-users/{user.id}/ws",
        additional_headers=headers or {"Authorization": f"Bearer {user.token}"},
        open_timeout=5,
    )


async def _next(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            assert set(message) == {"type", "object"}, message
            if match(message):
                return message


def _event(type_: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda m: (
        m["type"] == "event.new"
        and m["object"]["type"] == type_
        and all(m["object"].get(k) == v for k, v in fields.items())
    )


async def test_handshake_refused(srv: Server, alice: User, bob: User) -> None:
    for headers, user in [
        ({"Authorization": f"Bearer {bob.token}"}, alice),  # another identity's socket
        ({"Authorization": "Bearer not-a-token"}, alice),
        ({}, alice),
    ]:
        with pytest.raises(InvalidStatus):
            async with connect(
                f"{srv.ws_url}/box-users/{user.id}/ws",
                additional_headers=headers,
                open_timeout=5,
            ):
                pass


async def test_cookie_socket(srv: Server, alice: User) -> None:
    async with _socket(
        srv, alice, {"Cookie": f"accesstoken={alice.token}; tokentype=bearer"}
    ) as ws:
        await ws.ping()


async def test_event_fanout_edits_deletes_ack(
    srv: Server, alice: User, bob: User
) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    async with _socket(srv, alice) as alice_ws, _socket(srv, bob) as bob_ws:
        bob.post(box["id"], "member.join")
        await _next(alice_ws, _event("member.join", box_id=box["id"]))
        message = bob.text(box["id"])
        got = await _next(alice_ws, _event("msg.text", id=message["id"]))
        assert got["object"] == message
        await _next(bob_ws, _event("msg.text", id=message["id"]))  # the sender too
        edit = bob.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=message["id"],
        ).json()
        raw = await _next(alice_ws, _event("msg.edit", id=edit["id"]))
        assert raw["object"]["referrer_id"] == message["id"]
        delete = bob.post(box["id"], "msg.delete", referrer_id=message["id"]).json()
        raw = await _next(alice_ws, _event("msg.delete", id=delete["id"]))
        assert raw["object"]["referrer_id"] == message["id"]
        bob.text(box["id"])
        assert alice.http.get(f"/boxes/{box['id']}").json()["events_count"] >= 1
        await alice_ws.send(
            json.dumps({"type": "ack", "object": {"box_id": box["id"]}})
        )
        for _ in range(50):
            if alice.http.get(f"/boxes/{box['id']}").json()["events_count"] == 0:
                break
            await asyncio.sleep(0.05)
        assert alice.http.get(f"/boxes/{box['id']}").json()["events_count"] == 0


async def test_non_member_gets_nothing(srv: Server, alice: User, bob: User) -> None:
    box = alice.box()
    async with _socket(srv, bob) as bob_ws:
        alice.text(box["id"])
        bobs = bob.box()
        bob.text(bobs["id"])
        got = await _next(
            bob_ws,
            lambda m: (
                m["type"] == "event.new"
                and m["object"]["box_id"] in (box["id"], bobs["id"])
            ),
        )
        assert got["object"]["box_id"] == bobs["id"]


async def test_kick_notification_and_box_delete(
    srv: Server, alice: User, bob: User
) -> None:
    box = alice.box("Kick box")
    rule = alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    async with _socket(srv, bob) as bob_ws:
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
        note = await _next(bob_ws, lambda m: m["type"] == "notification")
        assert note["object"] == {
            "type": "member.kick",
            "details": {"box_id": box["id"], "title": "Kick box"},
        }
    other = alice.box()
    alice.allow(other["id"], bob.email)
    bob.post(other["id"], "member.join")
    async with _socket(srv, bob) as bob_ws, _socket(srv, alice) as alice_ws:
        alice.http.request(
            "DELETE", f"/boxes/{other['id']}", json={"user_confirmation": "delete"}
        )
        assert (await _next(bob_ws, lambda m: m["type"] == "box.delete"))["object"] == {
            "id": other["id"]
        }
        assert (await _next(alice_ws, lambda m: m["type"] == "box.delete"))[
            "object"
        ] == {"id": other["id"]}


async def test_auto_invite_notification(srv: Server, alice: User, bob: User) -> None:
    key = new_pubkey()
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": key})
    box = alice.box("Invite box")
    async with _socket(srv, bob) as bob_ws:
        resp = alice.batch(
            box["id"],
            [
                {
                    "type": "access.add",
                    "content": {
                        "restriction_type": "identifier",
                        "value": bob.email,
                        "auto_invite": True,
                    },
                    "extra": {key: ciphertext()},
                }
            ],
        )
        assert resp.status_code == 201
        note = await _next(bob_ws, lambda m: m["type"] == "notification")
        action = bob.http.get("/crypto/actions").json()[0]
        assert note["object"] == {
            "type": "box.auto_invite",
            "details": {
                "box_id": box["id"],
                "box_title": "Invite box",
                "cryptoaction_id": action["id"],
            },
        }


async def test_file_saved(srv: Server, alice: User) -> None:
    box = alice.box()
    file_id = alice.upload(box["id"]).json()["content"]["encrypted_file_id"]
    async with _socket(srv, alice) as ws:
        saved = alice.http.post(
            "/saved-files",
            json={
                "encrypted_file_id": file_id,
                "identity_id": alice.id,
                "encrypted_metadata": ciphertext(),
                "key_fingerprint": b64u(os.urandom(64)),
            },
        ).json()
        got = await _next(ws, lambda m: m["type"] == "file.saved")
        assert got["object"] == {"encrypted_file_id": file_id, "is_saved": True}
        alice.http.delete(f"/saved-files/{saved['id']}")
        got = await _next(ws, lambda m: m["type"] == "file.saved")
        assert got["object"] == {"encrypted_file_id": file_id, "is_saved": False}


async def test_acr1_socket(srv: Server) -> None:
    guest = make_user(srv, acr=1)
    async with _socket(srv, guest) as ws:
        box = guest.box()
        guest.text(box["id"])
        await _next(ws, _event("msg.text", box_id=box["id"]))
