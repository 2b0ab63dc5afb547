"""Accounts, codes, login, cookies + CSRF, logout, sessions, rate limit (PROTOCOL §2)."""

from __future__ import annotations

from boxtui.server.mailer import latest_code
from tests.conftest import PASSWORD
from tests.server.helpers import assert_error, auth, outbox_of, signup_login


async def test_signup_then_password_login_gives_acr2(http):
    response = await http.post("/auth/signup", json={"email": "Alice@Example.com", "password": PASSWORD, "display_name": "Alice"})
    assert response.status_code == 201
    identity = response.json()
    assert identity["identifier_value"] == "alice@example.com"
    assert identity["identifier_kind"] == "email"
    assert identity["display_name"] == "Alice"
    assert identity["has_account"] is True
    assert identity["public_key"] is None

    response = await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200
    session = response.json()
    assert set(session) == {"access_token", "token_type", "acr", "expires_at", "csrf_token", "identity"}
    assert session["acr"] == 2 and session["token_type"] == "bearer"
    assert session["identity"]["id"] == identity["id"]
    assert session["expires_at"].endswith("Z")

    http.cookies.clear()  # authenticate by bearer only
    info = await http.get("/auth/session", headers=auth(session["access_token"]))
    assert info.status_code == 200
    assert info.json()["acr"] == 2
    assert info.json()["identity"]["id"] == identity["id"]
    assert info.json()["csrf_token"] == session["csrf_token"]


async def test_signup_rules(http):
    await signup_login(http, "alice@example.com")
    duplicate = await http.post("/auth/signup", json={"email": "ALICE@example.com", "password": PASSWORD, "display_name": "A"})
    assert_error(duplicate, 409, "conflict", email="conflict")
    short = await http.post("/auth/signup", json={"email": "bob@example.com", "password": "short", "display_name": "B"})
    assert_error(short, 400, "bad_request", password="invalid")
    bad_email = await http.post("/auth/signup", json={"email": "not-an-email", "password": PASSWORD, "display_name": "B"})
    assert_error(bad_email, 400, email="invalid")
    missing = await http.post("/auth/signup", json={"email": "bob@example.com", "password": PASSWORD})
    assert_error(missing, 400, display_name="required")
    unknown = await http.post("/auth/signup", json={"email": "bob@example.com", "password": PASSWORD, "display_name": "B", "admin": True})
    assert_error(unknown, 400, admin="invalid")
    wrong_type = await http.post("/auth/signup", json={"email": "bob@example.com", "password": 12345678, "display_name": "B"})
    assert_error(wrong_type, 400, password="malformed")


async def test_code_login_gives_acr1_and_creates_identity_without_account(http):
    response = await http.post("/auth/code", json={"email": "carol@example.com"})
    assert response.status_code == 204
    code = latest_code(outbox_of(http), "carol@example.com")
    assert code is not None and len(code) == 6 and code.isdigit()
    response = await http.post("/auth/login", json={"email": "carol@example.com", "code": code})
    assert response.status_code == 200
    session = response.json()
    assert session["acr"] == 1
    assert session["identity"]["has_account"] is False
    http.cookies.clear()
    # A code is single-use.
    again = await http.post("/auth/login", json={"email": "carol@example.com", "code": code})
    assert_error(again, 401, "unauthorized")


async def test_code_dies_after_five_wrong_tries(http):
    await http.post("/auth/code", json={"email": "dan@example.com"})
    code = latest_code(outbox_of(http), "dan@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert_error(await http.post("/auth/login", json={"email": "dan@example.com", "code": wrong}), 401)
    assert_error(await http.post("/auth/login", json={"email": "dan@example.com", "code": code}), 401)
    # A new code works again.
    await http.post("/auth/code", json={"email": "dan@example.com"})
    fresh = latest_code(outbox_of(http), "dan@example.com")
    assert (await http.post("/auth/login", json={"email": "dan@example.com", "code": fresh})).status_code == 200


async def test_new_code_retires_the_previous_one(http):
    await http.post("/auth/code", json={"email": "erin@example.com"})
    first = latest_code(outbox_of(http), "erin@example.com")
    await http.post("/auth/code", json={"email": "erin@example.com"})
    second = latest_code(outbox_of(http), "erin@example.com")
    if first != second:
        assert_error(await http.post("/auth/login", json={"email": "erin@example.com", "code": first}), 401)
    assert (await http.post("/auth/login", json={"email": "erin@example.com", "code": second})).status_code == 200


async def test_wrong_credentials_are_401_alike(http):
    await signup_login(http, "alice@example.com")
    wrong = await http.post("/auth/login", json={"email": "alice@example.com", "password": "wrong password"})
    unknown = await http.post("/auth/login", json={"email": "nobody@example.com", "password": "wrong password"})
    assert_error(wrong, 401, "unauthorized")
    assert_error(unknown, 401, "unauthorized")
    assert wrong.json()["desc"] == unknown.json()["desc"]
    both = await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD, "code": "123456"})
    assert_error(both, 400)
    neither = await http.post("/auth/login", json={"email": "alice@example.com"})
    assert_error(neither, 400)


