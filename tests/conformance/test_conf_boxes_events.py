"""PROTOCOL §3 (boxes) and §4 (events), black-box."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from tests.conformance.proto import (
    EVENT_VIEW_KEYS,
    TIME_RE,
    UUID4_RE,
    Server,
    User,
    assert_error,
    assert_identity_view,
    b64u,
    ciphertext,
    key_share,
    make_user,
    new_pubkey,
)

# --- §3 boxes ------------------------------------------------------------------------------


def _open_box(alice: User, *others: User) -> dict:
    """A box of Alice's that each of ``others`` has joined."""
    box = alice.box()
    for other in others:
        alice.allow(box["id"], other.email)
        assert other.post(box["id"], "member.join").status_code == 201
    return box


def test_create_box_view(alice: User) -> None:
    key = new_pubkey()
    resp = alice.http.post("/boxes", json={"title": "My box", "public_key": key})
    assert resp.status_code == 201
    box = resp.json()
    assert set(box) == {
        "id",
        "server_created_at",
        "public_key",
        "title",
        "lifecycle",
        "access_mode",
        "creator",
        "last_event",
        "events_count",
    }, box
    assert UUID4_RE.match(box["id"])
    assert TIME_RE.match(box["server_created_at"])
    assert box["public_key"] == key and box["title"] == "My box"
    assert box["lifecycle"] == "open" and box["access_mode"] == "limited"
    assert_identity_view(box["creator"], identity_id=alice.id, email_shown=alice.email)
    assert box["last_event"]["type"] == "create"
    assert box["last_event"]["content"] == {
        "public_key": key,
        "title": "My box",
        "state": "open",
    }
    assert box["events_count"] == 0
    events = alice.http.get(f"/boxes/{box['id']}/events").json()
    assert [e["type"] for e in events] == ["create"]
    assert events[0]["content"] == {
        "public_key": key,
        "title": "My box",
        "state": "open",
    }
    assert alice.http.get(f"/boxes/{box['id']}/accesses").json() == []
    assert [m["id"] for m in alice.http.get(f"/boxes/{box['id']}/members").json()] == [
        alice.id
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "public_key": "KEY"},
        {"title": "x" * 51, "public_key": "KEY"},
        {"title": "ok", "public_key": b64u(os.urandom(31))},
        {"title": "ok", "public_key": "not base64 !!"},
        {"title": "ok"},
        {"public_key": "KEY"},
    ],
)
def test_create_box_invalid_400(alice: User, body: dict) -> None:
    body = {k: (new_pubkey() if v == "KEY" else v) for k, v in body.items()}
    assert_error(alice.http.post("/boxes", json=body), 400)


def test_create_box_title_50_ok(alice: User) -> None:
    assert (
        alice.http.post(
            "/boxes", json={"title": "x" * 50, "public_key": new_pubkey()}
        ).status_code
        == 201
    )


def test_get_box_member_and_non_member(alice: User, bob: User) -> None:
    box = alice.box()
    assert alice.http.get(f"/boxes/{box['id']}").status_code == 200
    body = assert_error(bob.http.get(f"/boxes/{box['id']}"), 403)
    assert body["details"].get("reason") == "no_access", body
    body = assert_error(bob.http.get(f"/boxes/{uuid.uuid4()}"), 403)
    assert body["details"].get("reason") == "no_access", body
    alice.allow(box["id"], bob.email)
    body = assert_error(bob.http.get(f"/boxes/{box['id']}"), 403)
    assert body["details"].get("reason") == "not_member", body


def test_public_box_non_member_reason_not_member(alice: User, bob: User) -> None:
    box = alice.box()
    assert (
        alice.post(box["id"], "state.access_mode", {"value": "public"}).status_code
        == 201
    )
    body = assert_error(bob.http.get(f"/boxes/{box['id']}"), 403)
    assert body["details"].get("reason") == "not_member", body
    assert bob.post(box["id"], "member.join").status_code == 201
    assert bob.http.get(f"/boxes/{box['id']}").json()["access_mode"] == "public"


