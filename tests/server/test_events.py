"""Posting events of every type, their rules, folding, lists, look-ups and shares (PROTOCOL §4)."""

from __future__ import annotations

import hashlib
import os
import uuid

from boxtui.core.encoding import b64u_encode
from boxtui.server.boxes import repository as boxes_repo
from boxtui.server.events.service import append_event
from tests.server.helpers import (
    assert_error,
    box_with_member,
    ciphertext,
    create_box,
    invite,
    join,
    post_event,
    post_text,
    random_key,
    signup_login,
    upload_file,
)


async def test_text_message_and_alias(http):
    alice, bob, box = await box_with_member(http)
    key = random_key()
    text = await post_event(http, bob, box["id"], {"type": "msg.text", "content": {"encrypted": "AAAA", "public_key": key}})
    assert text["type"] == "msg.text" and text["content"] == {"encrypted": "AAAA", "public_key": key}
    assert text["sender"]["id"] == bob.id and text["box_id"] == box["id"] and text["referrer_id"] is None
    old = await post_event(http, alice, box["id"], {"type": "msg.txt", "content": {"encrypted": "QUJD+/=="}})
    assert old["type"] == "msg.text"
    listed = (await http.get(f"/boxes/{box['id']}/events", headers=bob.headers)).json()
    assert [e["type"] for e in listed] == ["create", "member.join", "msg.text", "msg.text"]


async def test_replies(http):
    alice, bob, box = await box_with_member(http)
    parent = await post_text(http, alice, box["id"])
    reply = await post_text(http, bob, box["id"], referrer_id=parent["id"])
    assert reply["referrer_id"] == parent["id"]
    other = await create_box(http, alice, "Other")
    elsewhere = await post_text(http, alice, other["id"])
    body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={**body, "referrer_id": elsewhere["id"]}, headers=alice.headers), 404, referrer_id="not_found")
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={**body, "referrer_id": str(uuid.uuid4())}, headers=alice.headers), 404)
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={**body, "referrer_id": "nope"}, headers=alice.headers), 400, referrer_id="malformed")
    create = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()[0]
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={**body, "referrer_id": create["id"]}, headers=alice.headers), 400, referrer_id="invalid")


async def test_types_that_cannot_be_posted(http):
    alice, _, box = await box_with_member(http)
    for type_ in ("create", "member.kick", "access.add", "access.rm", "msg.file", "msg.unknown", "state.other"):
        response = await http.post(f"/boxes/{box['id']}/events", json={"type": type_, "content": {"x": 1}}, headers=alice.headers)
        assert_error(response, 400, "bad_request", type="malformed")


async def test_content_validation(http):
    alice, _, box = await box_with_member(http)
    url = f"/boxes/{box['id']}/events"
    cases = [
        ({"type": "msg.text"}, "content", "required"),
        ({"type": "msg.text", "content": {}}, "content.encrypted", "required"),
        ({"type": "msg.text", "content": {"encrypted": "AAAA", "colour": "red"}}, "content.colour", "invalid"),
        ({"type": "msg.text", "content": {"encrypted": 12}}, "content.encrypted", "malformed"),
        ({"type": "msg.text", "content": {"encrypted": "not base64 at all!"}}, "content.encrypted", "invalid"),
        ({"type": "msg.text", "content": {"encrypted": "A" * (64 * 1024 + 4)}}, "content.encrypted", "invalid"),
        ({"type": "msg.text", "content": {"encrypted": "AAAA", "public_key": "short"}}, "content.public_key", "invalid"),
        ({"type": "msg.text", "content": "text"}, "content", "malformed"),
        ({"type": "msg.text", "content": {"encrypted": "AAAA"}, "sender": "x"}, "sender", "invalid"),
        ({"content": {"encrypted": "AAAA"}}, "type", "required"),
        ({"type": "member.leave", "content": {"x": 1}}, "content", "invalid"),
        ({"type": "state.access_mode", "content": {"value": "secret"}}, "content.value", "invalid"),
        ({"type": "state.lifecycle", "content": {"state": "gone"}}, "content.state", "invalid"),
        ({"type": "msg.edit", "content": {"new_encrypted": "AAAA"}}, "referrer_id", "required"),
    ]
    for body, field, reason in cases:
        assert_error(await http.post(url, json=body, headers=alice.headers), 400, "bad_request", **{field: reason})
    # Exactly 64 KiB is fine.
    await post_event(http, alice, box["id"], {"type": "msg.text", "content": {"encrypted": "A" * (64 * 1024)}})


