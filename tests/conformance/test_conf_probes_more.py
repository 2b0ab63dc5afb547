"""Third pass: error origins, realtime to senders, access edges, identities without account."""

from __future__ import annotations

import uuid

from websockets.asyncio.client import connect

from tests.conformance.proto import (
    PASSWORD,
    Server,
    User,
    assert_error,
    ciphertext,
    key_share,
    make_user,
    new_pubkey,
    next_message,
    open_socket,
    unique_email,
)

# --- error origins ------------------------------------------------------------------------------


def test_error_origins(srv: Server, alice: User) -> None:
    box = alice.box()
    assert_error(alice.http.get("/boxes/zzz"), 400, origin="path")
    assert_error(
        alice.http.get(f"/boxes/{box['id']}/events", params={"after": "zzz"}),
        400,
        origin="query",
    )
    assert_error(
        alice.http.get(f"/boxes/{box['id']}/events", params={"limit": "-5"}),
        400,
        origin="query",
    )
    assert_error(alice.http.post("/boxes", json={"title": "x"}), 400, origin="body")
    assert_error(
        alice.post(
            box["id"], "msg.text", {"encrypted": ciphertext()}, referrer_id="zzz"
        ),
        400,
        origin="body",
    )
    with srv.client() as http:
        http.cookies.set("accesstoken", alice.token)
        http.cookies.set("tokentype", "bearer")
        assert_error(
            http.post("/boxes", json={"title": "t", "public_key": new_pubkey()}),
            400,
            origin="headers",
        )
        assert_error(
            http.post(
                "/boxes",
                json={"title": "t", "public_key": new_pubkey()},
                headers={"X-CSRF-Token": "bad"},
            ),
            403,
            origin="headers",
        )


def test_box_title_invalid_detail(alice: User) -> None:
    body = assert_error(
        alice.http.post("/boxes", json={"title": "x" * 51, "public_key": new_pubkey()}),
        400,
        origin="body",
    )
    assert "title" in body["details"], body


def test_type_detail_for_unpostable(alice: User) -> None:
    box = alice.box()
    assert_error(
        alice.post(
            box["id"],
            "create",
            {"public_key": new_pubkey(), "title": "t", "state": "open"},
        ),
        400,
        origin="body",
        details={"type": "malformed"},
    )


# --- identities without account -------------------------------------------------------------------


def test_code_identity_can_then_sign_up(srv: Server) -> None:
    """An invited e-mail first gets an identity without account; signing up later must work."""
    address = unique_email()
    with srv.client() as http:
        http.post("/auth/code", json={"email": address})
        first = http.post(
            "/auth/login", json={"email": address, "code": srv.latest_code(address)}
        ).json()
        resp = http.post(
            "/auth/signup",
            json={"email": address, "password": PASSWORD, "display_name": "Later"},
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["id"] == first["identity"]["id"]
        assert (
            http.post(
                "/auth/login", json={"email": address, "password": PASSWORD}
            ).json()["acr"]
            == 2
        )


def test_invited_by_email_before_any_login(alice: User, srv: Server) -> None:
    address = unique_email("invitee")
    box = alice.box()
    alice.allow(box["id"], address)
    with srv.client() as http:
        http.post("/auth/code", json={"email": address})
        login = http.post(
            "/auth/login", json={"email": address, "code": srv.latest_code(address)}
        ).json()
    with srv.client(
        headers={"Authorization": f"Bearer {login['access_token']}"}
    ) as http:
        assert (
            http.post(
                f"/boxes/{box['id']}/events", json={"type": "member.join"}
            ).status_code
            == 201
        )


# --- events, more edges -----------------------------------------------------------------------------


def test_edit_message_of_other_box_404(alice: User) -> None:
    box, other = alice.box(), alice.box()
    message = alice.text(other["id"])
    assert_error(
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": ciphertext()},
            referrer_id=message["id"],
        ),
        404,
    )
    assert_error(alice.post(box["id"], "msg.delete", referrer_id=message["id"]), 404)


def test_kicked_member_loses_downloads(alice: User, bob: User) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    file_id = alice.upload(box["id"]).json()["content"]["encrypted_file_id"]
    assert bob.http.get(f"/encrypted-files/{file_id}").status_code == 200
    alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
    assert_error(bob.http.get(f"/encrypted-files/{file_id}"), 403)
    assert_error(bob.http.get(f"/boxes/{box['id']}/files"), 403)


