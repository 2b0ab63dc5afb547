"""Seventh pass: what realtime and double credentials reveal (identifier hiding per recipient, access events)."""

from __future__ import annotations

from tests.conformance.proto import (
    Server,
    User,
    assert_error,
    assert_identity_view,
    collect,
    open_socket,
)


async def test_realtime_hides_identifiers_per_recipient(
    srv: Server, alice: User, bob: User, carol: User
) -> None:
    box = alice.box()
    for other in (bob, carol):
        alice.allow(box["id"], other.email)
        other.post(box["id"], "member.join")
    async with open_socket(srv, carol) as carol_ws, open_socket(srv, alice) as alice_ws:
        message = bob.text(box["id"])
        seen = [
            m
            for m in await collect(carol_ws, 1.0)
            if m["type"] == "event.new" and m["object"]["id"] == message["id"]
        ]
        assert seen, "carol got no event.new"
        assert_identity_view(
            seen[0]["object"]["sender"], identity_id=bob.id, email_shown=""
        )
        admin = [
            m
            for m in await collect(alice_ws, 0.3)
            if m["type"] == "event.new" and m["object"]["id"] == message["id"]
        ]
        assert_identity_view(
            admin[0]["object"]["sender"], identity_id=bob.id, email_shown=bob.email
        )


async def test_realtime_access_events_not_sent_to_members(
    srv: Server, alice: User, bob: User
) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    async with open_socket(srv, bob) as bob_ws:
        alice.allow(box["id"], "secret-person@x.example")
        alice.text(box["id"])
        messages = await collect(bob_ws, 1.0)
    types = [m["object"]["type"] for m in messages if m["type"] == "event.new"]
    assert "msg.text" in types
    assert "access.add" not in types, messages


async def test_realtime_kick_event_hides_kicker_identifier(
    srv: Server, alice: User, bob: User, carol: User
) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    alice.allow(box["id"], carol.email)
    bob.post(box["id"], "member.join")
    carol.post(box["id"], "member.join")
    async with open_socket(srv, carol) as carol_ws:
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
        kicks = [
            m
            for m in await collect(carol_ws, 1.0)
            if m["type"] == "event.new" and m["object"]["type"] == "member.kick"
        ]
    assert kicks
    assert_identity_view(
        kicks[0]["object"]["sender"], identity_id=bob.id, email_shown=""
    )
    assert_identity_view(
        kicks[0]["object"]["content"]["kicker"], identity_id=alice.id, email_shown=""
    )


def test_both_credentials_401_on_session_and_logout(srv: Server, alice: User) -> None:
    with srv.client() as http:
        http.cookies.set("accesstoken", alice.token)
        http.cookies.set("tokentype", "bearer")
        headers = {
            "Authorization": f"Bearer {alice.token}",
            "X-CSRF-Token": alice.login["csrf_token"],
        }
        assert_error(http.get("/auth/session", headers=headers), 401)
        assert_error(http.post("/auth/logout", headers=headers), 401)
    assert alice.http.get("/identities/me").status_code == 200


def test_identifier_rule_matches_email_case_insensitively(
    alice: User, bob: User
) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email.upper())
    assert bob.post(box["id"], "member.join").status_code == 201
    assert (
        len(alice.http.get(f"/boxes/{box['id']}/accesses").json()) == 1
    )  # already named: no second rule


def test_email_ingest_content_type_with_parameters(alice: User) -> None:
    from tests.conformance.proto import mime_with_attachments

    box = alice.box()
    resp = alice.http.post(
        f"/boxes/{box['id']}/email",
        content=mime_with_attachments(0),
        headers={"Content-Type": "message/rfc822; charset=utf-8"},
    )
    assert resp.status_code == 201, resp.text


def test_acr1_uploads_and_downloads(srv: Server) -> None:
    from tests.conformance.proto import make_user

    guest = make_user(srv, acr=1)
    box = guest.box()
    event = guest.upload(box["id"], b"guest blob")
    assert event.status_code == 201, event.text
    assert (
        guest.http.get(
            f"/encrypted-files/{event.json()['content']['encrypted_file_id']}"
        ).content
        == b"guest blob"
    )