async def test_non_member_cannot_post_or_read(http):
    alice, _, box = await box_with_member(http)
    eve = await signup_login(http, "eve@example.com", acr=1)
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "AAAA"}}, headers=eve.headers), 403, reason="no_access")
    assert_error(await http.get(f"/boxes/{box['id']}/events", headers=eve.headers), 403)
    assert_error(await http.head(f"/boxes/{box['id']}/events", headers=eve.headers), 403)
    assert_error(await http.get(f"/boxes/{box['id']}/files", headers=eve.headers), 403)


async def test_edit_rules_and_folding(http):
    alice, bob, box = await box_with_member(http)
    message = await post_text(http, bob, box["id"])
    new_key = random_key()
    edit = await post_event(http, bob, box["id"], {"type": "msg.edit", "referrer_id": message["id"], "content": {"new_encrypted": "RURJVA", "new_public_key": new_key}})
    assert edit["type"] == "msg.edit" and edit["content"] == {"new_encrypted": "RURJVA", "new_public_key": new_key}
    listed = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()
    assert "msg.edit" not in [e["type"] for e in listed]
    folded = next(e for e in listed if e["id"] == message["id"])
    assert folded["content"] == {"encrypted": "RURJVA", "public_key": new_key, "last_edited_at": edit["server_event_created_at"]}
    # A second edit without a new key keeps the last one.
    await post_event(http, bob, box["id"], {"type": "msg.edit", "referrer_id": message["id"], "content": {"new_encrypted": "U0VDT05E"}})
    again = (await http.get(f"/events/{message['id']}", headers=alice.headers)).json()
    assert {k: again["content"][k] for k in ("encrypted", "public_key")} == {"encrypted": "U0VDT05E", "public_key": new_key}
    assert again["content"]["last_edited_at"] > folded["content"]["last_edited_at"]

    url = f"/boxes/{box['id']}/events"
    edit_body = {"type": "msg.edit", "content": {"new_encrypted": "AAAA"}}
    assert_error(await http.post(url, json={**edit_body, "referrer_id": message["id"]}, headers=alice.headers), 403)
    create = listed[0]
    assert_error(await http.post(url, json={**edit_body, "referrer_id": create["id"]}, headers=alice.headers), 403)
    file_event = await upload_file(http, bob, box["id"])
    assert_error(await http.post(url, json={**edit_body, "referrer_id": file_event["id"]}, headers=bob.headers), 403)
    assert_error(await http.post(url, json={**edit_body, "referrer_id": str(uuid.uuid4())}, headers=bob.headers), 404)
    await post_event(http, bob, box["id"], {"type": "msg.delete", "referrer_id": message["id"]})
    assert_error(await http.post(url, json={**edit_body, "referrer_id": message["id"]}, headers=bob.headers), 410, "gone")


async def test_delete_rules_and_folding(http):
    alice, bob, box = await box_with_member(http)
    carol = await signup_login(http, "carol@example.com", acr=1)
    await invite(http, alice, box["id"], carol.email)
    await join(http, carol, box["id"])
    by_bob = await post_text(http, bob, box["id"])
    by_carol = await post_text(http, carol, box["id"])
    url = f"/boxes/{box['id']}/events"
    assert_error(await http.post(url, json={"type": "msg.delete", "referrer_id": by_carol["id"]}, headers=bob.headers), 403)
    deleted = await post_event(http, bob, box["id"], {"type": "msg.delete", "referrer_id": by_bob["id"]})
    assert deleted["content"] is None and deleted["referrer_id"] == by_bob["id"]
    await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": by_carol["id"]})  # the admin may
    listed = {e["id"]: e for e in (await http.get(url, headers=carol.headers)).json()}
    assert listed[by_bob["id"]]["content"]["deleted"]["by_identity"]["id"] == bob.id
    assert listed[by_bob["id"]]["content"]["deleted"]["at_time"] == deleted["server_event_created_at"]
    assert set(listed[by_carol["id"]]["content"]) == {"deleted"}
    # Privacy applies inside folded content too: Carol does not see Alice's e-mail.
    assert listed[by_carol["id"]]["content"]["deleted"]["by_identity"]["identifier_value"] == ""
    assert "msg.delete" not in [e["type"] for e in listed.values()]
    assert_error(await http.post(url, json={"type": "msg.delete", "referrer_id": by_bob["id"]}, headers=bob.headers), 410)
    create = next(e for e in listed.values() if e["type"] == "create")
    assert_error(await http.post(url, json={"type": "msg.delete", "referrer_id": create["id"]}, headers=alice.headers), 403)
    assert_error(await http.post(url, json={"type": "msg.delete", "referrer_id": str(uuid.uuid4())}, headers=alice.headers), 404)