def test_identifier_hidden_from_non_admin(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    view = bob.http.get(f"/boxes/{box['id']}").json()
    assert_identity_view(view["creator"], identity_id=alice.id, email_shown="")
    members = bob.http.get(f"/boxes/{box['id']}/members").json()
    assert_identity_view(members[0], identity_id=alice.id, email_shown="")
    assert_identity_view(members[1], identity_id=bob.id, email_shown=bob.email)
    admin_view = alice.http.get(f"/boxes/{box['id']}/members").json()
    assert_identity_view(admin_view[1], identity_id=bob.id, email_shown=bob.email)


def test_joined_order_and_exclusions(alice: User, bob: User) -> None:
    first = alice.box("first")
    second = alice.box("second")
    third = _open_box(bob, alice)
    alice.text(first["id"])
    ids = [b["id"] for b in alice.http.get("/boxes/joined").json()]
    assert ids == [first["id"], third["id"], second["id"]]
    assert alice.http.head("/boxes/joined").headers["X-Total-Count"] == "3"
    assert [
        b["id"]
        for b in alice.http.get(
            "/boxes/joined", params={"offset": 1, "limit": 1}
        ).json()
    ] == [third["id"]]
    assert alice.post(third["id"], "member.leave").status_code == 201
    assert third["id"] not in [b["id"] for b in alice.http.get("/boxes/joined").json()]


def test_kicked_not_in_joined(alice: User, bob: User) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    assert box["id"] in [b["id"] for b in bob.http.get("/boxes/joined").json()]
    assert (
        alice.batch(
            box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}]
        ).status_code
        == 201
    )
    assert box["id"] not in [b["id"] for b in bob.http.get("/boxes/joined").json()]


