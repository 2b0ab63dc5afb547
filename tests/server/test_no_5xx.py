"""Inputs that used to end in a 500: each is now the protocol's 4xx, with no traceback logged."""

from __future__ import annotations

import json
import logging

import pytest

from tests.server.helpers import assert_error, box_with_member, signup_login

LONE_SURROGATE_EMAIL = '"a\\ud83d@ex.org"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/login", '{"email": %s, "password": "correct horse battery"}'),
        ("/auth/login", '{"email": %s, "code": "123456"}'),
        ("/auth/signup", '{"email": %s, "password": "correct horse battery", "display_name": "A"}'),
        ("/auth/code", '{"email": %s}'),
    ],
)
async def test_lone_surrogate_in_an_email_is_400(http, caplog, path, body):
    response = await http.post(path, content=(body % LONE_SURROGATE_EMAIL).encode(), headers={"content-type": "application/json"})
    assert_error(response, 400, "bad_request", body="invalid")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_lone_surrogate_anywhere_in_a_body_is_400(http):
    alice, _, box = await box_with_member(http)
    for raw in ('{"title": "\\udfff", "public_key": "x"}', '{"title": "ok", "\\ud800": 1}'):
        response = await http.post("/boxes", content=raw.encode(), headers={**alice.headers, "content-type": "application/json"})
        assert_error(response, 400, "bad_request", body="invalid")
    # A well-formed pair is an ordinary character.
    response = await http.post("/boxes", content='{"title": "\\ud83d\\ude00", "public_key": "%s"}' % box["public_key"], headers=alice.headers)
    assert response.status_code in (201, 409), response.text


async def _call_with_hangup(app, method: str, path: str, headers: list[tuple[bytes, bytes]], first_chunk: bytes) -> list[dict]:
    """Call the ASGI app directly: one chunk of the body, then the client disconnects."""
    sent: list[dict] = []
    events = [
        {"type": "http.request", "body": first_chunk, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "app": app,
    }
    await app(scope, receive, send)
    return sent


async def test_client_hanging_up_mid_json_body_is_not_a_500(server_app, caplog):
    caplog.set_level(logging.DEBUG)
    for path in ("/auth/login", "/auth/signup", "/auth/code"):
        sent = await _call_with_hangup(
            server_app, "POST", path, [(b"content-type", b"application/json"), (b"content-length", b"200")], b'{"email": "a@ex'
        )
        start = next(m for m in sent if m["type"] == "http.response.start")
        assert start["status"] == 400, sent
        body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
        assert body["details"] == {"body": "malformed"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info]


async def test_client_hanging_up_mid_authenticated_json_body(server_app, caplog):
    from tests.conftest import asgi_client

    async with asgi_client(server_app) as http:
        alice = await signup_login(http, "alice@example.com")
    token = alice.token.encode()
    sent = await _call_with_hangup(
        server_app,
        "POST",
        "/boxes",
        [(b"authorization", b"Bearer " + token), (b"content-type", b"application/json"), (b"content-length", b"300")],
        b'{"title": "half',
    )
    assert next(m for m in sent if m["type"] == "http.response.start")["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
