"""``client.auth`` and ``client.identities`` against the real server."""

from __future__ import annotations

import pytest

from boxtui.client import BadRequest, Conflict, Forbidden, Unauthorized
from boxtui.core.wire import Identity, Session, SessionInfo
from boxtui.server.mailer import latest_code
from tests.client.conftest import random_key
from tests.conftest import PASSWORD


async def test_signup_login_session_logout(connect):
    client = await connect()
    identity = await client.auth.signup("Ada@Example.org", PASSWORD, "Ada")
    assert isinstance(identity, Identity)
    assert identity.display_name == "Ada"

    session = await client.auth.login("ada@example.org", password=PASSWORD)
    assert isinstance(session, Session)
    assert session.acr == 2
    assert client.token == session.access_token

    info = await client.auth.session()
    assert isinstance(info, SessionInfo)
    assert info.identity.id == identity.id and info.acr == 2

    await client.auth.logout()
    assert client.token is None
    with pytest.raises(Unauthorized):
        await client.auth.session()

    # the revoked token stays dead even when set again by hand
    client.token = session.access_token
    with pytest.raises(Unauthorized) as caught:
        await client.identities.me()
    assert caught.value.status == 401 and caught.value.code == "unauthorized"


async def test_duplicate_signup_and_wrong_password(connect):
    client = await connect()
    await client.auth.signup("ada@example.org", PASSWORD, "Ada")
    with pytest.raises(Conflict):
        await client.auth.signup("ada@example.org", PASSWORD, "Ada again")
    with pytest.raises(Unauthorized):
        await client.auth.login("ada@example.org", password="not the password")
    assert client.token is None
    with pytest.raises(BadRequest) as caught:
        await client.auth.signup("ada2@example.org", "short", "Ada")
    assert "password" in caught.value.details


async def test_login_needs_exactly_one_secret(connect):
    client = await connect()
    with pytest.raises(ValueError):
        await client.auth.login("ada@example.org")
    with pytest.raises(ValueError):
        await client.auth.login("ada@example.org", password=PASSWORD, code="123456")


async def test_code_login_gives_acr1(connect, sqlite_app):
    client = await connect()
    await client.auth.request_code("carol@example.org")
    code = latest_code(sqlite_app.state.settings.outbox_dir, "carol@example.org")
    assert code is not None
    session = await client.auth.login("carol@example.org", code=code)
    assert session.acr == 1
    me = await client.identities.me()
    assert me.id == session.identity.id
    # ACR 2 routes answer 403 with the protocol's acr details
    with pytest.raises(Forbidden) as caught:
        await client.identities.pubkey("ada@example.org")
    error = caught.value
    assert error.code == "forbidden"
    assert error.origin == "acr"
    assert error.details == {"acr": "forbidden", "required_acr": "2"}
    assert str(error).startswith("403 forbidden: ")
    assert "acr=forbidden" in str(error)


async def test_identities_me_update_pubkey(ada, bob):
    me = await ada.client.identities.me()
    assert isinstance(me, Identity)
    assert me.identifier_value == "ada@example.org"

    key = random_key()
    updated = await ada.client.identities.update(me.id, display_name="Ada L.", public_key=key)
    assert updated.display_name == "Ada L."
    assert updated.public_key == key
    # only the given fields change
    again = await ada.client.identities.update(me.id, avatar_url="https://example.org/a.png")
    assert again.display_name == "Ada L." and again.avatar_url == "https://example.org/a.png"

    assert await bob.client.identities.pubkey("ada@example.org") == [key]
    assert await bob.client.identities.pubkey("nobody@example.org") == []

    with pytest.raises(Forbidden):
        await bob.client.identities.update(me.id, display_name="Not Ada")


async def test_cookie_mode_sends_cookies_and_csrf(connect):
    client = await connect(use_cookies=True)
    await client.auth.signup("ada@example.org", PASSWORD, "Ada")
    session = await client.auth.login("ada@example.org", password=PASSWORD)
    assert "Authorization" not in client.auth_headers("POST")
    assert client.auth_headers("POST") == {"X-CSRF-Token": session.csrf_token}
    assert "accesstoken=" in (client.cookie_header() or "")
    me = await client.identities.me()
    # an unsafe request: the server checks the CSRF header against the cookie session
    assert (await client.identities.update(me.id, display_name="Ada C.")).display_name == "Ada C."
    client.csrf_token = "wrong"
    with pytest.raises(Forbidden):
        await client.identities.update(me.id, display_name="Nope")
    client.csrf_token = session.csrf_token
    await client.auth.logout()
    assert client.cookie_header() is None
    with pytest.raises(Unauthorized):
        await client.identities.me()
