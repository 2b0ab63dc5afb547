"""Safe defaults (issue 7 part 4): proxy headers, login limits, cookies, headers, file modes, logs."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from boxtui.server.mailer import latest_code
from tests.conftest import PASSWORD, asgi_client, make_settings
from tests.server.helpers import assert_error, signup_login, upload_file, box_with_member


async def _fail_login(http, email: str, **headers: str):
    return await http.post("/auth/login", json={"email": email, "password": "wrong password"}, headers=headers)


async def test_more_than_ten_failures_lock_the_pair_not_exactly_ten(http):
    await signup_login(http, "alice@example.com")
    for _ in range(10):
        assert_error(await _fail_login(http, "alice@example.com"), 401)
    # Exactly ten failures: the right password still works (the contract says "more than 10").
    ok = await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert ok.status_code == 200, ok.text
    # The success does not forget the failures of the window: one more and the pair is locked.
    assert_error(await _fail_login(http, "alice@example.com"), 401)
    assert_error(await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD}), 429, "too_many_requests")


async def test_one_address_guessing_across_many_accounts_is_limited(http):
    emails = [f"user{i}@example.com" for i in range(30)]
    statuses = [(await _fail_login(http, email)).status_code for email in emails]
    # 20 failures from one address are allowed, whatever the e-mails; then 429 for that address.
    assert statuses[:20] == [401] * 20
    assert set(statuses[21:]) == {429}, statuses
    response = await http.post("/auth/login", json={"email": "someone-else@example.com", "password": "whatever1"})
    assert_error(response, 429, "too_many_requests", client="forbidden")


async def test_rotating_x_forwarded_for_does_not_reset_the_limit(server_settings):
    """By default no proxy is trusted: X-Forwarded-For is ignored, even from loopback."""
    from boxtui.server.app import create_app

    app = create_app(server_settings)
    async with app.router.lifespan_context(app):
        transport_client = ("127.0.0.1", 40000)
        import httpx

        transport = httpx.ASGITransport(app=app, client=transport_client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await signup_login(http, "alice@example.com")
            statuses = [
                (await _fail_login(http, "alice@example.com", **{"X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"})).status_code
                for i in range(12)
            ]
            assert statuses == [401] * 11 + [429]


async def test_a_trusted_proxy_names_the_client(tmp_path):
    import httpx

    from boxtui.server.app import create_app

    settings = make_settings(tmp_path / "data", forwarded_allow_ips="127.0.0.1")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await signup_login(http, "alice@example.com")
            for _ in range(11):
                assert_error(await _fail_login(http, "alice@example.com", **{"X-Forwarded-For": "203.0.113.7"}), 401)
            assert_error(await _fail_login(http, "alice@example.com", **{"X-Forwarded-For": "203.0.113.7"}), 429)
            # Another client behind the same proxy is another address.
            assert_error(await _fail_login(http, "alice@example.com", **{"X-Forwarded-For": "203.0.113.8"}), 401)
            # The proxy says the client came over HTTPS: the cookies are Secure.
            login = await http.post(
                "/auth/login", json={"email": "alice@example.com", "password": PASSWORD}, headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
            )
            assert login.status_code == 200
            cookies = login.headers.get_list("set-cookie")
            assert len(cookies) == 3 and all("secure" in c.lower() for c in cookies), cookies


def _set_cookies(response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def test_cookies_are_secure_only_over_https_or_when_told(tmp_path):
    import httpx

    from boxtui.server.app import create_app

    for index, (secure_setting, base_url, expect_secure) in enumerate([
        (None, "http://testserver", False),
        (None, "https://testserver", True),
        (True, "http://testserver", True),
        (False, "https://testserver", False),
    ]):
        settings = make_settings(tmp_path / f"data-{index}", secure_cookies=secure_setting)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
                await http.post("/auth/signup", json={"email": "a@example.com", "password": PASSWORD, "display_name": "A"})
                login = await http.post("/auth/login", json={"email": "a@example.com", "password": PASSWORD})
                assert login.status_code == 200
                cookies = _set_cookies(login)
                assert len(cookies) == 3
                assert all(("; secure" in c.lower()) == expect_secure for c in cookies), (secure_setting, base_url, cookies)
    # A proxy that is not trusted cannot make them Secure (nor anything else).
    settings = make_settings(tmp_path / "untrusted")
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        await http.post("/auth/signup", json={"email": "a@example.com", "password": PASSWORD, "display_name": "A"})
        login = await http.post("/auth/login", json={"email": "a@example.com", "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"})
        assert not any("secure" in c.lower() for c in _set_cookies(login))


async def test_nosniff_everywhere_and_no_store_on_auth_and_keys(http):
    alice, bob, box = await box_with_member(http)
    responses = [
        await http.get("/healthz"),
        await http.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD}),
        await http.get("/auth/session", headers=alice.headers),
        await http.get("/crypto/secret-storage", headers=alice.headers),
        await http.get(f"/boxes/{box['id']}", headers=alice.headers),
        await http.get("/nowhere"),
        await http.post("/auth/login", json={"email": "x"}),
    ]
    http.cookies.clear()
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url
        assert response.headers["cache-control"] == "no-store", response.request.url
    event = await upload_file(http, alice, box["id"], b"blob bytes")
    download = await http.get(f"/encrypted-files/{event['content']['encrypted_file_id']}", headers=bob.headers)
    assert download.status_code == 200 and download.headers["x-content-type-options"] == "nosniff"


def _modes(root) -> dict[str, int]:
    found = {}
    for directory, _, files in os.walk(root):
        found[directory] = stat.S_IMODE(os.stat(directory).st_mode)
        for name in files:
            path = os.path.join(directory, name)
            found[path] = stat.S_IMODE(os.stat(path).st_mode)
    return found


async def test_data_dir_is_0700_and_every_file_0600(tmp_path, caplog):
    settings = make_settings(tmp_path / "data")
    # An installation from before: world-readable folders and files.
    (settings.data_dir / "outbox").mkdir(parents=True, mode=0o755)
    old = settings.data_dir / "outbox" / "20200101T000000000000Z_old@example.com.eml"
    old.write_text("X-Boxtui-Code: 123456\n\nold code\n")
    os.chmod(old, 0o644)
    os.chmod(settings.data_dir, 0o755)
    from boxtui.server.app import create_app

    caplog.set_level(logging.INFO, logger="boxtui")
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        await upload_file(http, alice, box["id"], os.urandom(1000))
        code_request = await http.post("/auth/code", json={"email": "carol@example.com"})
        assert code_request.status_code == 204
        code = latest_code(settings.outbox_dir, "carol@example.com")
        modes = _modes(settings.data_dir)
        names = {os.path.relpath(p, settings.data_dir) for p in modes}
        assert {"boxtui.db", "boxtui.db-wal", "boxtui.db-shm", "blobs", "outbox"} <= names, names
        assert any(n.startswith("outbox/") and "carol" in n for n in names)
        assert any(n.startswith("blobs/") and os.path.isfile(settings.data_dir / n) for n in names)
        wrong = {path: oct(mode) for path, mode in modes.items() if mode != (0o700 if os.path.isdir(path) else 0o600)}
        assert wrong == {}
    # The code is in the outbox file, never in a log record above DEBUG.
    assert code and all(code not in r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG)
    assert any("carol@example.com" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
