"""The app starts on each backend, migrates, and speaks the error format."""


async def test_healthz(http):
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unknown_route_uses_error_format(http):
    response = await http.get("/no-such-route")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_openapi_is_served(http):
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "boxtui"


async def test_startup_clears_old_half_written_uploads_only(tmp_path):
    import asyncio
    import os
    import time

    from tests.conftest import _running, make_settings

    settings = make_settings(tmp_path / "data")
    leftover = settings.blob_dir / ".staging" / "crashed.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half an upload")
    old = time.time() - settings.blob_sweep_grace_seconds - 60
    os.utime(leftover, (old, old))
    # Another process sharing the store may be writing this one right now.
    in_flight = settings.blob_dir / ".staging" / "in-flight.part"
    in_flight.write_bytes(b"being written")
    async for _app in _running(settings):
        for _ in range(200):
            if not leftover.exists():
                break
            await asyncio.sleep(0.02)
        assert not leftover.exists()
        assert in_flight.exists()


async def test_server_info_says_boxtui_and_how_codes_travel(http):
    from boxtui import __version__

    response = await http.get("/server-info")
    assert response.status_code == 200
    assert response.json() == {
        "service": "boxtui",
        "version": __version__,
        "signup_requires_code": False,
        "login_codes": "outbox",
    }


async def test_server_info_reports_a_mailer_and_required_signup_codes(tmp_path):
    from tests.conftest import _running, asgi_client, make_settings

    settings = make_settings(tmp_path / "data", smtp_host="mail.example.org", signup_requires_code=True)
    async for app in _running(settings):
        async with asgi_client(app) as http:
            info = (await http.get("/server-info")).json()
    assert info["signup_requires_code"] is True and info["login_codes"] == "email"
