"""Authorization matrix (issue 7 part 7): every route × every kind of caller.

Callers: anonymous; a member logged in by code (ACR 1); a stranger (ACR 2, not in the
box); a member; the admin; a kicked member; the admin's cookies without X-CSRF-Token;
the admin's cookies with a wrong one. Every request is well formed (the allowed
callers get their 2xx — checked), so a refusal is an authorization decision, and no
cell the contract refuses may answer 2xx.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from boxtui.core.encoding import b64u_encode
from boxtui.crypto import share_hash
from tests.conftest import PASSWORD
from tests.server.helpers import (
    assert_error,
    batch,
    ciphertext,
    create_box,
    invite,
    join,
    post_text,
    random_key,
    rule,
    signup_login,
    upload_file,
)

ROLES = ("anonymous", "acr1", "stranger", "member", "admin", "kicked", "cookie_no_csrf", "cookie_bad_csrf")
AUTHED = frozenset(ROLES) - {"anonymous"}
COOKIES = frozenset({"cookie_no_csrf", "cookie_bad_csrf"})  # the admin's, as a browser holds them
READ_BOX = frozenset({"acr1", "member", "admin"}) | COOKIES
WRITE_BOX = frozenset({"acr1", "member", "admin"})
ACR2 = frozenset({"stranger", "member", "admin", "kicked"})
ADMIN_READ = frozenset({"admin"}) | COOKIES


@dataclass
class Cell:
    method: str
    path: str
    allowed: frozenset[str]
    json: Any = None
    form: dict[str, Any] | None = None
    raw: bytes | None = None
    must_succeed: bool = True  # the admin (or first allowed caller) gets a 2xx
    extra: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def world(http):
    alice = await signup_login(http, "alice@example.com", name="Alice")
    bob = await signup_login(http, "bob@example.com", name="Bob")
    carol = await signup_login(http, "carol@example.com", acr=1)
    dave = await signup_login(http, "dave@example.com")
    erin = await signup_login(http, "erin@example.com")
    share = os.urandom(32)
    box = await create_box(
        http, alice, key_share={"misakey_share": b64u_encode(share), "other_share_hash": share_hash(share), "encrypted_invitation_key_share": ciphertext()}
    )
    for user in (bob, carol, erin):
        await invite(http, alice, box["id"], user.email)
        await join(http, user, box["id"])
    rules = await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)
    erin_rule = next(e for e in rules.json() if e["content"]["value"] == erin.email)
    await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": erin_rule["id"]}])  # Erin is kicked
    message = await post_text(http, alice, box["id"])
    file_event = await upload_file(http, alice, box["id"], b"matrix bytes")
    file_id = file_event["content"]["encrypted_file_id"]
    other_file = (await upload_file(http, alice, box["id"], b"another"))["content"]["encrypted_file_id"]
    saved = await http.post(
        "/saved-files", json={"encrypted_file_id": file_id, "identity_id": alice.id, "encrypted_metadata": ciphertext(), "key_fingerprint": b64u_encode(os.urandom(64))}, headers=alice.headers
    )
    assert saved.status_code == 201, saved.text
    alice_key = random_key()
    await http.patch(f"/identities/{alice.id}", json={"public_key": alice_key}, headers=alice.headers)
    bobs_box = await create_box(http, bob, "Bob's")
    await batch(http, bob, bobs_box["id"], [{**rule(alice.email, auto_invite=True), "extra": {alice_key: ciphertext()}}])
    (action,) = (await http.get("/crypto/actions", headers=alice.headers)).json()
    login = await http.post("/auth/login", json={"email": alice.email, "password": PASSWORD})
    cookies = {"accesstoken": login.json()["access_token"], "tokentype": "bearer"}
    http.cookies.clear()
    return {
        "users": {"acr1": carol, "stranger": dave, "member": bob, "admin": alice, "kicked": erin},
        "cookies": cookies, "csrf": login.json()["csrf_token"], "box": box["id"], "event": message["id"], "file": file_id,
        "other_file": other_file, "saved": saved.json()["id"], "action": action["id"], "hash": share_hash(share), "alice": alice.id,
    }  # fmt: skip


def cells(w: dict[str, Any]) -> list[Cell]:
    box, event, alice = w["box"], w["event"], w["alice"]
    fields = {"msg_encrypted_content": ciphertext(), "msg_public_key": random_key()}
    mail = b"From: x@example.org\r\nSubject: matrix\r\n\r\nhello\r\n"
    return [
        Cell("GET", "/auth/session", AUTHED),
        Cell("GET", "/identities/me", AUTHED),
        Cell("PATCH", f"/identities/{alice}", frozenset({"admin"}), json={"display_name": "Alice"}),
        Cell("GET", f"/identities/pubkey?identifier_value={'alice@example.com'}", ACR2 | COOKIES),
        Cell("POST", "/boxes", AUTHED - COOKIES, json={"title": "New", "public_key": random_key()}),
        Cell("GET", "/boxes/joined", AUTHED),
        Cell("HEAD", "/boxes/joined", AUTHED),
        Cell("GET", f"/boxes/{box}", READ_BOX),
        Cell("GET", f"/boxes/{box}/members", READ_BOX),
        Cell("HEAD", f"/boxes/{box}/members", READ_BOX),
        Cell("GET", f"/boxes/{box}/accesses", ADMIN_READ),
        Cell("HEAD", f"/boxes/{box}/accesses", ADMIN_READ),
        Cell("PUT", f"/boxes/{box}/new-events-count/ack", WRITE_BOX),
        Cell("POST", f"/boxes/{box}/events", WRITE_BOX, json={"type": "msg.text", "content": {"encrypted": ciphertext()}}),
        Cell("GET", f"/boxes/{box}/events", READ_BOX),
        Cell("HEAD", f"/boxes/{box}/events", READ_BOX),
        Cell("GET", f"/boxes/{box}/files", READ_BOX),
        Cell("HEAD", f"/boxes/{box}/files", READ_BOX),
        Cell("POST", f"/boxes/{box}/batch-events", frozenset({"admin"}), json={"batch_type": "accesses", "events": [rule("example.net", "email_domain")]}),
        Cell("GET", f"/events/{event}", READ_BOX),
        Cell("POST", f"/events/{event}/shares", WRITE_BOX, json={"targets": [{"box_id": box, "content": {"encrypted": ciphertext()}}]}),
        Cell("POST", f"/boxes/{box}/encrypted-files", WRITE_BOX, form=fields),
        Cell("GET", f"/encrypted-files/{w['file']}", READ_BOX),
        Cell("POST", f"/boxes/{box}/email", WRITE_BOX, raw=mail),
        Cell("POST", "/saved-files", frozenset({"admin"}), json={"encrypted_file_id": w["other_file"], "identity_id": alice, "encrypted_metadata": ciphertext(), "key_fingerprint": b64u_encode(os.urandom(64))}),
        Cell("GET", f"/saved-files?identity_id={alice}", ADMIN_READ),
        Cell("HEAD", f"/saved-files?identity_id={alice}", ADMIN_READ),
        Cell("POST", f"/box-users/{alice}/saved-files", frozenset({"admin"}), form={"encrypted_metadata": ciphertext(), "key_fingerprint": b64u_encode(os.urandom(64))}),
        Cell("GET", f"/box-key-shares/{w['hash']}", READ_BOX),
        Cell("GET", f"/box-key-shares/encrypted-invitation-key-share?box_id={box}", READ_BOX),
        Cell("GET", f"/boxes/{box}/public?other_share_hash={w['hash']}", frozenset(ROLES)),
        Cell("GET", "/crypto/actions", AUTHED),
        Cell("HEAD", "/crypto/actions", AUTHED),
        Cell("PUT", "/crypto/secret-storage", ACR2, json={"data": ciphertext()}),
        Cell("GET", "/crypto/secret-storage", ACR2 | COOKIES, must_succeed=False),  # 404 until one is stored
        Cell("DELETE", f"/saved-files/{w['saved']}", frozenset({"admin"})),
        Cell("DELETE", f"/crypto/actions/{w['action']}", frozenset({"admin"})),
        # Last: these end what the others use.
        Cell("DELETE", f"/boxes/{box}", frozenset({"admin"}), json={"user_confirmation": "delete"}),
        Cell("POST", "/auth/logout", AUTHED - COOKIES),
    ]


def _request_kwargs(cell: Cell, role: str, w: dict[str, Any]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies = None
    if role in w["users"]:
        headers.update(w["users"][role].headers)
    elif role in COOKIES:
        cookies = w["cookies"]
        if role == "cookie_bad_csrf":
            headers["X-CSRF-Token"] = "not-the-token"
    kwargs: dict[str, Any] = {"headers": headers}
    if cell.json is not None:
        kwargs["json"] = cell.json
    if cell.form is not None:
        kwargs["data"] = cell.form
        kwargs["files"] = {"encrypted_file": ("blob", b"ciphertext of the matrix")}
    if cell.raw is not None:
        kwargs["content"] = cell.raw
        headers["Content-Type"] = "message/rfc822"
    return {**kwargs, "_cookies": cookies}


async def test_no_2xx_where_the_contract_refuses(http, world):
    leaks, unreached, table = [], [], []
    for cell in cells(world):
        row = []
        # Refused callers first, allowed ones after (the admin last): nothing they do
        # can make a later refusal look right by accident.
        order = sorted(ROLES, key=lambda r: (r in cell.allowed, r == "admin"))
        for role in order:
            kwargs = _request_kwargs(cell, role, world)
            cookies = kwargs.pop("_cookies")
            http.cookies.clear()
            if cookies:
                http.cookies.update(cookies)
            response = await http.request(cell.method, cell.path, **kwargs)
            http.cookies.clear()
            status = response.status_code
            row.append(f"{role}:{status}")
            if role not in cell.allowed:
                if 200 <= status < 300:
                    leaks.append(f"{cell.method} {cell.path} as {role}: {status} {response.text[:200]}")
                else:
                    assert status in (400, 401, 403, 404), f"{cell.method} {cell.path} as {role}: {status}"
                    if cell.method != "HEAD":
                        assert_error(response, status)
            elif role == "admin" and cell.must_succeed and not 200 <= status < 300 and "admin" in cell.allowed:
                unreached.append(f"{cell.method} {cell.path} as admin: {status} {response.text[:200]}")
        table.append(f"{cell.method:6} {cell.path[:60]:60} " + " ".join(row))
    print("\n" + "\n".join(table))
    assert leaks == []
    assert unreached == [], "the matrix's requests must be valid, else a refusal proves nothing"


async def test_get_by_ids_shows_nothing_to_outsiders(http, world):
    """``GET /events?ids=`` answers 200 with per-item errors: no event view leaks."""
    for role in ("stranger", "kicked"):
        response = await http.get("/events", params={"ids": world["event"]}, headers=world["users"][role].headers)
        assert response.status_code in (200, 403, 404)
        if response.status_code == 200:
            assert all(set(item) == {"error"} for item in response.json()), response.json()
    assert_error(await http.get("/events", params={"ids": world["event"]}), 401)
    member = await http.get("/events", params={"ids": world["event"]}, headers=world["users"]["member"].headers)
    assert member.status_code == 200 and member.json()[0]["id"] == world["event"]
