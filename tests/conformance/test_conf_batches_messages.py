"""PROTOCOL §4.1 (access batches) and §4.2 (get by ids, shares, e-mail in), black-box."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conformance.proto import (
    Server,
    User,
    access_add,
    assert_error,
    ciphertext,
    make_user,
    mime_with_attachments,
    new_pubkey,
)


def _rules(user: User, box_id: str) -> list[dict[str, Any]]:
    return user.http.get(f"/boxes/{box_id}/accesses").json()


# --- §4.1 ---------------------------------------------------------------------------------


def test_batch_bare_array_in_order(alice: User) -> None:
    box = alice.box()
    resp = alice.batch(
        box["id"],
        [
            access_add("a@x.example"),
            access_add("x.example", "email_domain"),
            access_add("b@x.example"),
        ],
    )
    assert resp.status_code == 201
    body = resp.json()
    assert isinstance(body, list)
    assert [e["content"]["value"] for e in body] == [
        "a@x.example",
        "x.example",
        "b@x.example",
    ]
    assert all(
        e["type"] == "access.add" and e["sender"]["id"] == alice.id for e in body
    )
    rm = alice.batch(box["id"], [{"type": "access.rm", "referrer_id": body[0]["id"]}])
    assert rm.status_code == 201
    assert (
        rm.json()[0]["type"] == "access.rm"
        and rm.json()[0]["referrer_id"] == body[0]["id"]
    )
    assert rm.json()[0]["content"] is None
    assert {r["id"] for r in _rules(alice, box["id"])} == {body[1]["id"], body[2]["id"]}


def test_batch_kicks_follow_created_events(alice: User, bob: User, carol: User) -> None:
    box = alice.box()
    rule_b = alice.allow(box["id"], bob.email)
    rule_c = alice.allow(box["id"], carol.email)
    join_b = bob.post(box["id"], "member.join").json()
    carol.post(box["id"], "member.join")
    resp = alice.batch(
        box["id"],
        [
            {"type": "access.rm", "referrer_id": rule_b["id"]},
            access_add("new@x.example"),
        ],
    )
    assert resp.status_code == 201
    body = resp.json()
    assert [e["type"] for e in body] == ["access.rm", "access.add", "member.kick"]
    kick = body[2]
    assert kick["sender"]["id"] == bob.id
    assert kick["referrer_id"] == join_b["id"]
    assert kick["content"]["kicker"]["id"] == alice.id
    assert_error(bob.http.get(f"/boxes/{box['id']}/events"), 403)
    assert carol.http.get(f"/boxes/{box['id']}/events").status_code == 200
    assert {m["id"] for m in alice.http.get(f"/boxes/{box['id']}/members").json()} == {
        alice.id,
        carol.id,
    }
    # member.kick is member-visible.
    assert "member.kick" in [
        e["type"] for e in alice.http.get(f"/boxes/{box['id']}/events").json()
    ]
    assert rule_c


def test_batch_no_kick_when_public_or_domain_still_matches(
    alice: User, bob: User
) -> None:
    box = alice.box()
    domain = bob.email.split("@")[1]
    alice.batch(box["id"], [access_add(domain, "email_domain")])
    bob.post(box["id"], "member.join")
    identifier_rule = next(
        r
        for r in _rules(alice, box["id"])
        if r["content"]["restriction_type"] == "identifier"
    )
    resp = alice.batch(
        box["id"], [{"type": "access.rm", "referrer_id": identifier_rule["id"]}]
    )
    assert [e["type"] for e in resp.json()] == ["access.rm"]
    assert bob.http.get(f"/boxes/{box['id']}/events").status_code == 200


def test_batch_atomic_404(alice: User) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], "a@x.example")
    resp = alice.batch(
        box["id"],
        [
            {"type": "access.rm", "referrer_id": rule["id"]},
            {"type": "access.rm", "referrer_id": str(uuid.uuid4())},
        ],
    )
    assert_error(resp, 404)
    assert [r["id"] for r in _rules(alice, box["id"])] == [rule["id"]]
    alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
    assert_error(
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}]), 404
    )  # already removed


def test_batch_validation(alice: User, bob: User) -> None:
    box = alice.box()
    assert_error(
        alice.http.post(
            f"/boxes/{box['id']}/batch-events",
            json={"batch_type": "other", "events": [access_add("a@x.example")]},
        ),
        400,
    )
    assert_error(alice.batch(box["id"], []), 400)
    assert_error(
        alice.batch(
            box["id"],
            [
                access_add("a@x.example"),
                {"type": "msg.text", "content": {"encrypted": ciphertext()}},
            ],
        ),
        400,
    )
    assert_error(alice.batch(box["id"], [access_add("a@x.example", "bogus")]), 400)
    assert _rules(alice, box["id"]) == []
    alice.allow(box["id"], "a@x.example")
    assert_error(
        alice.batch(box["id"], [access_add("b@x.example"), access_add("a@x.example")]),
        409,
    )
    assert len(_rules(alice, box["id"])) == 1
    # access.rm needs a referrer that is an access.add of this box
    message = alice.text(box["id"])
    assert_error(alice.batch(box["id"], [{"type": "access.rm"}]), 400)
    assert alice.batch(
        box["id"], [{"type": "access.rm", "referrer_id": message["id"]}]
    ).status_code in (400, 404)


def test_batch_non_admin_and_unknown_box_403(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    assert_error(bob.batch(box["id"], [access_add("c@x.example")]), 403)
    assert_error(alice.batch(str(uuid.uuid4()), [access_add("c@x.example")]), 403)


def test_auto_invite(alice: User, bob: User) -> None:
    box = alice.box()
    key = new_pubkey()
    assert_error(
        alice.batch(
            box["id"],
            [access_add(bob.email, auto_invite=True) | {"extra": {key: ciphertext()}}],
        ),
        409,
    )  # no key yet
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": key})
    assert_error(
        alice.batch(
            box["id"],
            [
                access_add(bob.email, auto_invite=True)
                | {"extra": {new_pubkey(): ciphertext()}}
            ],
        ),
        400,
    )
    assert_error(alice.batch(box["id"], [access_add(bob.email, auto_invite=True)]), 400)
    assert_error(
        alice.batch(
            box["id"],
            [
                access_add(bob.email, auto_invite=True)
                | {"extra": {key: ciphertext(), new_pubkey(): ciphertext()}}
            ],
        ),
        400,
    )
    assert_error(
        alice.batch(
            box["id"], [access_add(bob.email) | {"extra": {key: ciphertext()}}]
        ),
        400,
    )
    assert _rules(alice, box["id"]) == []
    invitation = ciphertext()
    resp = alice.batch(
        box["id"],
        [access_add(bob.email, auto_invite=True) | {"extra": {key: invitation}}],
    )
    assert resp.status_code == 201, resp.text
    actions = bob.http.get("/crypto/actions").json()
    assert len(actions) == 1
    action = actions[0]
    assert set(action) == {
        "id",
        "type",
        "box_id",
        "encryption_public_key",
        "encrypted",
        "created_at",
    }
    assert action["type"] == "invitation" and action["box_id"] == box["id"]
    assert action["encryption_public_key"] == key and action["encrypted"] == invitation


# --- §4.2 get by ids -------------------------------------------------------------------------


def test_get_by_ids(alice: User, bob: User) -> None:
    box = alice.box()
    foreign_box = bob.box()
    a = alice.text(box["id"])
    b = alice.text(box["id"])
    foreign = bob.text(foreign_box["id"])
    unknown = str(uuid.uuid4())
    resp = alice.http.get(
        "/events", params={"ids": ",".join([b["id"], unknown, a["id"], foreign["id"]])}
    )
    assert resp.status_code == 200
    items = resp.json()
    assert items[0]["id"] == b["id"] and items[2]["id"] == a["id"]
    assert set(items[1]) == {"error"} and items[1]["error"]["status"] == 404
    assert set(items[1]["error"]) == {"status", "message", "details"}
    assert items[3]["error"]["status"] == 403
    repeated = alice.http.get(
        "/events", params=[("ids[]", a["id"]), ("ids[]", b["id"])]
    )
    assert repeated.status_code == 200
    assert [e["id"] for e in repeated.json()] == [a["id"], b["id"]]


def test_get_by_ids_errors(alice: User) -> None:
    assert_error(
        alice.http.get("/events", params={"ids": f"{uuid.uuid4()},{uuid.uuid4()}"}), 404
    )
    assert_error(alice.http.get("/events", params={"ids": "nope,also-nope"}), 400)
    assert_error(
        alice.http.get(
            "/events", params={"ids": ",".join(str(uuid.uuid4()) for _ in range(101))}
        ),
        400,
    )
    assert_error(alice.http.get("/events"), 400)
    box = alice.box()
    ids = [alice.http.get(f"/boxes/{box['id']}/events").json()[0]["id"]] + [
        str(uuid.uuid4()) for _ in range(99)
    ]
    assert alice.http.get("/events", params={"ids": ",".join(ids)}).status_code == 200


def test_get_event_by_id(alice: User, bob: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    resp = alice.http.get(f"/events/{message['id']}")
    assert resp.status_code == 200 and resp.json()["id"] == message["id"]
    assert_error(bob.http.get(f"/events/{message['id']}"), 403)
    assert_error(alice.http.get(f"/events/{uuid.uuid4()}"), 404)


# --- §4.2 shares -----------------------------------------------------------------------------


def test_share_text_and_file(alice: User, bob: User) -> None:
    source = alice.box()
    target1 = alice.box()
    target2 = alice.box()
    message = alice.text(source["id"])
    content = {"encrypted": ciphertext(), "public_key": new_pubkey()}
    resp = alice.http.post(
        f"/events/{message['id']}/shares",
        json={
            "targets": [
                {"box_id": target1["id"], "content": content},
                {"box_id": target2["id"], "content": content},
            ]
        },
    )
    assert resp.status_code == 201, resp.text
    events = resp.json()["events"]
    assert [e["box_id"] for e in events] == [target1["id"], target2["id"]]
    assert all(e["type"] == "msg.text" for e in events)
    assert events[0]["content"]["shared_from"] == {
        "box_id": source["id"],
        "event_id": message["id"],
    }
    assert events[0]["content"]["encrypted"] == content["encrypted"]
    upload = alice.upload(source["id"]).json()
    resp = alice.http.post(
        f"/events/{upload['id']}/shares",
        json={"targets": [{"box_id": target1["id"], "content": content}]},
    )
    assert resp.status_code == 201, resp.text
    shared = resp.json()["events"][0]
    assert shared["type"] == "msg.file"
    assert (
        shared["content"]["encrypted_file_id"] == upload["content"]["encrypted_file_id"]
    )
    assert shared["content"]["shared_from"] == {
        "box_id": source["id"],
        "event_id": upload["id"],
    }


def test_share_errors(alice: User, bob: User) -> None:
    source = alice.box()
    target = alice.box()
    bobs = bob.box()
    message = alice.text(source["id"])
    content = {"encrypted": ciphertext()}
    before = len(alice.http.get(f"/boxes/{target['id']}/events").json())
    resp = alice.http.post(
        f"/events/{message['id']}/shares",
        json={
            "targets": [
                {"box_id": target["id"], "content": content},
                {"box_id": bobs["id"], "content": content},
            ]
        },
    )
    assert_error(resp, 403)
    assert (
        len(alice.http.get(f"/boxes/{target['id']}/events").json()) == before
    )  # all or nothing
    assert_error(
        bob.http.post(
            f"/events/{message['id']}/shares",
            json={"targets": [{"box_id": bobs["id"], "content": content}]},
        ),
        403,
    )
    assert_error(
        alice.http.post(
            f"/events/{uuid.uuid4()}/shares",
            json={"targets": [{"box_id": target["id"], "content": content}]},
        ),
        404,
    )
    assert_error(
        alice.http.post(f"/events/{message['id']}/shares", json={"targets": []}), 400
    )
    body = assert_error(
        alice.http.post(
            f"/events/{message['id']}/shares",
            json={"targets": [{"box_id": "bad", "content": content}]},
        ),
        400,
    )
    assert "malformed" in body["details"].values(), body


# --- §4.2 e-mail in ---------------------------------------------------------------------------


def test_email_ingest(alice: User) -> None:
    box = alice.box()
    resp = alice.http.post(
        f"/boxes/{box['id']}/email",
        content=mime_with_attachments(2),
        headers={"Content-Type": "message/rfc822"},
    )
    assert resp.status_code == 201, resp.text
    events = resp.json()["events"]
    assert [e["type"] for e in events] == ["msg.text", "msg.file", "msg.file"]
    assert events[0]["content"]["public_key"] == box["public_key"]
    assert "plain body" not in resp.text and "Hello" not in resp.text
    assert events[1]["content"]["public_key"] == box["public_key"]
    download = alice.http.get(
        f"/encrypted-files/{events[1]['content']['encrypted_file_id']}"
    )
    assert download.status_code == 200
    assert b"attachment 0" not in download.content


def test_email_ingest_errors(alice: User, bob: User) -> None:
    box = alice.box()
    url = f"/boxes/{box['id']}/email"
    rfc = {"Content-Type": "message/rfc822"}
    assert_error(alice.http.post(url, content=b"", headers=rfc), 400)
    assert_error(
        alice.http.post(url, content=b"just some text without headers", headers=rfc),
        400,
    )
    assert_error(
        alice.http.post(
            url,
            content=mime_with_attachments(0),
            headers={"Content-Type": "text/plain"},
        ),
        415,
    )
    assert_error(bob.http.post(url, content=mime_with_attachments(0), headers=rfc), 403)


def test_email_ingest_acr1(srv: Server, alice: User) -> None:
    guest = make_user(srv, acr=1)
    box = guest.box()
    resp = guest.http.post(
        f"/boxes/{box['id']}/email",
        content=mime_with_attachments(0),
        headers={"Content-Type": "message/rfc822"},
    )
    assert resp.status_code == 201


def test_email_ingest_turned_off_403(noingest_srv: Server) -> None:
    user = make_user(noingest_srv)
    box = user.box()
    resp = user.http.post(
        f"/boxes/{box['id']}/email",
        content=mime_with_attachments(0),
        headers={"Content-Type": "message/rfc822"},
    )
    assert_error(resp, 403)


def test_email_ingest_over_upload_limit_413(small_srv: Server) -> None:
    user = make_user(small_srv)
    box = user.box()
    resp = user.http.post(
        f"/boxes/{box['id']}/email",
        content=mime_with_attachments(1, text="x" * 10_000),
        headers={"Content-Type": "message/rfc822"},
    )
    assert_error(resp, 413)
    assert user.http.get(f"/boxes/{box['id']}/events").json()[-1]["type"] == "create"
