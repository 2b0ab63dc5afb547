"""Fifth pass: HEAD error twins, odd bodies, chunked uploads, sockets after losing access."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus

from tests.conformance.proto import (
    PASSWORD,
    Server,
    User,
    assert_error,
    ciphertext,
    collect,
    make_user,
    new_pubkey,
    open_socket,
    unique_email,
)


@pytest.mark.parametrize(
    "path,params",
    [
        ("/boxes/zzz/events", {}),
        ("/no-such-route", {}),
    ],
)
def test_head_errors_never_have_a_body(
    alice: User, path: str, params: dict[str, str]
) -> None:
    resp = alice.http.head(path, params=params)
    assert resp.status_code in (400, 404), resp.status_code
    assert resp.content == b""


def test_head_unauthenticated_no_body(srv: Server) -> None:
    with srv.client() as http:
        resp = http.head("/boxes/joined")
    assert resp.status_code == 401 and resp.content == b""


@pytest.mark.parametrize("raw", [b"null", b'"text"', b"\xff\xfe{}", b""])
def test_odd_json_bodies_400(alice: User, raw: bytes) -> None:
    assert_error(
        alice.http.post(
            "/boxes", content=raw, headers={"Content-Type": "application/json"}
        ),
        400,
    )


def test_errors_are_json(alice: User) -> None:
    resp = alice.http.get("/boxes/zzz")
    assert resp.headers["content-type"].startswith("application/json")


def test_signup_field_rules(srv: Server) -> None:
    with srv.client() as http:
        body = assert_error(
            http.post(
                "/auth/signup", json={"email": unique_email(), "password": PASSWORD}
            ),
            400,
        )
        assert body["details"].get("display_name") == "required", body
        assert_error(
            http.post(
                "/auth/signup",
                json={
                    "email": unique_email(),
                    "password": PASSWORD,
                    "display_name": "",
                },
            ),
            400,
        )


def test_login_email_case_insensitive(srv: Server) -> None:
    address = unique_email()
    with srv.client() as http:
        assert (
            http.post(
                "/auth/signup",
                json={
                    "email": address.upper(),
                    "password": PASSWORD,
                    "display_name": "c",
                },
            ).status_code
            == 201
        )
        assert (
            http.post(
                "/auth/login", json={"email": address, "password": PASSWORD}
            ).status_code
            == 200
        )


def _chunked_multipart(blob_size: int) -> tuple[Iterator[bytes], str]:
    boundary = "conformanceboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="msg_encrypted_content"\r\n\r\n{ciphertext()}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="msg_public_key"\r\n\r\n{new_pubkey()}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="encrypted_file"; filename="b"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(blob_size // 1024):
            yield os.urandom(1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    return chunks(), f"multipart/form-data; boundary={boundary}"


def test_chunked_upload_over_limit_413(small_srv: Server) -> None:
    user = make_user(small_srv)
    box = user.box()
    body, content_type = _chunked_multipart(64 * 1024)
    resp = user.http.post(
        f"/boxes/{box['id']}/encrypted-files",
        content=body,
        headers={"Content-Type": content_type},
    )
    assert_error(resp, 413)
    assert user.http.get(f"/boxes/{box['id']}/files").json() == []
    body, content_type = _chunked_multipart(2048)
    assert (
        user.http.post(
            f"/boxes/{box['id']}/encrypted-files",
            content=body,
            headers={"Content-Type": content_type},
        ).status_code
        == 201
    )


def test_upload_file_as_plain_field_400(alice: User) -> None:
    box = alice.box()
    resp = alice.http.post(
        f"/boxes/{box['id']}/encrypted-files",
        data={
            "msg_encrypted_content": ciphertext(),
            "msg_public_key": new_pubkey(),
            "encrypted_file": "text",
        },
        files={"x": ("x", b"")},
    )
    assert_error(resp, 400)


# --- sockets ---------------------------------------------------------------------------------------


def _no_text_of(messages: list[dict], box_id: str) -> bool:
    return not any(
        m["type"] == "event.new"
        and m["object"]["box_id"] == box_id
        and m["object"]["type"] == "msg.text"
        for m in messages
    )


async def test_socket_bearer_and_cookies_refused(srv: Server, alice: User) -> None:
    both = {
        "Authorization": f"Bearer {alice.token}",
        "Cookie": f"accesstoken={alice.token}; tokentype=bearer",
    }
    with pytest.raises(InvalidStatus):
        async with open_socket(srv, alice, both):
            pass


async def test_socket_after_kick_and_leave_silent(
    srv: Server, alice: User, bob: User, carol: User
) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    alice.allow(box["id"], carol.email)
    bob.post(box["id"], "member.join")
    carol.post(box["id"], "member.join")
    async with open_socket(srv, bob) as bob_ws, open_socket(srv, carol) as carol_ws:
        alice.batch(box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}])
        carol.post(box["id"], "member.leave")
        alice.text(box["id"])
        assert _no_text_of(await collect(bob_ws, 0.7), box["id"])
        assert _no_text_of(await collect(carol_ws, 0.3), box["id"])


async def test_socket_ack_of_foreign_box_ignored(
    srv: Server, alice: User, bob: User
) -> None:
    box = bob.box()
    async with open_socket(srv, alice) as ws:
        await ws.send(json.dumps({"type": "ack", "object": {"box_id": box["id"]}}))
        await ws.send(json.dumps({"type": "ack", "object": {"box_id": "zzz"}}))
        await ws.send("not json")
        await ws.ping()
        own = alice.box()
        message = alice.text(own["id"])
        async with asyncio.timeout(5):
            while True:
                got = json.loads(await ws.recv())
                if got["type"] == "event.new" and got["object"]["id"] == message["id"]:
                    break
    assert uuid.UUID(box["id"])