async def test_rate_limit_after_ten_failures(http):
    await signup_login(http, "alice@example.com")
    for _ in range(11):  # more than 10 (PROTOCOL §2)
        assert_error(await http.post("/auth/login", json={"email": "alice@example.com", "password": "nope nope"}), 401)
    limited = await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert_error(limited, 429, "too_many_requests")
    # Another e-mail from the same address is not limited.
    await signup_login(http, "bob@example.com")


async def test_cookies_and_csrf(http):
    await signup_login(http, "alice@example.com")
    response = await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    session = response.json()
    cookies = {c.name: c for c in http.cookies.jar}
    assert cookies["accesstoken"].value == session["access_token"]
    assert cookies["tokentype"].value == "bearer"
    assert cookies["_csrf"].value == session["csrf_token"]
    set_cookie = "\n".join(response.headers.get_list("set-cookie")).lower()
    assert "accesstoken=" in set_cookie and "httponly" in set_cookie and "samesite=strict" in set_cookie

    # Reads work with the cookies alone.
    assert (await http.get("/identities/me")).status_code == 200
    # Unsafe requests need the CSRF header: missing → 400, wrong → 403.
    body = {"display_name": "Alice C."}
    me = session["identity"]["id"]
    assert_error(await http.patch(f"/identities/{me}", json=body), 400, **{"x-csrf-token": "required"})
    assert_error(await http.patch(f"/identities/{me}", json=body, headers={"X-CSRF-Token": "nope"}), 403, **{"x-csrf-token": "invalid"})
    ok = await http.patch(f"/identities/{me}", json=body, headers={"X-CSRF-Token": session["csrf_token"]})
    assert ok.status_code == 200 and ok.json()["display_name"] == "Alice C."
    # Bearer and cookies at once → 401.
    assert_error(await http.get("/identities/me", headers=auth(session["access_token"])), 401)

    logout = await http.post("/auth/logout", headers={"X-CSRF-Token": session["csrf_token"]})
    assert logout.status_code == 204
    http.cookies.clear()
    assert_error(await http.get("/auth/session", headers=auth(session["access_token"])), 401)


async def test_logout_revokes_bearer_token(http):
    alice = await signup_login(http, "alice@example.com")
    assert (await http.post("/auth/logout", headers=alice.headers)).status_code == 204
    assert_error(await http.get("/identities/me", headers=alice.headers), 401, "unauthorized")


async def test_missing_and_bad_tokens(http):
    assert_error(await http.get("/auth/session"), 401, "unauthorized")
    assert_error(await http.get("/auth/session", headers={"Authorization": "Basic abc"}), 401, authorization="malformed")
    assert_error(await http.get("/auth/session", headers=auth("not-a-token")), 401)


async def test_acr1_cannot_do_acr2_things(http):
    carol = await signup_login(http, "carol@example.com", acr=1)
    response = await http.get("/identities/pubkey", params={"identifier_value": "a@example.com"}, headers=carol.headers)
    body = assert_error(response, 403, "forbidden", acr="forbidden", required_acr="2")
    assert body["origin"] == "acr"


async def test_signup_of_an_identity_without_account_keeps_its_id(http):
    carol = await signup_login(http, "carol@example.com", acr=1)
    response = await http.post("/auth/signup", json={"email": "carol@example.com", "password": PASSWORD, "display_name": "Carol"})
    assert response.status_code == 201
    assert response.json()["id"] == carol.id
    assert response.json()["has_account"] is True


async def test_bad_bodies(http):
    assert_error(await http.post("/auth/login", content=b"{nope", headers={"content-type": "application/json"}), 400, body="malformed")
    assert_error(await http.post("/auth/login", json=["a", "list"]), 400)
    assert_error(await http.post("/auth/code"), 400, body="required")
    big = b'{"email": "' + b"a" * (1 << 20) + b'"}'
    assert_error(await http.post("/auth/code", content=big, headers={"content-type": "application/json"}), 413, "request_entity_too_large")


async def test_code_requests_are_limited_per_email(http):
    for _ in range(10):
        assert (await http.post("/auth/code", json={"email": "frank@example.com"})).status_code == 204
    assert_error(await http.post("/auth/code", json={"email": "frank@example.com"}), 429, "too_many_requests")
    # The last code sent still works.
    code = latest_code(outbox_of(http), "frank@example.com")
    assert (await http.post("/auth/login", json={"email": "frank@example.com", "code": code})).status_code == 200
