"""PROTOCOL §9 (realtime) against the real process, with the ``websockets`` library."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.conformance.proto import (
    Server,
    User,
    auto_invite,
    ciphertext,
    make_user,
    new_pubkey,
    next_message,
    open_socket,
)


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
            async with open_socket(srv, user, headers):
                pass


async def test_cookie_socket(srv: Server, alice: User) -> None:
    async with open_socket(
        srv, alice, {"Cookie": f"accesstoken={alice.token}; tokentype=bearer"}
    ) as ws:
        await ws.ping()


async def test_event_fanout_edits_deletes_ack(
    srv: Server, alice: User, bob: User
) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    async with open_socket(srv, alice) as alice_ws, open_socket(srv, bob) as bob_ws:
        bob.post(box["id"], "member.join")
        await next_message(alice_ws, _event("member.join", box_id=box["id"]))
        message = bob.text(box["id"])
        got = await next_message(alice_ws, _event("msg.text", id=message["id"]))
        assert got["object"] == message
        await next_message(
            bob_ws, _event("msg.text", id=message["id"])
        )  # the sender too
        edit = bob.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=message["id"],
        ).json()
        raw = await next_message(alice_ws, _event("msg.edit", id=edit["id"]))
        assert raw["object"]["referrer_id"] == message["id"]
        delete = bob.post(box["id"], "msg.delete", referrer_id=message["id"]).json()
        raw = await next_message(alice_ws, _event("msg.delete", id=delete["id"]))
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
    async with open_socket(srv, bob) as bob_ws:
        alice.text(box["id"])
        bobs = bob.box()
        bob.text(bobs["id"])
        got = await next_message(
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
    async with open_socket(srv, bob) as bob_ws:
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
        note = await next_message(bob_ws, lambda m: m["type"] == "notification")
        assert note["object"] == {
            "type": "member.kick",
            "details": {"box_id": box["id"], "title": "Kick box"},
        }
    other = alice.box()
    alice.allow(other["id"], bob.email)
    bob.post(other["id"], "member.join")
    async with open_socket(srv, bob) as bob_ws, open_socket(srv, alice) as alice_ws:
        alice.http.request(
            "DELETE", f"/boxes/{other['id']}", json={"user_confirmation": "delete"}
        )
        assert (await next_message(bob_ws, lambda m: m["type"] == "box.delete"))[
            "object"
        ] == {"id": other["id"]}
        assert (await next_message(alice_ws, lambda m: m["type"] == "box.delete"))[
            "object"
        ] == {"id": other["id"]}


async def test_auto_invite_notification(srv: Server, alice: User, bob: User) -> None:
    key = new_pubkey()
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": key})
    box = alice.box("Invite box")
    async with open_socket(srv, bob) as bob_ws:
        resp = alice.batch(
            box["id"],
            [auto_invite(bob.email, key)],
        )
        assert resp.status_code == 201
        note = await next_message(bob_ws, lambda m: m["type"] == "notification")
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
    async with open_socket(srv, alice) as ws:
        saved = alice.save(file_id).json()
        got = await next_message(ws, lambda m: m["type"] == "file.saved")
        assert got["object"] == {"encrypted_file_id": file_id, "is_saved": True}
        alice.http.delete(f"/saved-files/{saved['id']}")
        got = await next_message(ws, lambda m: m["type"] == "file.saved")
        assert got["object"] == {"encrypted_file_id": file_id, "is_saved": False}


async def test_acr1_socket(srv: Server) -> None:
    guest = make_user(srv, acr=1)
    async with open_socket(srv, guest) as ws:
        box = guest.box()
        guest.text(box["id"])
        await next_message(ws, _event("msg.text", box_id=box["id"]))