def test_left_member_reason_not_member(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    bob.post(box["id"], "member.leave")
    body = assert_error(bob.http.get(f"/boxes/{box['id']}"), 403)
    assert body["details"].get("reason") == "not_member", body
    assert bob.post(box["id"], "member.join").status_code == 201


def test_key_share_action_names_member_key(alice: User, bob: User) -> None:
    box = alice.box(key_share=key_share())
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    key = new_pubkey()
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": key})
    alice.post(box["id"], "state.key_share", extra=key_share())
    action = bob.http.get("/crypto/actions").json()[0]
    # encrypted_invitation_key_share is sealed to the box key (§8), so that is the key it names.
    assert action["encryption_public_key"] == box["public_key"]


def test_share_file_content_rules(alice: User) -> None:
    source, target = alice.box(), alice.box()
    upload = alice.upload(source["id"]).json()
    assert_error(
        alice.http.post(
            f"/events/{upload['id']}/shares",
            json={"targets": [{"box_id": target["id"], "content": {}}]},
        ),
        400,
    )
    assert_error(
        alice.http.post(
            f"/events/{upload['id']}/shares",
            json={
                "targets": [
                    {
                        "box_id": target["id"],
                        "content": {
                            "encrypted": ciphertext(),
                            "public_key": new_pubkey(),
                            "encrypted_file_id": str(uuid.uuid4()),
                        },
                    }
                ]
            },
        ),
        400,
    )


def test_saved_file_of_deleted_message_403_or_404(alice: User) -> None:
    box = alice.box()
    event = alice.upload(box["id"]).json()
    alice.post(box["id"], "msg.delete", referrer_id=event["id"])
    resp = alice.save(event["content"]["encrypted_file_id"])
    assert_error(resp, 404)  # the blob is gone


# --- realtime: the sender and the kicked get their events ------------------------------------------


async def test_realtime_sender_gets_join_and_kicked_gets_kick(
    srv: Server, alice: User, bob: User
) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    async with open_socket(srv, bob) as bob_ws, open_socket(srv, alice) as alice_ws:
        join = bob.post(box["id"], "member.join").json()
        got = await next_message(
            bob_ws,
            lambda m: m["type"] == "event.new" and m["object"]["id"] == join["id"],
        )
        assert got["object"]["type"] == "member.join"
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
        kick = await next_message(
            alice_ws,
            lambda m: m["type"] == "event.new" and m["object"]["type"] == "member.kick",
        )
        assert kick["object"]["sender"]["id"] == bob.id
        got = await next_message(
            bob_ws,
            lambda m: m["type"] == "event.new" and m["object"]["type"] == "member.kick",
        )
        assert got["object"]["id"] == kick["object"]["id"]


async def test_realtime_upload_and_state_events(
    srv: Server, alice: User, bob: User
) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    async with open_socket(srv, bob) as bob_ws:
        upload = alice.upload(box["id"]).json()
        got = await next_message(
            bob_ws,
            lambda m: m["type"] == "event.new" and m["object"]["id"] == upload["id"],
        )
        assert got["object"]["type"] == "msg.file"
        state = alice.post(box["id"], "state.lifecycle", {"state": "closed"}).json()
        await next_message(
            bob_ws,
            lambda m: m["type"] == "event.new" and m["object"]["id"] == state["id"],
        )


async def test_realtime_email_ingest_and_share(srv: Server, alice: User) -> None:
    from tests.conformance.proto import mime_with_attachments

    box, source = alice.box(), alice.box()
    message = alice.text(source["id"])
    async with open_socket(srv, alice) as ws:
        events = alice.http.post(
            f"/boxes/{box['id']}/email",
            content=mime_with_attachments(1),
            headers={"Content-Type": "message/rfc822"},
        ).json()["events"]
        for event in events:
            await next_message(
                ws,
                lambda m, e=event: (
                    m["type"] == "event.new" and m["object"]["id"] == e["id"]
                ),
            )
        shared = alice.http.post(
            f"/events/{message['id']}/shares",
            json={
                "targets": [
                    {"box_id": box["id"], "content": {"encrypted": ciphertext()}}
                ]
            },
        ).json()["events"][0]
        await next_message(
            ws, lambda m: m["type"] == "event.new" and m["object"]["id"] == shared["id"]
        )


async def test_realtime_direct_saved_upload_file_saved(
    srv: Server, alice: User
) -> None:
    async with open_socket(srv, alice) as ws:
        saved = alice.save_upload(b"x").json()
        got = await next_message(ws, lambda m: m["type"] == "file.saved")
        assert got["object"] == {
            "encrypted_file_id": saved["encrypted_file_id"],
            "is_saved": True,
        }


async def test_realtime_bad_id_refused(srv: Server, alice: User) -> None:
    from websockets.exceptions import InvalidStatus

    try:
        async with connect(
            f"{srv.ws_url}/box-users/not-a-uuid/ws",
            additional_headers={"Authorization": f"Bearer {alice.token}"},
            open_timeout=5,
        ):
            raise AssertionError("handshake accepted")
    except InvalidStatus:
        pass


async def test_realtime_logout_token_refused(srv: Server) -> None:
    from websockets.exceptions import InvalidStatus

    user = make_user(srv)
    user.http.post("/auth/logout")
    try:
        async with open_socket(srv, user):
            raise AssertionError("handshake accepted")
    except InvalidStatus:
        pass


def test_edit_without_new_public_key_keeps_the_latest_one(alice: User) -> None:
    """§4 "an edited msg.text carries the latest encrypted/public_key": an edit that names no
    ``new_public_key`` leaves the message's public_key as it was (the latest one known)."""
    box = alice.box()
    message = alice.text(box["id"])
    original_key = message["content"]["public_key"]
    new_text = ciphertext()
    alice.post(
        box["id"], "msg.edit", {"new_encrypted": new_text}, referrer_id=message["id"]
    )
    folded = alice.http.get(f"/events/{message['id']}").json()
    assert folded["content"]["encrypted"] == new_text
    assert folded["content"].get("public_key") == original_key, folded["content"]