async def test_deleted_file_leaves_the_files_list_and_its_blob_goes(http):
    alice, bob, box = await box_with_member(http)
    kept = await upload_file(http, bob, box["id"], b"kept")
    gone = await upload_file(http, bob, box["id"], b"gone")
    assert kept["content"]["is_saved"] is False
    files = await http.get(f"/boxes/{box['id']}/files", headers=alice.headers)
    assert [f["id"] for f in files.json()] == [kept["id"], gone["id"]]
    assert all(f["content"]["is_saved"] is False for f in files.json())
    await post_event(http, bob, box["id"], {"type": "msg.delete", "referrer_id": gone["id"]})
    assert [f["id"] for f in (await http.get(f"/boxes/{box['id']}/files", headers=alice.headers)).json()] == [kept["id"]]
    assert (await http.head(f"/boxes/{box['id']}/files", headers=alice.headers)).headers["x-total-count"] == "1"
    download = await http.get(f"/encrypted-files/{gone['content']['encrypted_file_id']}", headers=alice.headers)
    assert download.status_code == 404
    assert (await http.get(f"/encrypted-files/{kept['content']['encrypted_file_id']}", headers=alice.headers)).content == b"kept"


async def test_is_saved_on_file_events(http):
    alice, bob, box = await box_with_member(http)
    file_event = await upload_file(http, bob, box["id"])
    saved = await http.post(
        "/saved-files",
        json={"encrypted_file_id": file_event["content"]["encrypted_file_id"], "identity_id": alice.id, "encrypted_metadata": "meta", "key_fingerprint": random_key()},
        headers=alice.headers,
    )
    assert saved.status_code == 201, saved.text
    assert (await http.get(f"/events/{file_event['id']}", headers=alice.headers)).json()["content"]["is_saved"] is True
    assert (await http.get(f"/events/{file_event['id']}", headers=bob.headers)).json()["content"]["is_saved"] is False


async def test_join_rules(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com", acr=1)
    box = await create_box(http, alice)
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=bob.headers), 403, reason="no_access")
    assert_error(await http.post(f"/boxes/{uuid.uuid4()}/events", json={"type": "member.join"}, headers=bob.headers), 403, reason="no_access")
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=alice.headers), 409, "conflict")
    await post_event(http, alice, box["id"], {"type": "state.access_mode", "content": {"value": "public"}})
    joined = await join(http, bob, box["id"])
    assert joined["type"] == "member.join" and joined["content"] is None and joined["sender"]["id"] == bob.id
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=bob.headers), 409)
    # Joining wrote an identifier rule naming Bob, sent by Bob.
    rules = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()
    assert [(r["content"], r["sender"]["id"]) for r in rules] == [({"restriction_type": "identifier", "value": bob.email}, bob.id)]
    # Leave and join again: the rule exists, so no second one.
    await post_event(http, bob, box["id"], {"type": "member.leave"})
    await join(http, bob, box["id"])
    assert len((await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()) == 1


async def test_email_domain_rule_does_not_count_as_identifier_rule(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@corp.example")
    box = await create_box(http, alice)
    await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "accesses", "events": [{"type": "access.add", "content": {"restriction_type": "email_domain", "value": "corp.example"}}]}, headers=alice.headers)
    await join(http, bob, box["id"])
    rules = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()
    assert {r["content"]["restriction_type"] for r in rules} == {"identifier", "email_domain"}