def test_delete_box(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    assert_error(
        bob.http.request(
            "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
        ),
        403,
    )
    assert_error(
        alice.http.request(
            "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "nope"}
        ),
        400,
    )
    assert_error(alice.http.request("DELETE", f"/boxes/{box['id']}"), 400)
    resp = alice.http.request(
        "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
    )
    assert resp.status_code == 204 and resp.content == b""
    assert_error(alice.http.get(f"/boxes/{box['id']}"), 403)
    assert box["id"] not in [b["id"] for b in bob.http.get("/boxes/joined").json()]


def test_members_creator_first(alice: User, bob: User, carol: User) -> None:
    box = _open_box(alice, carol, bob)
    members = alice.http.get(f"/boxes/{box['id']}/members").json()
    assert next(m["id"] for m in members) == alice.id
    assert {m["id"] for m in members} == {alice.id, bob.id, carol.id}
    assert bob.post(box["id"], "member.leave").status_code == 201
    assert {m["id"] for m in alice.http.get(f"/boxes/{box['id']}/members").json()} == {
        alice.id,
        carol.id,
    }
    assert_error(bob.http.get(f"/boxes/{box['id']}/members"), 403)


def test_accesses_newest_first_admin_only(alice: User, bob: User) -> None:
    box = alice.box()
    first = alice.allow(box["id"], bob.email)
    second = alice.allow(box["id"], "someone@x.example")
    resp = alice.http.get(f"/boxes/{box['id']}/accesses")
    assert resp.status_code == 200
    assert [e["id"] for e in resp.json()] == [second["id"], first["id"]]
    assert (
        alice.http.head(f"/boxes/{box['id']}/accesses").headers["X-Total-Count"] == "2"
    )
    bob.post(box["id"], "member.join")
    assert_error(bob.http.get(f"/boxes/{box['id']}/accesses"), 403)


def test_unread_counting_and_ack(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    alice.http.put(f"/boxes/{box['id']}/new-events-count/ack")

    def count(user: User) -> int:
        return user.http.get(f"/boxes/{box['id']}").json()["events_count"]

    assert count(alice) == 0
    message = bob.text(box["id"])  # +1 for alice
    alice.text(box["id"])  # own: no change for alice
    assert count(alice) == 1
    assert (
        bob.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=message["id"],
        ).status_code
        == 201
    )
    assert (
        bob.post(box["id"], "msg.delete", referrer_id=message["id"]).status_code == 201
    )
    assert count(alice) == 1  # edits/deletes don't count
    alice.allow(box["id"], "z@z.example")  # access events don't count for bob
    assert (
        alice.post(box["id"], "state.access_mode", {"value": "public"}).status_code
        == 201
    )  # state.* counts for bob
    joined = next(
        b for b in bob.http.get("/boxes/joined").json() if b["id"] == box["id"]
    )
    assert joined["events_count"] == 2  # alice's text + the state event
    resp = alice.http.put(f"/boxes/{box['id']}/new-events-count/ack")
    assert resp.status_code == 204 and resp.content == b""
    assert count(alice) == 0
    assert bob.post(box["id"], "member.leave").status_code == 201
    assert count(alice) == 1  # member.* counts


def test_ack_non_member_403(alice: User, bob: User) -> None:
    box = alice.box()
    assert_error(bob.http.put(f"/boxes/{box['id']}/new-events-count/ack"), 403)


def test_public_preview(srv: Server, alice: User) -> None:
    share = key_share()
    box = alice.box("Preview", key_share=share)
    other = alice.box("Other", key_share=key_share())
    with srv.client() as anon:
        resp = anon.get(
            f"/boxes/{box['id']}/public",
            params={"other_share_hash": share["other_share_hash"]},
        )
        assert resp.status_code == 200
        body = resp.json()
        assert body["title"] == "Preview"
        assert body["creator"]["id"] == alice.id
        assert_identity_view(body["creator"], email_shown="")
        assert_error(
            anon.get(
                f"/boxes/{box['id']}/public",
                params={"other_share_hash": b64u(hashlib.sha512(b"x").digest())},
            ),
            404,
        )
        assert_error(
            anon.get(
                f"/boxes/{other['id']}/public",
                params={"other_share_hash": share["other_share_hash"]},
            ),
            403,
        )
        assert_error(anon.get(f"/boxes/{box['id']}/public"), 400)
        assert_error(
            anon.get(
                f"/boxes/{box['id']}/public",
                params={"other_share_hash": "!!not b64u!!"},
            ),
            400,
        )


# --- §4 events -----------------------------------------------------------------------------


def test_event_view_shape(alice: User) -> None:
    box = alice.box()
    event = alice.text(box["id"])
    assert set(event) == EVENT_VIEW_KEYS, event
    assert (
        event["type"] == "msg.text"
        and event["box_id"] == box["id"]
        and event["referrer_id"] is None
    )
    assert TIME_RE.match(event["server_event_created_at"])
    assert_identity_view(event["sender"], identity_id=alice.id)
    assert set(event["content"]) <= {"encrypted", "public_key"}


def test_event_without_content_is_null(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    join = bob.post(box["id"], "member.join")
    assert join.status_code == 201
    assert join.json()["content"] is None


def test_msg_txt_alias(alice: User) -> None:
    box = alice.box()
    resp = alice.post(box["id"], "msg.txt", {"encrypted": ciphertext()})
    assert resp.status_code == 201
    assert resp.json()["type"] == "msg.text"
    assert alice.http.get(f"/boxes/{box['id']}/events").json()[-1]["type"] == "msg.text"


@pytest.mark.parametrize(
    "type_", ["create", "member.kick", "access.add", "access.rm", "msg.file", "bogus"]
)
def test_types_not_postable_400(alice: User, type_: str) -> None:
    box = alice.box()
    resp = alice.post(box["id"], type_, {"encrypted": ciphertext()})
    assert_error(resp, 400, details={"type": "malformed"})


def test_text_content_rules(alice: User) -> None:
    box = alice.box()
    assert_error(alice.post(box["id"], "msg.text", {}), 400)
    assert_error(alice.post(box["id"], "msg.text"), 400)
    assert_error(
        alice.post(box["id"], "msg.text", {"encrypted": ciphertext(), "extra_key": 1}),
        400,
    )
    assert (
        alice.post(box["id"], "msg.text", {"encrypted": "A" * (64 * 1024)}).status_code
        == 201
    )
    assert_error(
        alice.post(box["id"], "msg.text", {"encrypted": "A" * (64 * 1024 + 1)}), 400
    )
    # `encrypted*` accepts the padded standard alphabet too.
    assert (
        alice.post(box["id"], "msg.text", {"encrypted": "ab+/cd=="}).status_code == 201
    )


def test_non_member_post_403(alice: User, bob: User) -> None:
    box = alice.box()
    assert_error(bob.post(box["id"], "msg.text", {"encrypted": ciphertext()}), 403)
    assert_error(bob.http.get(f"/boxes/{box['id']}/events"), 403)
    assert_error(bob.http.get(f"/boxes/{box['id']}/files"), 403)


def test_join_rules(alice: User, bob: User) -> None:
    box = alice.box()
    body = assert_error(bob.post(box["id"], "member.join"), 403)
    assert body["details"].get("reason") == "no_access", body
    alice.allow(box["id"], bob.email)
    assert bob.post(box["id"], "member.join").status_code == 201
    assert_error(bob.post(box["id"], "member.join"), 409)
    assert_error(alice.post(box["id"], "member.join"), 409)


def test_join_by_email_domain_adds_identifier_rule(alice: User, bob: User) -> None:
    box = alice.box()
    domain = bob.email.split("@")[1]
    resp = alice.batch(
        box["id"],
        [
            {
                "type": "access.add",
                "content": {"restriction_type": "email_domain", "value": domain},
            }
        ],
    )
    assert resp.status_code == 201
    assert bob.post(box["id"], "member.join").status_code == 201
    rules = alice.http.get(f"/boxes/{box['id']}/accesses").json()
    identifier_rules = [
        r for r in rules if r["content"]["restriction_type"] == "identifier"
    ]
    assert len(identifier_rules) == 1
    assert identifier_rules[0]["content"]["value"] == bob.email
    assert identifier_rules[0]["sender"]["id"] == bob.id


def test_join_public_adds_rule_but_not_twice(
    alice: User, bob: User, carol: User
) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    rules = alice.http.get(f"/boxes/{box['id']}/accesses").json()
    assert len(rules) == 1  # bob was already named
    alice.post(box["id"], "state.access_mode", {"value": "public"})
    assert carol.post(box["id"], "member.join").status_code == 201
    rules = alice.http.get(f"/boxes/{box['id']}/accesses").json()
    assert [
        r["content"]["value"]
        for r in rules
        if r["content"]["restriction_type"] == "identifier"
    ].count(carol.email) == 1


def test_leave_rules(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    join = bob.post(box["id"], "member.join").json()
    assert_error(alice.post(box["id"], "member.leave"), 403)  # the admin may not leave
    leave = bob.post(box["id"], "member.leave")
    assert leave.status_code == 201
    assert leave.json()["referrer_id"] == join["id"]
    assert leave.json()["content"] is None
    assert_error(bob.http.get(f"/boxes/{box['id']}/events"), 403)


def test_reply_referrer(alice: User) -> None:
    box = alice.box()
    other = alice.box()
    parent = alice.text(box["id"])
    reply = alice.text(box["id"], referrer_id=parent["id"])
    assert reply["referrer_id"] == parent["id"]
    assert_error(
        alice.post(
            box["id"],
            "msg.text",
            {"encrypted": ciphertext()},
            referrer_id=str(uuid.uuid4()),
        ),
        404,
    )
    foreign = alice.text(other["id"])
    assert_error(
        alice.post(
            box["id"],
            "msg.text",
            {"encrypted": ciphertext()},
            referrer_id=foreign["id"],
        ),
        404,
    )


def test_edit_rules(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    mine = alice.text(box["id"])
    theirs = bob.text(box["id"])
    create = alice.http.get(f"/boxes/{box['id']}/events").json()[0]
    assert_error(
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=theirs["id"],
        ),
        403,
    )
    assert_error(
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=create["id"],
        ),
        403,
    )
    assert_error(
        alice.post(box["id"], "msg.edit", {"new_encrypted": ciphertext()}), 400
    )  # referrer required
    assert_error(
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=str(uuid.uuid4()),
        ),
        404,
    )
    assert_error(
        alice.post(
            box["id"], "msg.edit", {"encrypted": ciphertext()}, referrer_id=mine["id"]
        ),
        400,
    )
    upload = alice.upload(box["id"])
    assert upload.status_code == 201
    assert_error(
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=upload.json()["id"],
        ),
        403,
    )
    new_key = new_pubkey()
    new_text = ciphertext()
    edit = alice.post(
        box["id"],
        "msg.edit",
        {"new_encrypted": new_text, "new_public_key": new_key},
        referrer_id=mine["id"],
    )
    assert edit.status_code == 201
    assert edit.json()["type"] == "msg.edit"
    events = alice.http.get(f"/boxes/{box['id']}/events").json()
    assert "msg.edit" not in [e["type"] for e in events]
    folded = next(e for e in events if e["id"] == mine["id"])
    assert folded["content"]["encrypted"] == new_text
    assert folded["content"]["public_key"] == new_key
    # PROTOCOL leaves the place open ("carries ... plus last_edited_at"): top level or content.
    assert TIME_RE.match(
        folded.get("last_edited_at") or folded["content"]["last_edited_at"]
    )


