"""Second pass over PROTOCOL.md: the less travelled sentences (oracles, ids, pagination everywhere)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from tests.conformance.proto import (
    TIME_RE,
    Server,
    User,
    assert_error,
    assert_identity_view,
    auto_invite,
    b64u,
    ciphertext,
    key_share,
    make_user,
    mime_with_attachments,
    new_pubkey,
    saved_form,
    signup,
    unique_email,
)

RFC822 = {"Content-Type": "message/rfc822"}


def _join(admin: User, box: dict[str, Any], *others: User) -> None:
    for other in others:
        admin.allow(box["id"], other.email)
        assert other.post(box["id"], "member.join").status_code == 201


# --- no existence oracle: unknown boxes answer like foreign ones -----------------------------


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("GET", ""),
        ("GET", "/events"),
        ("HEAD", "/events"),
        ("GET", "/files"),
        ("HEAD", "/files"),
        ("GET", "/members"),
        ("HEAD", "/members"),
        ("GET", "/accesses"),
        ("PUT", "/new-events-count/ack"),
    ],
)
def test_unknown_and_foreign_box_both_403(
    alice: User, bob: User, method: str, suffix: str
) -> None:
    foreign = bob.box()
    for box_id in (foreign["id"], str(uuid.uuid4())):
        resp = alice.http.request(method, f"/boxes/{box_id}{suffix}")
        assert resp.status_code == 403, (box_id, resp.status_code, resp.text)
        if method != "HEAD":
            assert_error(resp, 403)


def test_unknown_box_writes_403(alice: User) -> None:
    box_id = str(uuid.uuid4())
    assert_error(alice.post(box_id, "msg.text", {"encrypted": ciphertext()}), 403)
    assert_error(alice.post(box_id, "member.join"), 403)
    assert_error(alice.upload(box_id), 403)
    assert_error(
        alice.http.post(
            f"/boxes/{box_id}/email", content=mime_with_attachments(0), headers=RFC822
        ),
        403,
    )
    assert_error(
        alice.http.request(
            "DELETE", f"/boxes/{box_id}", json={"user_confirmation": "delete"}
        ),
        403,
    )


def test_non_admin_member_routes_403(alice: User, bob: User) -> None:
    box = alice.box()
    _join(alice, box, bob)
    assert_error(bob.http.get(f"/boxes/{box['id']}/accesses"), 403)
    assert_error(
        bob.http.request(
            "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
        ),
        403,
    )
    assert_error(bob.post(box["id"], "state.key_share", extra=key_share()), 403)


# --- malformed ids everywhere -------------------------------------------------------------------


def _has_malformed(resp: Any) -> None:
    body = assert_error(resp, 400)
    assert "malformed" in body["details"].values(), body


def test_malformed_ids_in_queries(alice: User) -> None:
    box = alice.box()
    _has_malformed(
        alice.http.get(f"/boxes/{box['id']}/events", params={"before": "zzz"})
    )
    _has_malformed(alice.http.get("/saved-files", params={"identity_id": "zzz"}))
    _has_malformed(alice.http.get("/events", params={"ids": f"{uuid.uuid4()},zzz"}))


def test_malformed_ids_in_paths(alice: User) -> None:
    for method, path in [
        ("GET", "/events/zzz"),
        ("POST", "/events/zzz/shares"),
        ("DELETE", "/saved-files/zzz"),
        ("DELETE", "/crypto/actions/zzz"),
        ("PATCH", "/identities/zzz"),
        ("POST", "/box-users/zzz/saved-files"),
        ("PUT", "/boxes/zzz/new-events-count/ack"),
        ("GET", "/boxes/zzz/public?other_share_hash=abc"),
        ("POST", "/boxes/zzz/batch-events"),
    ]:
        resp = alice.http.request(
            method, path, json={} if method in ("POST", "PATCH") else None
        )
        _has_malformed(resp)
    _has_malformed(
        alice.http.post(
            "/boxes/zzz/email", content=mime_with_attachments(0), headers=RFC822
        )
    )
    _has_malformed(alice.upload("zzz"))
    form = saved_form()
    _has_malformed(
        alice.http.post(
            "/box-users/zzz/saved-files",
            data=form,
            files={"encrypted_file": ("b", b"x")},
        )
    )


def test_malformed_ids_in_bodies(alice: User) -> None:
    box = alice.box()
    _has_malformed(alice.save("zzz"))
    _has_malformed(
        alice.http.post(
            "/saved-files",
            json={
                "encrypted_file_id": str(uuid.uuid4()),
                "identity_id": "zzz",
                "encrypted_metadata": ciphertext(),
                "key_fingerprint": b64u(os.urandom(64)),
            },
        )
    )
    _has_malformed(
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": "zzz"}])
    )
    _has_malformed(alice.upload(box["id"], referrer_id="zzz"))
    _has_malformed(alice.post(box["id"], "msg.delete", referrer_id="zzz"))


# --- pagination on every list route -----------------------------------------------------------


def test_pagination_validated_on_every_list(alice: User) -> None:
    box = alice.box()
    lists = [
        f"/boxes/{box['id']}/files",
        f"/boxes/{box['id']}/members",
        f"/boxes/{box['id']}/accesses",
    ]
    for path in lists:
        for params in (
            {"limit": "-1"},
            {"limit": "1001"},
            {"offset": "-3"},
            {"offset": "x"},
        ):
            assert_error(alice.http.get(path, params=params), 400)
    for params in ({"limit": "-1"}, {"limit": "1001"}):
        assert_error(
            alice.http.get("/saved-files", params={"identity_id": alice.id, **params}),
            400,
        )


def test_head_accesses_no_body(alice: User) -> None:
    box = alice.box()
    resp = alice.http.head(f"/boxes/{box['id']}/accesses")
    assert resp.status_code == 204 and resp.content == b""


def test_pagination_on_members_and_accesses(
    alice: User, bob: User, carol: User
) -> None:
    box = alice.box()
    _join(alice, box, bob, carol)
    members = alice.http.get(f"/boxes/{box['id']}/members", params={"limit": 1}).json()
    assert [m["id"] for m in members] == [alice.id]
    assert (
        len(alice.http.get(f"/boxes/{box['id']}/members", params={"offset": 1}).json())
        == 2
    )
    assert (
        len(alice.http.get(f"/boxes/{box['id']}/accesses", params={"limit": 1}).json())
        == 1
    )


def test_tail_and_cursor_with_files(alice: User) -> None:
    box = alice.box()
    files = [alice.upload(box["id"]).json() for _ in range(3)]
    assert [
        e["id"]
        for e in alice.http.get(
            f"/boxes/{box['id']}/files", params={"limit": 2, "offset": 1}
        ).json()
    ] == [f["id"] for f in files[1:]]


# --- identity views -----------------------------------------------------------------------------


def test_identifier_visibility_in_events(alice: User, bob: User, carol: User) -> None:
    box = alice.box()
    _join(alice, box, bob, carol)
    a = alice.text(box["id"])
    c = carol.text(box["id"])
    carol.post(box["id"], "msg.delete", referrer_id=c["id"])
    bob_view = {e["id"]: e for e in bob.http.get(f"/boxes/{box['id']}/events").json()}
    assert_identity_view(
        bob_view[a["id"]]["sender"], identity_id=alice.id, email_shown=""
    )
    assert_identity_view(
        bob_view[c["id"]]["sender"], identity_id=carol.id, email_shown=""
    )
    assert_identity_view(
        bob_view[c["id"]]["content"]["deleted"]["by_identity"],
        identity_id=carol.id,
        email_shown="",
    )
    admin_view = {
        e["id"]: e for e in alice.http.get(f"/boxes/{box['id']}/events").json()
    }
    assert_identity_view(
        admin_view[c["id"]]["sender"], identity_id=carol.id, email_shown=carol.email
    )
    own = carol.http.get(f"/boxes/{box['id']}/events").json()
    joins = [
        e for e in own if e["type"] == "member.join" and e["sender"]["id"] == carol.id
    ]
    assert_identity_view(
        joins[0]["sender"], identity_id=carol.id, email_shown=carol.email
    )


def test_kicker_identity_view(alice: User, bob: User, carol: User) -> None:
    box = alice.box()
    _join(alice, box, bob, carol)
    rule = next(
        r
        for r in alice.http.get(f"/boxes/{box['id']}/accesses").json()
        if r["content"]["value"] == bob.email
    )
    alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
    kick = next(
        e
        for e in carol.http.get(f"/boxes/{box['id']}/events").json()
        if e["type"] == "member.kick"
    )
    assert set(kick["content"]) == {"kicker"}
    assert_identity_view(
        kick["content"]["kicker"], identity_id=alice.id, email_shown=""
    )
    assert_identity_view(kick["sender"], identity_id=bob.id, email_shown="")


def test_identities_me_shows_own_identifier(alice: User) -> None:
    me = alice.http.get("/identities/me").json()
    assert me["identifier_value"] == alice.email and me["identifier_kind"] == "email"
    assert me["avatar_url"] is None


# --- auth details ---------------------------------------------------------------------------------


def test_429_is_per_email(srv: Server) -> None:
    locked, _ = signup(srv)
    other, _ = signup(srv)
    with srv.client() as http:
        for _ in range(11):
            http.post(
                "/auth/login", json={"email": locked, "password": "wrong-password"}
            )
        assert_error(
            http.post(
                "/auth/login", json={"email": locked, "password": "wrong-password"}
            ),
            429,
        )
        assert (
            http.post(
                "/auth/login",
                json={"email": other, "password": "conformance-password-1"},
            ).status_code
            == 200
        )


def test_429_counts_code_failures_too(srv: Server) -> None:
    address = unique_email()
    with srv.client() as http:
        for _ in range(3):
            http.post("/auth/code", json={"email": address})
            for _ in range(4):
                http.post("/auth/login", json={"email": address, "code": "000000"})
        # 12 failures for this e-mail: the pair is locked.
        assert_error(
            http.post("/auth/login", json={"email": address, "code": "000000"}), 429
        )


def test_auth_code_bad_email_400(srv: Server) -> None:
    with srv.client() as http:
        assert_error(http.post("/auth/code", json={"email": "nope"}), 400)
        assert_error(http.post("/auth/code", json={}), 400)


def test_cookie_logout_needs_csrf(srv: Server) -> None:
    user = make_user(srv)
    with srv.client() as http:
        http.cookies.set("accesstoken", user.token)
        http.cookies.set("tokentype", "bearer")
        assert_error(http.post("/auth/logout"), 400)
        assert (
            http.post(
                "/auth/logout", headers={"X-CSRF-Token": user.login["csrf_token"]}
            ).status_code
            == 204
        )
    assert_error(user.http.get("/identities/me"), 401)


def test_login_cookies_work_as_returned(srv: Server) -> None:
    address, _ = signup(srv)
    with srv.client() as http:
        login = http.post(
            "/auth/login", json={"email": address, "password": "conformance-password-1"}
        ).json()
        # the client keeps the cookies the server set
        assert http.get("/identities/me").status_code == 200
        box = http.post(
            "/boxes",
            json={"title": "c", "public_key": new_pubkey()},
            headers={"X-CSRF-Token": login["csrf_token"]},
        )
        assert box.status_code == 201


def test_non_bearer_authorization_401(alice: User) -> None:
    with alice.server.client() as http:
        assert_error(
            http.get(
                "/identities/me", headers={"Authorization": f"Basic {alice.token}"}
            ),
            401,
        )


def test_session_info_acr_and_expiry(srv: Server) -> None:
    guest = make_user(srv, acr=1)
    info = guest.http.get("/auth/session").json()
    assert info["acr"] == 1


def test_acr_body_on_every_acr2_route(srv: Server) -> None:
    guest = make_user(srv, acr=1)
    box = guest.box()
    acr = {"acr": "forbidden", "required_acr": "2"}
    assert_error(
        guest.http.get("/saved-files", params={"identity_id": guest.id}),
        403,
        origin="acr",
        details=acr,
    )
    assert_error(
        guest.http.put("/crypto/secret-storage", json={"data": "x"}),
        403,
        origin="acr",
        details=acr,
    )
    assert_error(
        guest.http.get(f"/boxes/{box['id']}/accesses"), 403, origin="acr", details=acr
    )


# --- boxes and events, finer points -----------------------------------------------------------


def test_last_event_tracks_latest_visible(alice: User, bob: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    assert (
        alice.http.get(f"/boxes/{box['id']}").json()["last_event"]["id"]
        == message["id"]
    )
    alice.allow(box["id"], bob.email)  # access events are not member-visible
    assert (
        alice.http.get(f"/boxes/{box['id']}").json()["last_event"]["id"]
        == message["id"]
    )


def test_box_key_share_validation(alice: User) -> None:
    share = key_share()
    for broken in (
        {k: v for k, v in share.items() if k != "misakey_share"},
        {**share, "other_share_hash": "!!"},
        {**share, "extra": "x"},
    ):
        assert_error(
            alice.http.post(
                "/boxes",
                json={"title": "t", "public_key": new_pubkey(), "key_share": broken},
            ),
            400,
        )


def test_state_key_share_extra_strings(alice: User) -> None:
    box = alice.box()
    assert_error(
        alice.post(
            box["id"], "state.key_share", extra={**key_share(), "misakey_share": 5}
        ),
        400,
    )
    assert_error(alice.post(box["id"], "state.key_share"), 400)


def test_text_public_key_validated(alice: User) -> None:
    box = alice.box()
    assert_error(
        alice.post(
            box["id"], "msg.text", {"encrypted": ciphertext(), "public_key": "short"}
        ),
        400,
    )
    assert_error(
        alice.http.post(
            f"/boxes/{box['id']}/events",
            json={
                "type": "msg.text",
                "content": {"encrypted": ciphertext()},
                "surprise": 1,
            },
        ),
        400,
    )


def test_leave_when_not_member_403(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    assert_error(bob.post(box["id"], "member.leave"), 403)


def test_rejoin_after_kick(alice: User, bob: User) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
    assert_error(bob.post(box["id"], "member.join"), 403)
    alice.allow(box["id"], bob.email)
    assert bob.post(box["id"], "member.join").status_code == 201


def test_public_box_rm_identifier_no_kick(alice: User, bob: User) -> None:
    box = alice.box()
    alice.post(box["id"], "state.access_mode", {"value": "public"})
    bob.post(box["id"], "member.join")
    rule = next(
        r
        for r in alice.http.get(f"/boxes/{box['id']}/accesses").json()
        if r["content"]["value"] == bob.email
    )
    resp = alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
    assert [e["type"] for e in resp.json()] == ["access.rm"]


def test_switch_to_limited_does_not_kick_named_members(alice: User, bob: User) -> None:
    box = alice.box()
    alice.post(box["id"], "state.access_mode", {"value": "public"})
    bob.post(box["id"], "member.join")  # the join wrote an identifier rule
    alice.post(box["id"], "state.access_mode", {"value": "limited"})
    assert bob.http.get(f"/boxes/{box['id']}/events").status_code == 200


def test_access_rm_of_other_box_rule_404(alice: User) -> None:
    box, other = alice.box(), alice.box()
    foreign_rule = alice.allow(other["id"], "x@x.example")
    assert_error(
        alice.batch(
            box["id"], [{"type": "access.rm", "referrer_id": foreign_rule["id"]}]
        ),
        404,
    )


def test_closed_box_email_and_share_409(alice: User) -> None:
    box = alice.box()
    source = alice.box()
    message = alice.text(source["id"])
    alice.post(box["id"], "state.lifecycle", {"state": "closed"})
    conflict = {"lifecycle": "conflict"}
    assert_error(
        alice.http.post(
            f"/boxes/{box['id']}/email",
            content=mime_with_attachments(0),
            headers=RFC822,
        ),
        409,
        details=conflict,
    )
    assert_error(
        alice.http.post(
            f"/events/{message['id']}/shares",
            json={
                "targets": [
                    {"box_id": box["id"], "content": {"encrypted": ciphertext()}}
                ]
            },
        ),
        409,
        details=conflict,
    )
    assert_error(alice.post(box["id"], "member.join"), 409)


def test_closed_box_closing_again_409(alice: User) -> None:
    box = alice.box()
    alice.post(box["id"], "state.lifecycle", {"state": "closed"})
    assert_error(
        alice.post(box["id"], "state.lifecycle", {"state": "closed"}),
        409,
        details={"lifecycle": "conflict"},
    )


def test_saved_files_list_needs_identity_id(alice: User) -> None:
    assert_error(alice.http.get("/saved-files"), 400)


def test_direct_saved_upload_limits(small_srv: Server) -> None:
    user = make_user(small_srv)
    assert_error(
        user.save_upload(os.urandom(5000)),
        413,
    )
    for _ in range(2):
        assert user.save_upload(os.urandom(3000)).status_code == 201
    assert_error(
        user.save_upload(os.urandom(3000)),
        403,
        details={"quota": "forbidden"},
    )


def test_quota_freed_by_deletion(small_srv: Server) -> None:
    user = make_user(small_srv)
    box = user.box()
    events = [user.upload(box["id"], os.urandom(3000)).json() for _ in range(2)]
    assert_error(
        user.upload(box["id"], os.urandom(3000)), 403, details={"quota": "forbidden"}
    )
    user.post(box["id"], "msg.delete", referrer_id=events[0]["id"])
    assert user.upload(box["id"], os.urandom(3000)).status_code == 201


def test_crypto_action_shape_and_time(alice: User, bob: User) -> None:
    key = new_pubkey()
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": key})
    box = alice.box()
    alice.batch(
        box["id"],
        [auto_invite(bob.email, key)],
    )
    action = bob.http.get("/crypto/actions").json()[0]
    assert TIME_RE.match(action["created_at"])
    rules = alice.http.get(f"/boxes/{box['id']}/accesses").json()
    assert rules[0]["content"]["auto_invite"] is True


def test_get_by_ids_mixed_forms(alice: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    resp = alice.http.get(f"/events?ids[]={message['id']}")
    assert resp.status_code == 200 and resp.json()[0]["id"] == message["id"]
    folded = alice.post(box["id"], "msg.delete", referrer_id=message["id"])
    assert folded.status_code == 201
    got = alice.http.get(f"/events/{message['id']}").json()
    assert set(got["content"]) == {"deleted"}


def test_get_by_ids_error_item_details(alice: User, bob: User) -> None:
    foreign = bob.text(bob.box()["id"])
    items = alice.http.get(
        "/events", params={"ids": f"{foreign['id']},{uuid.uuid4()}"}
    ).json()
    for item in items:
        assert isinstance(item["error"]["message"], str)
        assert isinstance(item["error"]["details"], dict)
        assert isinstance(item["error"]["status"], int)


def test_secret_storage_etag_on_put(alice: User) -> None:
    resp = alice.http.put("/crypto/secret-storage", json={"data": "d"})
    assert resp.status_code == 200
    assert alice.http.get("/crypto/secret-storage").json()["version"] == 1


def test_pubkey_lookup_needs_identifier(alice: User) -> None:
    assert_error(alice.http.get("/identities/pubkey"), 400)


def test_public_preview_unknown_box(srv: Server) -> None:
    with srv.client() as http:
        resp = http.get(
            f"/boxes/{uuid.uuid4()}/public",
            params={"other_share_hash": b64u(os.urandom(64))},
        )
    assert_error(resp, 404)