async def test_leave(http):
    alice, bob, box = await box_with_member(http)
    join_event = next(e for e in (await http.get(f"/boxes/{box['id']}/events", headers=bob.headers)).json() if e["type"] == "member.join")
    left = await post_event(http, bob, box["id"], {"type": "member.leave"})
    assert left["referrer_id"] == join_event["id"]
    assert_error(await http.get(f"/boxes/{box['id']}", headers=bob.headers), 403, reason="not_member")
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "member.leave"}, headers=bob.headers), 403)
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "member.leave"}, headers=alice.headers), 403, "forbidden")
    assert (await http.get("/boxes/joined", headers=bob.headers)).json() == []


async def test_closed_box_is_read_only(http):
    alice, bob, box = await box_with_member(http)
    message = await post_text(http, bob, box["id"])
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "state.lifecycle", "content": {"state": "closed"}}, headers=bob.headers), 403)
    closed = await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
    assert closed["content"] == {"state": "closed"}
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).json()["lifecycle"] == "closed"
    url = f"/boxes/{box['id']}/events"
    for body in (
        {"type": "msg.text", "content": {"encrypted": "AAAA"}},
        {"type": "msg.edit", "referrer_id": message["id"], "content": {"new_encrypted": "AAAA"}},
        {"type": "msg.delete", "referrer_id": message["id"]},
        {"type": "state.lifecycle", "content": {"state": "closed"}},
        {"type": "state.access_mode", "content": {"value": "public"}},
    ):
        user = alice if body["type"].startswith("state") else bob
        assert_error(await http.post(url, json=body, headers=user.headers), 409, "conflict", lifecycle="conflict")
    batch = await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "accesses", "events": [{"type": "access.add", "content": {"restriction_type": "identifier", "value": "x@example.com"}}]}, headers=alice.headers)
    assert_error(batch, 409, lifecycle="conflict")
    upload = await http.post(f"/boxes/{box['id']}/encrypted-files", data={"msg_encrypted_content": "AAAA", "msg_public_key": random_key()}, files={"encrypted_file": ("b", b"x")}, headers=bob.headers)
    assert_error(upload, 409, lifecycle="conflict")
    await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "open"}})
    await post_text(http, bob, box["id"])
    await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
    await post_event(http, bob, box["id"], {"type": "member.leave"})


async def test_access_mode_by_admin_only(http):
    alice, bob, box = await box_with_member(http)
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "state.access_mode", "content": {"value": "public"}}, headers=bob.headers), 403)
    event = await post_event(http, alice, box["id"], {"type": "state.access_mode", "content": {"value": "public"}})
    assert event["content"] == {"value": "public"}
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).json()["access_mode"] == "public"


def _share() -> dict[str, str]:
    invitation_share = os.urandom(32)
    return {
        "misakey_share": b64u_encode(os.urandom(32)),
        "other_share_hash": b64u_encode(hashlib.sha512(invitation_share).digest()),
        "encrypted_invitation_key_share": ciphertext(),
    }


async def test_key_share_replaces_shares_and_queues_crypto_actions(http):
    alice, bob, box = await box_with_member(http)
    carol = await signup_login(http, "carol@example.com", acr=1)
    await invite(http, alice, box["id"], carol.email)
    await join(http, carol, box["id"])
    await http.patch(f"/identities/{bob.id}", json={"public_key": random_key()}, headers=bob.headers)
    first, second = _share(), _share()
    url = f"/boxes/{box['id']}/events"
    await post_event(http, alice, box["id"], {"type": "state.key_share", "extra": first})
    event = await post_event(http, alice, box["id"], {"type": "state.key_share", "extra": second})
    assert event["type"] == "state.key_share" and event["content"] is None and event["extra"] == second
    assert (await http.get(f"/box-key-shares/{first['other_share_hash']}", headers=bob.headers)).status_code == 404
    assert (await http.get(f"/box-key-shares/{second['other_share_hash']}", headers=bob.headers)).json()["share"] == second["misakey_share"]
    bob_actions = (await http.get("/crypto/actions", headers=bob.headers)).json()
    assert [(a["type"], a["encrypted"]) for a in bob_actions] == [("set_box_key_share", first["encrypted_invitation_key_share"]), ("set_box_key_share", second["encrypted_invitation_key_share"])]
    assert all(a["box_id"] == box["id"] for a in bob_actions)
    assert (await http.get("/crypto/actions", headers=carol.headers)).json() == []  # no public key
    assert (await http.get("/crypto/actions", headers=alice.headers)).json() == []  # the sender

    assert_error(await http.post(url, json={"type": "state.key_share"}, headers=alice.headers), 400, extra="required")
    partial = {k: v for k, v in _share().items() if k != "misakey_share"}
    assert_error(await http.post(url, json={"type": "state.key_share", "extra": partial}, headers=alice.headers), 400, **{"extra.misakey_share": "required"})
    assert_error(await http.post(url, json={"type": "state.key_share", "extra": {**_share(), "misakey_share": 5}}, headers=alice.headers), 400)
    assert_error(await http.post(url, json={"type": "state.key_share", "extra": _share()}, headers=bob.headers), 403)


