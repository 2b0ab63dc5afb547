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


async def test_startup_clears_half_written_uploads(tmp_path):
    from tests.conftest import _running, make_settings

    settings = make_settings(tmp_path / "data")
    leftover = settings.blob_dir / ".staging" / "crashed.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half an upload")
    async for _app in _running(settings):
        assert not leftover.exists()
