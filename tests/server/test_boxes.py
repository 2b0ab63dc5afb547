"""Boxes: create, read, joined list, members, accesses, unread counts, delete (PROTOCOL §3)."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

from sqlalchemy import func, select

from boxtui.core.encoding import b64u_encode
from boxtui.server.models import BoxKeyShareRow, CryptoActionRow, EventRow, MembershipRow
from tests.server.helpers import assert_error, batch, ciphertext, create_box, invite, join, post_event, post_text, random_key, rule, signup_login, upload_file


def key_share() -> dict[str, str]:
    share = os.urandom(32)
    return {
        "misakey_share": b64u_encode(os.urandom(32)),
        "other_share_hash": b64u_encode(hashlib.sha512(share).digest()),
        "encrypted_invitation_key_share": ciphertext(),
    }


async def test_create_box(http):
    alice = await signup_login(http, "alice@example.com", acr=1)
    key = random_key()
    response = await http.post("/boxes", json={"title": "Trip", "public_key": key}, headers=alice.headers)
    assert response.status_code == 201
    box = response.json()
    assert box["title"] == "Trip" and box["public_key"] == key
    assert box["lifecycle"] == "open" and box["access_mode"] == "limited"
    assert box["creator"]["id"] == alice.id and box["creator"]["identifier_value"] == alice.email
    assert box["events_count"] == 0
    assert box["last_event"]["type"] == "create"
    assert box["last_event"]["content"] == {"public_key": key, "title": "Trip", "state": "open"}
    assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json() == box


async def test_create_box_with_key_share(http):
    alice = await signup_login(http, "alice@example.com")
    share = key_share()
    box = await create_box(http, alice, key_share=share)
    found = await http.get(f"/box-key-shares/{share['other_share_hash']}", headers=alice.headers)
    assert found.status_code == 200 and found.json()["box_id"] == box["id"]


async def test_create_box_validation(http):
    alice = await signup_login(http, "alice@example.com")
    key = random_key()
    cases = [
        ({"title": "", "public_key": key}, "title"),
        ({"title": "x" * 51, "public_key": key}, "title"),
        ({"title": 5, "public_key": key}, "title"),
        ({"public_key": key}, "title"),
        ({"title": "t"}, "public_key"),
        ({"title": "t", "public_key": "not base64!"}, "public_key"),
        ({"title": "t", "public_key": b64u_encode(os.urandom(16))}, "public_key"),
        ({"title": "t", "public_key": base64.b64encode(b"\xfb" * 32).decode()}, "public_key"),
        ({"title": "t", "public_key": key, "colour": "red"}, "colour"),
        ({"title": "t", "public_key": key, "key_share": {"misakey_share": "x"}}, None),
        ({"title": "t", "public_key": key, "key_share": {**key_share(), "other_share_hash": b64u_encode(b"short")}}, "key_share.other_share_hash"),
    ]
    for body, field in cases:
        response = await http.post("/boxes", json=body, headers=alice.headers)
        body_out = assert_error(response, 400, "bad_request")
        if field:
            assert field in body_out["details"], (body, body_out)
    assert_error(await http.post("/boxes", json={"title": "t", "public_key": key}), 401)
    # Nothing was half-written.
    assert (await http.get("/boxes/joined", headers=alice.headers)).json() == []


async def test_non_member_gets_403_with_reason(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    assert_error(await http.get(f"/boxes/{box['id']}", headers=bob.headers), 403, "forbidden", reason="no_access")
    assert_error(await http.get(f"/boxes/{uuid.uuid4()}", headers=bob.headers), 403, "forbidden", reason="no_access")
    await invite(http, alice, box["id"], bob.email)
    assert_error(await http.get(f"/boxes/{box['id']}", headers=bob.headers), 403, reason="not_member")
    assert_error(await http.get("/boxes/NOT-A-UUID", headers=bob.headers), 400, id="malformed")
    await join(http, bob, box["id"])
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).status_code == 200


async def test_email_domain_rule_and_public_box_let_people_in(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@corp.example")
    carol = await signup_login(http, "carol@other.example", acr=1)
    box = await create_box(http, alice)
    await batch(http, alice, box["id"], [rule("corp.example", "email_domain")])
    await join(http, bob, box["id"])
    err = await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=carol.headers)
    assert_error(err, 403, reason="no_access")
    await post_event(http, alice, box["id"], {"type": "state.access_mode", "content": {"value": "public"}})
    assert_error(await http.get(f"/boxes/{box['id']}", headers=carol.headers), 403, reason="not_member")
    await join(http, carol, box["id"])


async def test_joined_boxes_most_recent_first_with_unread_counts(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    first = await create_box(http, alice, "First")
    second = await create_box(http, alice, "Second")
    await create_box(http, bob, "Bob's own")
    for box in (first, second):
        await invite(http, alice, box["id"], bob.email)
        await join(http, bob, box["id"])
    await post_text(http, bob, first["id"])
    await post_text(http, bob, first["id"])
    await post_text(http, alice, first["id"])

    joined = (await http.get("/boxes/joined", headers=alice.headers)).json()
    assert [b["title"] for b in joined] == ["First", "Second"]
    # Two messages and a join from Bob in First; one join in Second.
    assert joined[0]["events_count"] == 3 and joined[1]["events_count"] == 1
    assert joined[0]["last_event"]["sender"]["id"] == alice.id
    bobs = (await http.get("/boxes/joined", headers=bob.headers)).json()
    assert [b["title"] for b in bobs] == ["First", "Second", "Bob's own"]
    assert bobs[0]["events_count"] == 1

    count = await http.head("/boxes/joined", headers=bob.headers)
    assert count.status_code == 204 and count.headers["x-total-count"] == "3" and count.content == b""
    page = (await http.get("/boxes/joined", params={"offset": 1, "limit": 1}, headers=bob.headers)).json()
    assert [b["title"] for b in page] == ["Second"]
    for params, field in (({"limit": "1001"}, "limit"), ({"limit": "-1"}, "limit"), ({"offset": "x"}, "offset"), ({"limit": "2.5"}, "limit")):
        assert_error(await http.get("/boxes/joined", params=params, headers=bob.headers), 400, **{field: "malformed" if field == "offset" or params[field] != "1001" else "invalid"})

    ack = await http.put(f"/boxes/{first['id']}/new-events-count/ack", headers=alice.headers)
    assert ack.status_code == 204
    assert (await http.get(f"/boxes/{first['id']}", headers=alice.headers)).json()["events_count"] == 0
    assert_error(await http.put(f"/boxes/{first['id']}/new-events-count/ack", headers=(await signup_login(http, "eve@example.com")).headers), 403)


async def test_unread_counts_ignore_edits_deletes_and_access_events(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    await invite(http, alice, box["id"], bob.email)
    await join(http, bob, box["id"])
    message = await post_text(http, bob, box["id"])
    await http.put(f"/boxes/{box['id']}/new-events-count/ack", headers=alice.headers)
    await post_event(http, bob, box["id"], {"type": "msg.edit", "referrer_id": message["id"], "content": {"new_encrypted": ciphertext()}})
    await post_event(http, bob, box["id"], {"type": "msg.delete", "referrer_id": message["id"]})
    await invite(http, alice, box["id"], "carol@example.com")
    assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] == 0
    await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).json()["events_count"] == 1


async def test_members_creator_first_and_identifier_privacy(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    carol = await signup_login(http, "carol@example.com", acr=1)
    box = await create_box(http, alice)
    await batch(http, alice, box["id"], [rule(bob.email), rule(carol.email)])
    await join(http, carol, box["id"])
    await join(http, bob, box["id"])
    seen_by_bob = (await http.get(f"/boxes/{box['id']}/members", headers=bob.headers)).json()
    assert [m["id"] for m in seen_by_bob] == [alice.id, carol.id, bob.id]
    by_id = {m["id"]: m for m in seen_by_bob}
    assert by_id[bob.id]["identifier_value"] == bob.email
    assert by_id[alice.id]["identifier_value"] == "" and by_id[alice.id]["identifier_kind"] == ""
    assert by_id[carol.id]["identifier_value"] == ""
    seen_by_admin = (await http.get(f"/boxes/{box['id']}/members", headers=alice.headers)).json()
    assert {m["identifier_value"] for m in seen_by_admin} == {alice.email, bob.email, carol.email}
    assert all(m["identifier_kind"] == "email" for m in seen_by_admin)
    head = await http.head(f"/boxes/{box['id']}/members", headers=bob.headers)
    assert head.headers["x-total-count"] == "3"
    await post_event(http, carol, box["id"], {"type": "member.leave"})
    assert [m["id"] for m in (await http.get(f"/boxes/{box['id']}/members", headers=bob.headers)).json()] == [alice.id, bob.id]
    outsider = await signup_login(http, "eve@example.com")
    assert_error(await http.get(f"/boxes/{box['id']}/members", headers=outsider.headers), 403)
    assert_error(await http.head(f"/boxes/{box['id']}/members", headers=outsider.headers), 403)


async def test_accesses_admin_only_newest_first(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    carol = await signup_login(http, "carol@example.com", acr=1)
    box = await create_box(http, alice)
    created = await batch(http, alice, box["id"], [rule(bob.email), rule(carol.email), rule("corp.example", "email_domain")])
    accesses = await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)
    assert accesses.status_code == 200
    assert [a["id"] for a in accesses.json()] == [e["id"] for e in reversed(created)]
    assert (await http.head(f"/boxes/{box['id']}/accesses", headers=alice.headers)).headers["x-total-count"] == "3"
    await join(http, bob, box["id"])
    await join(http, carol, box["id"])
    assert_error(await http.get(f"/boxes/{box['id']}/accesses", headers=bob.headers), 403, reason="not_admin")
    assert_error(await http.get(f"/boxes/{box['id']}/accesses", headers=carol.headers), 403, acr="forbidden")
    # Removing a rule takes it out of the list.
    await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": created[2]["id"]}])
    assert len((await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()) == 2


async def test_delete_box(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    await http.patch(f"/identities/{bob.id}", json={"public_key": random_key()}, headers=bob.headers)
    box = await create_box(http, alice, key_share=key_share())
    await invite(http, alice, box["id"], bob.email)
    await join(http, bob, box["id"])
    await post_text(http, bob, box["id"])
    await post_event(http, alice, box["id"], {"type": "state.key_share", "extra": key_share()})  # a crypto action for Bob
    file_event = await upload_file(http, bob, box["id"], b"blob")
    url = f"/boxes/{box['id']}"
    assert_error(await http.request("DELETE", url, json={"user_confirmation": "delete"}, headers=bob.headers), 403)
    assert_error(await http.request("DELETE", url, json={"user_confirmation": "yes"}, headers=alice.headers), 400, user_confirmation="invalid")
    assert_error(await http.request("DELETE", url, headers=alice.headers), 400, body="required")
    acr1 = await signup_login(http, "carol@example.com", acr=1)
    assert_error(await http.request("DELETE", url, json={"user_confirmation": "delete"}, headers=acr1.headers), 403, acr="forbidden")
    assert (await http.request("DELETE", url, json={"user_confirmation": "delete"}, headers=alice.headers)).status_code == 204
    assert_error(await http.get(url, headers=alice.headers), 403, reason="no_access")
    assert (await http.get("/boxes/joined", headers=bob.headers)).json() == []
    assert_error(await http.get(f"/boxes/{box['id']}/events", headers=bob.headers), 403)
    assert (await http.get("/crypto/actions", headers=bob.headers)).json() == []
    assert (await http.get(f"/encrypted-files/{file_event['content']['encrypted_file_id']}", headers=bob.headers)).status_code == 404
    # Nothing of the box is left in the database.
    async with http._transport.app.state.sessionmaker() as db:
        for model in (EventRow, MembershipRow, BoxKeyShareRow, CryptoActionRow):
            count = await db.scalar(select(func.count()).select_from(model).where(model.box_id == box["id"]))
            assert count == 0, model.__name__


async def test_key_share_fields_are_b64u(http):
    alice = await signup_login(http, "alice@example.com")
    share = key_share()
    padded_hash = base64.b64encode(base64.urlsafe_b64decode(share["other_share_hash"] + "==")).decode()
    for bad in ({"other_share_hash": padded_hash}, {"misakey_share": base64.b64encode(os.urandom(32)).decode() + "+/"}):
        response = await http.post("/boxes", json={"title": "t", "public_key": random_key(), "key_share": {**share, **bad}}, headers=alice.headers)
        body = assert_error(response, 400)
        assert set(body["details"]) == {f"key_share.{field}" for field in bad}
    # encrypted_invitation_key_share takes either alphabet.
    await create_box(http, alice, key_share={**share, "encrypted_invitation_key_share": base64.b64encode(os.urandom(40)).decode()})