def test_delete_rules(alice: User, bob: User, carol: User) -> None:
    box = _open_box(alice, bob, carol)
    bobs = bob.text(box["id"])
    bobs2 = bob.text(box["id"])
    create = alice.http.get(f"/boxes/{box['id']}/events").json()[0]
    assert_error(carol.post(box["id"], "msg.delete", referrer_id=bobs["id"]), 403)
    assert_error(alice.post(box["id"], "msg.delete", referrer_id=create["id"]), 403)
    assert_error(alice.post(box["id"], "msg.delete"), 400)
    delete = bob.post(box["id"], "msg.delete", referrer_id=bobs["id"])
    assert delete.status_code == 201 and delete.json()["content"] is None
    assert (
        alice.post(box["id"], "msg.delete", referrer_id=bobs2["id"]).status_code == 201
    )  # admin
    assert_error(bob.post(box["id"], "msg.delete", referrer_id=bobs["id"]), 410)
    assert_error(
        bob.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=bobs["id"],
        ),
        410,
    )
    events = alice.http.get(f"/boxes/{box['id']}/events").json()
    assert "msg.delete" not in [e["type"] for e in events]
    folded = next(e for e in events if e["id"] == bobs["id"])
    assert set(folded["content"]) == {"deleted"}
    assert TIME_RE.match(folded["content"]["deleted"]["at_time"])
    assert folded["content"]["deleted"]["by_identity"]["id"] == bob.id
    by_admin = next(e for e in events if e["id"] == bobs2["id"])
    assert by_admin["content"]["deleted"]["by_identity"]["id"] == alice.id


