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