async def test_event_pages_and_cursors(http):
    alice, bob, box = await box_with_member(http)
    texts = [await post_text(http, alice, box["id"]) for _ in range(6)]
    url = f"/boxes/{box['id']}/events"
    everything = (await http.get(url, headers=bob.headers)).json()
    ids = [e["id"] for e in everything]
    assert ids[2:] == [t["id"] for t in texts]
    assert (await http.head(url, headers=bob.headers)).headers["x-total-count"] == str(len(ids))

    async def page(**params):
        response = await http.get(url, params=params, headers=bob.headers)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()]

    assert await page(limit=3) == ids[:3]
    assert await page(offset=2, limit=2) == ids[2:4]
    assert await page(after=ids[3]) == ids[4:]
    assert await page(after=ids[3], limit=1) == ids[4:5]
    assert await page(before=ids[5], limit=2) == ids[3:5]
    assert await page(tail="true", limit=3) == ids[-3:]
    assert await page(tail="true") == ids
    assert await page(after=ids[-1]) == []
    # ``after`` also takes the id of an event members never list (a realtime msg.edit).
    edit = await post_event(http, alice, box["id"], {"type": "msg.edit", "referrer_id": texts[0]["id"], "content": {"new_encrypted": "AAAA"}})
    later = await post_text(http, alice, box["id"])
    assert await page(after=edit["id"]) == [later["id"]]

    for params, field in (({"limit": "1001"}, "limit"), ({"limit": "-5"}, "limit"), ({"offset": "-1"}, "offset"), ({"limit": "ten"}, "limit"), ({"tail": "maybe"}, "tail"), ({"after": "nope"}, "after")):
        assert_error(await http.get(url, params=params, headers=bob.headers), 400, "bad_request")
        assert field in (await http.get(url, params=params, headers=bob.headers)).json()["details"]
    assert_error(await http.get(url, params={"after": str(uuid.uuid4())}, headers=bob.headers), 404, after="not_found")
    other = await create_box(http, alice, "Other")
    assert_error(await http.get(url, params={"before": other["last_event"]["id"]}, headers=bob.headers), 404, before="not_found")