def test_state_events_admin_only(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    assert_error(bob.post(box["id"], "state.access_mode", {"value": "public"}), 403)
    assert_error(bob.post(box["id"], "state.lifecycle", {"state": "closed"}), 403)
    assert_error(alice.post(box["id"], "state.access_mode", {"value": "open"}), 400)
    assert_error(alice.post(box["id"], "state.lifecycle", {"state": "bogus"}), 400)
    assert_error(
        alice.post(box["id"], "state.key_share", extra={"misakey_share": "a"}), 400
    )
    assert (
        alice.post(box["id"], "state.key_share", extra=key_share()).status_code == 201
    )


def test_closed_box_read_only(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    message = bob.text(box["id"])
    assert (
        alice.post(box["id"], "state.lifecycle", {"state": "closed"}).status_code == 201
    )
    assert alice.http.get(f"/boxes/{box['id']}").json()["lifecycle"] == "closed"
    conflict = {"lifecycle": "conflict"}
    assert_error(
        bob.post(box["id"], "msg.text", {"encrypted": ciphertext()}),
        409,
        details=conflict,
    )
    assert_error(
        bob.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=message["id"],
        ),
        409,
        details=conflict,
    )
    assert_error(
        bob.post(box["id"], "msg.delete", referrer_id=message["id"]),
        409,
        details=conflict,
    )
    assert_error(
        alice.post(box["id"], "state.access_mode", {"value": "public"}),
        409,
        details=conflict,
    )
    assert_error(
        alice.post(box["id"], "state.key_share", extra=key_share()),
        409,
        details=conflict,
    )
    assert_error(bob.upload(box["id"]), 409, details=conflict)
    assert_error(
        alice.batch(
            box["id"],
            [
                {
                    "type": "access.add",
                    "content": {
                        "restriction_type": "identifier",
                        "value": "q@q.example",
                    },
                }
            ],
        ),
        409,
        details=conflict,
    )
    assert bob.post(box["id"], "member.leave").status_code == 201
    assert (
        alice.post(box["id"], "state.lifecycle", {"state": "open"}).status_code == 201
    )
    assert alice.text(box["id"])["type"] == "msg.text"


def test_events_list_excludes_access_and_edits(alice: User, bob: User) -> None:
    box = _open_box(alice, bob)
    message = alice.text(box["id"])
    alice.post(
        box["id"],
        "msg.edit",
        {"new_encrypted": ciphertext()},
        referrer_id=message["id"],
    )
    types = [e["type"] for e in alice.http.get(f"/boxes/{box['id']}/events").json()]
    assert types == ["create", "member.join", "msg.text"]
    assert alice.http.head(f"/boxes/{box['id']}/events").headers["X-Total-Count"] == "3"


def test_files_list(alice: User) -> None:
    box = alice.box()
    first = alice.upload(box["id"]).json()
    second = alice.upload(box["id"]).json()
    alice.text(box["id"])
    listed = alice.http.get(f"/boxes/{box['id']}/files").json()
    assert [e["id"] for e in listed] == [first["id"], second["id"]]
    assert all(e.get("is_saved", e["content"].get("is_saved")) is False for e in listed)
    alice.post(box["id"], "msg.delete", referrer_id=first["id"])
    assert [e["id"] for e in alice.http.get(f"/boxes/{box['id']}/files").json()] == [
        second["id"]
    ]
    assert alice.http.head(f"/boxes/{box['id']}/files").headers["X-Total-Count"] == "1"


def test_acr1_user_can_join_and_post(srv: Server, alice: User) -> None:
    guest = make_user(srv, acr=1)
    box = alice.box()
    alice.allow(box["id"], guest.email)
    assert guest.post(box["id"], "member.join").status_code == 201
    assert guest.text(box["id"])["sender"]["id"] == guest.id
