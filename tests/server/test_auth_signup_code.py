"""Signup proving the e-mail with a one-time code (``signup_requires_code``), on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from boxtui.server.app import create_app
from boxtui.server.mailer import latest_code
from boxtui.server.settings import ServerSettings
from tests.conftest import PASSWORD, asgi_client, make_settings
from tests.server.helpers import assert_error, auth, login_with_code, outbox_of


@pytest.fixture
async def strict_http(server_settings: ServerSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server (same backend as ``http``) that signs up only with a code."""
    settings = make_settings(server_settings.data_dir, server_settings.database_url, signup_requires_code=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


async def fresh_code(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/auth/code", json={"email": email})
    assert response.status_code == 204, response.text
    code = latest_code(outbox_of(http), email)
    assert code is not None
    return code


def assert_code_detail(response: httpx.Response, value: str) -> None:
    """A 400 naming the ``code`` field (``assert_error`` takes ``code=`` as the error code)."""
    assert assert_error(response, 400, "bad_request")["details"].get("code") == value, response.text


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def signup_body(email: str, code: str | None = None, name: str = "Bob") -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, "display_name": name}
    if code is not None:
        body["code"] = code
    return body


async def test_required_code_missing_wrong_right_then_used(strict_http):
    http = strict_http
    assert_code_detail(await http.post("/auth/signup", json=signup_body("bob@example.com")), "required")
    # Without a code request there is no code to match.
    assert_error(await http.post("/auth/signup", json=signup_body("bob@example.com", "123456")), 401, "unauthorized")

    code = await fresh_code(http, "bob@example.com")
    assert_error(await http.post("/auth/signup", json=signup_body("bob@example.com", other_than(code))), 401, "unauthorized")
    response = await http.post("/auth/signup", json=signup_body("Bob@Example.com", f" {code} "))
    assert response.status_code == 201, response.text
    identity = response.json()
    assert identity["identifier_value"] == "bob@example.com" and identity["has_account"] is True

    login = await http.post("/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["acr"] == 2 and login.json()["identity"]["id"] == identity["id"]
    http.cookies.clear()

    # The code is spent: neither a second signup nor a code login takes it.
    assert_error(await http.post("/auth/signup", json=signup_body("bob@example.com", code)), 401, "unauthorized")
    assert_error(await http.post("/auth/login", json={"email": "bob@example.com", "code": code}), 401, "unauthorized")
    # With a fresh code the e-mail is proven, and the account already exists.
    again = await fresh_code(http, "bob@example.com")
    assert_error(await http.post("/auth/signup", json=signup_body("bob@example.com", again)), 409, "conflict", email="conflict")


async def test_code_only_identity_cannot_be_taken_over(strict_http):
    http = strict_http
    carol = await login_with_code(http, "carol@example.com")
    code = await fresh_code(http, "carol@example.com")  # carol's, unknown to mallory
    assert_code_detail(await http.post("/auth/signup", json=signup_body("carol@example.com", name="Mallory")), "required")
    for _ in range(5):
        guess = await http.post("/auth/signup", json=signup_body("carol@example.com", other_than(code), "Mallory"))
        assert_error(guess, 401, "unauthorized")
    # Five wrong tries killed the code, as for a code login.
    assert_error(await http.post("/auth/signup", json=signup_body("carol@example.com", code, "Carol")), 401)
    me = await http.get("/identities/me", headers=auth(carol["access_token"]))
    assert me.status_code == 200 and me.json()["has_account"] is False

    response = await http.post("/auth/signup", json=signup_body("carol@example.com", await fresh_code(http, "carol@example.com"), "Carol"))
    assert response.status_code == 201, response.text
    assert response.json()["id"] == carol["identity"]["id"]
    assert response.json()["display_name"] == "Carol"


async def test_wrong_signup_codes_count_as_failed_logins(strict_http):
    http = strict_http
    for _ in range(11):  # more than 10 (PROTOCOL §2)
        assert_error(await http.post("/auth/signup", json=signup_body("dave@example.com", "000000")), 401)
    code = await fresh_code(http, "dave@example.com")
    assert_error(await http.post("/auth/signup", json=signup_body("dave@example.com", code)), 429, "too_many_requests")
    assert_error(await http.post("/auth/login", json={"email": "dave@example.com", "code": code}), 429, "too_many_requests")
    # Another e-mail from the same address is not limited.
    other = await http.post("/auth/signup", json=signup_body("erin@example.com", await fresh_code(http, "erin@example.com")))
    assert other.status_code == 201, other.text


async def test_default_server_takes_an_optional_code(http):
    plain = await http.post("/auth/signup", json=signup_body("alice@example.com", name="Alice"))
    assert plain.status_code == 201, plain.text

    code = await fresh_code(http, "bob@example.com")
    assert_error(await http.post("/auth/signup", json=signup_body("bob@example.com", other_than(code))), 401, "unauthorized")
    proven = await http.post("/auth/signup", json=signup_body("bob@example.com", code))
    assert proven.status_code == 201, proven.text
    login = await http.post("/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["acr"] == 2

    assert_code_detail(await http.post("/auth/signup", json={**signup_body("carol@example.com"), "code": 123456}), "malformed")
    assert_code_detail(await http.post("/auth/signup", json=signup_body("carol@example.com", "1" * 33)), "invalid")