async def test_limit_defaults_to_500(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    # Setup through the service layer: 501 posts over HTTP would only make this slow.
    app = http._transport.app
    async with app.state.sessionmaker() as db:
        box_row = await boxes_repo.get_box(db, box["id"])
        for _ in range(501):
            await append_event(db, box_row, "msg.text", alice.id, content={"encrypted": "AAAA"})
        await db.commit()
    events = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()
    assert len(events) == 500 and events[0]["type"] == "create"
    assert len((await http.get(f"/boxes/{box['id']}/events", params={"limit": 1000}, headers=alice.headers)).json()) == 502
    assert (await http.head(f"/boxes/{box['id']}/events", headers=alice.headers)).headers["x-total-count"] == "502"


async def test_events_by_ids(http):
    alice, bob, box = await box_with_member(http)
    mine = await create_box(http, alice, "Alice only")
    visible = await post_text(http, alice, box["id"])
    hidden = await post_text(http, alice, mine["id"])
    unknown = str(uuid.uuid4())
    response = await http.get("/events", params={"ids": f"{visible['id']},{hidden['id']},{unknown}"}, headers=bob.headers)
    assert response.status_code == 200
    first, second, third = response.json()
    assert first["id"] == visible["id"]
    assert second["error"]["status"] == 403 and third["error"]["status"] == 404
    assert set(second["error"]) == {"status", "message", "details"}
    repeated = await http.get("/events", params=[("ids[]", visible["id"]), ("ids[]", visible["id"])], headers=bob.headers)
    assert [e["id"] for e in repeated.json()] == [visible["id"], visible["id"]]
    assert_error(await http.get("/events", params={"ids": unknown}, headers=bob.headers), 404, "not_found")
    assert_error(await http.get("/events", params={"ids": "nope"}, headers=bob.headers), 400, ids="malformed")
    assert_error(await http.get("/events", params={"ids": ",".join(str(uuid.uuid4()) for _ in range(101))}, headers=bob.headers), 400, ids="invalid")
    assert_error(await http.get("/events", headers=bob.headers), 400, ids="required")

    assert (await http.get(f"/events/{visible['id']}", headers=bob.headers)).json()["id"] == visible["id"]
    assert_error(await http.get(f"/events/{hidden['id']}", headers=bob.headers), 403)
    assert_error(await http.get(f"/events/{unknown}", headers=bob.headers), 404)
    assert_error(await http.get("/events/xyz", headers=bob.headers), 400, id="malformed")
    rule = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()[0]
    assert_error(await http.get(f"/events/{rule['id']}", headers=bob.headers), 403)
    assert (await http.get(f"/events/{rule['id']}", headers=alice.headers)).status_code == 200


async def test_share_text_and_file(http):
    alice, bob, box = await box_with_member(http)
    target = await create_box(http, bob, "Bob's notes")
    text = await post_text(http, alice, box["id"])
    content = {"encrypted": ciphertext(), "public_key": target["public_key"]}
    response = await http.post(f"/events/{text['id']}/shares", json={"targets": [{"box_id": target["id"], "content": content}]}, headers=bob.headers)
    assert response.status_code == 201, response.text
    (shared,) = response.json()["events"]
    assert shared["type"] == "msg.text" and shared["box_id"] == target["id"] and shared["sender"]["id"] == bob.id
    assert shared["content"] == {**content, "shared_from": {"box_id": box["id"], "event_id": text["id"]}}

    file_event = await upload_file(http, alice, box["id"], b"shared blob")
    response = await http.post(f"/events/{file_event['id']}/shares", json={"targets": [{"box_id": target["id"], "content": content}]}, headers=bob.headers)
    (shared_file,) = response.json()["events"]
    assert shared_file["type"] == "msg.file"
    assert shared_file["content"]["encrypted_file_id"] == file_event["content"]["encrypted_file_id"]
    assert (await http.get(f"/encrypted-files/{shared_file['content']['encrypted_file_id']}", headers=bob.headers)).content == b"shared blob"

    # All or nothing: one target Bob is not in fails every target.
    foreign = await create_box(http, alice, "Alice only")
    body = {"targets": [{"box_id": target["id"], "content": content}, {"box_id": foreign["id"], "content": content}]}
    assert_error(await http.post(f"/events/{text['id']}/shares", json=body, headers=bob.headers), 403)
    assert (await http.head(f"/boxes/{target['id']}/events", headers=bob.headers)).headers["x-total-count"] == "3"
    assert_error(await http.post(f"/events/{uuid.uuid4()}/shares", json={"targets": [{"box_id": target["id"], "content": content}]}, headers=bob.headers), 404)
    assert_error(await http.post(f"/events/{text['id']}/shares", json={"targets": []}, headers=bob.headers), 400, targets="required")
    assert_error(await http.post(f"/events/{text['id']}/shares", json={"targets": [{"box_id": "x", "content": content}]}, headers=bob.headers), 400, **{"targets.0.box_id": "malformed"})
    eve = await signup_login(http, "eve@example.com")
    eve_box = await create_box(http, eve)
    assert_error(await http.post(f"/events/{text['id']}/shares", json={"targets": [{"box_id": eve_box["id"], "content": content}]}, headers=eve.headers), 403)
