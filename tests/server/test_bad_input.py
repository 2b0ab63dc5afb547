"""Bad input on every route of §1–§4: always the protocol's 4xx, never 422 or 500."""

from __future__ import annotations

import uuid

import pytest

from tests.server.helpers import assert_error, box_with_member, post_text

BAD_ID = "not-a-uuid"
UPPER_ID = str(uuid.uuid4()).upper()

# (method, path template, JSON body) for every route with an id in the path.
ID_ROUTES = [
    ("GET", "/boxes/{id}", None),
    ("DELETE", "/boxes/{id}", {"user_confirmation": "delete"}),
    ("GET", "/boxes/{id}/members", None),
    ("HEAD", "/boxes/{id}/members", None),
    ("GET", "/boxes/{id}/accesses", None),
    ("HEAD", "/boxes/{id}/accesses", None),
    ("PUT", "/boxes/{id}/new-events-count/ack", None),
    ("POST", "/boxes/{id}/events", {"type": "member.join"}),
    ("GET", "/boxes/{id}/events", None),
    ("HEAD", "/boxes/{id}/events", None),
    ("GET", "/boxes/{id}/files", None),
    ("HEAD", "/boxes/{id}/files", None),
    ("POST", "/boxes/{id}/batch-events", {"batch_type": "accesses", "events": [{"type": "access.rm", "referrer_id": str(uuid.uuid4())}]}),
    ("GET", "/events/{id}", None),
    ("POST", "/events/{id}/shares", {"targets": []}),
    ("PATCH", "/identities/{id}", {"display_name": "x"}),
]

# Routes taking a JSON body.
BODY_ROUTES = [
    ("POST", "/auth/signup"),
    ("POST", "/auth/code"),
    ("POST", "/auth/login"),
    ("POST", "/boxes"),
    ("POST", "/boxes/{box}/events"),
    ("POST", "/boxes/{box}/batch-events"),
    ("POST", "/events/{event}/shares"),
    ("PATCH", "/identities/{me}"),
    ("DELETE", "/boxes/{box}"),
]


@pytest.fixture
async def world(http):
    alice, bob, box = await box_with_member(http)
    event = await post_text(http, alice, box["id"])
    return {"alice": alice, "bob": bob, "box": box["id"], "event": event["id"], "me": alice.id}


async def test_malformed_path_ids_are_400(http, world):
    alice = world["alice"]
    for method, template, body in ID_ROUTES:
        for bad in (BAD_ID, UPPER_ID):
            response = await http.request(method, template.format(id=bad), json=body, headers=alice.headers)
            if method == "HEAD":
                assert response.status_code == 400 and response.content == b"", (method, template)
            else:
                assert_error(response, 400, "bad_request", id="malformed")
                assert response.json()["origin"] == "path"


async def test_bodies_that_are_not_json_objects(http, world):
    alice = world["alice"]
    for method, template in BODY_ROUTES:
        url = template.format(**world)
        for content in (b"{not json", b"\xff\xfe", b"[1, 2]", b"42", b"null", b'"text"', b'{"a": NaN}', b"[" * 100_000):
            response = await http.request(method, url, content=content, headers={**alice.headers, "content-type": "application/json"})
            assert_error(response, 400, "bad_request")
        empty = await http.request(method, url, headers=alice.headers)
        assert_error(empty, 400, body="required")


async def test_wrong_types_in_bodies(http, world):
    alice = world["alice"]
    cases = [
        ("POST", "/boxes", {"title": ["t"], "public_key": 1}),
        ("POST", f"/boxes/{world['box']}/events", {"type": 5}),
        ("POST", f"/boxes/{world['box']}/events", {"type": "msg.text", "content": [1], "referrer_id": 7}),
        ("POST", f"/boxes/{world['box']}/batch-events", {"batch_type": "accesses", "events": "all"}),
        ("POST", f"/boxes/{world['box']}/batch-events", {"batch_type": "accesses", "events": [5]}),
        ("POST", f"/events/{world['event']}/shares", {"targets": {"box_id": world["box"]}}),
        ("PATCH", f"/identities/{world['me']}", {"avatar_url": 3}),
        ("DELETE", f"/boxes/{world['box']}", {"user_confirmation": True}),
        ("POST", "/auth/login", {"email": ["a@example.com"], "password": "x"}),
    ]
    for method, url, body in cases:
        assert_error(await http.request(method, url, json=body, headers=alice.headers), 400, "bad_request")


async def test_body_over_the_json_limit_is_413(http, world):
    alice = world["alice"]
    big = b'{"type": "msg.text", "content": {"encrypted": "' + b"A" * (1 << 20) + b'"}}'
    response = await http.post(f"/boxes/{world['box']}/events", content=big, headers={**alice.headers, "content-type": "application/json"})
    assert_error(response, 413, "request_entity_too_large")

    async def chunks():
        for _ in range(20):
            yield b"A" * 65536

    streamed = await http.post("/boxes", content=chunks(), headers={**alice.headers, "content-type": "application/json"})
    assert_error(streamed, 413)


async def test_head_errors_have_no_body(http, world):
    response = await http.head(f"/boxes/{world['box']}/events")
    assert response.status_code == 401 and response.content == b""


async def test_wrong_method_is_405_in_the_error_format(http, world):
    response = await http.put(f"/boxes/{world['box']}/events", json={}, headers=world["alice"].headers)
    assert_error(response, 405, "method_not_allowed")


async def test_nul_characters_are_refused(http, world):
    alice = world["alice"]
    cases = [
        ("POST", "/auth/signup", {"email": "nul\u0000@example.com", "password": "long enough pw", "display_name": "N"}),
        ("POST", "/auth/code", {"email": "a\u0000b@example.com"}),
        ("POST", "/boxes", {"title": "a\u0000b", "public_key": "x"}),
        ("PATCH", f"/identities/{world['me']}", {"display_name": "a\u0000"}),
        ("POST", f"/boxes/{world['box']}/events", {"type": "msg.text", "content": {"encrypted": "AAAA", "k\u0000": 1}}),
    ]
    for method, url, body in cases:
        response = await http.request(method, url, json=body, headers=alice.headers)  # NUL travels as \u0000
        assert_error(response, 400, body="invalid")
    lookup = await http.get("/identities/pubkey", params={"identifier_value": "a\x00b@example.com"}, headers=alice.headers)
    assert_error(lookup, 400, identifier_value="invalid")

