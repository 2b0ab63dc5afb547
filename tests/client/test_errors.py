"""The error tree: every refusal is a typed :class:`APIStatusError` with the server's body."""

from __future__ import annotations

import uuid

import httpx
import pytest

from boxtui.client import APIStatusError, BoxError, Forbidden, InternalServerError, MethodNotAllowed, NotFound, TooManyRequests, Unauthorized
from boxtui.client.errors import error_from_response
from tests.client.conftest import make_box


async def test_forbidden_carries_code_details_origin(ada, bob):
    box_id = await make_box(ada)
    with pytest.raises(Forbidden) as caught:
        await bob.client.events.list(box_id)
    error = caught.value
    assert isinstance(error, APIStatusError) and isinstance(error, BoxError)
    assert (error.status, error.code) == (403, "forbidden")
    assert error.details.get("reason") in {"no_access", "not_member"}
    assert error.response is not None and error.response.status_code == 403
    assert str(error).startswith("403 forbidden: ") and "reason=" in str(error)


async def test_head_errors_have_no_body_but_keep_their_type(ada, bob):
    box_id = await make_box(ada)
    with pytest.raises(Forbidden) as caught:
        await bob.client.events.count(box_id)
    assert caught.value.code == "forbidden" and caught.value.details == {}


async def test_method_not_allowed_and_unknown_route(ada):
    with pytest.raises(MethodNotAllowed) as caught:
        await ada.client.request("DELETE", "/healthz")
    assert caught.value.code == "method_not_allowed"
    with pytest.raises(NotFound):
        await ada.client.request("GET", f"/no-such-route/{uuid.uuid4()}")


async def test_missing_token(connect):
    client = await connect()
    with pytest.raises(Unauthorized) as caught:
        await client.boxes.list_joined()
    assert caught.value.origin == "headers"


async def test_too_many_failed_logins(connect, ada):
    client = await connect()
    for _ in range(11):  # more than 10 (PROTOCOL §2)
        with pytest.raises(Unauthorized):
            await client.auth.login(ada.email, password="wrong password")
    with pytest.raises(TooManyRequests):
        await client.auth.login(ada.email, password="wrong password")


def test_server_failures_without_protocol_body():
    request = httpx.Request("GET", "http://testserver/boxes/joined")
    error = error_from_response(httpx.Response(502, text="<html>bad gateway</html>", request=request))
    assert isinstance(error, InternalServerError)
    assert (error.status, error.code, error.desc) == (502, "internal", "Bad Gateway")
    assert str(error) == "502 internal: Bad Gateway"
    odd = error_from_response(httpx.Response(418, json={"code": "teapot", "details": {"n": 1}}, request=request))
    assert type(odd) is APIStatusError and odd.code == "teapot" and odd.details == {"n": "1"}
