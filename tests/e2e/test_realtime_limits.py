"""The realtime socket against a real ``boxtui serve``: bad frames, the per-identity cap,
and sessions ending without a database read per socket (PROTOCOL §9, §10.10, §10.14)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.server.helpers import create_box, serve_process, signup_login

pytestmark = pytest.mark.e2e

CAP = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("server") / "data"
    env = {"BOXTUI_WS_PING_SECONDS": "1", "BOXTUI_WS_MAX_PER_IDENTITY": str(CAP), "BOXTUI_WS_SESSION_CHECK_SECONDS": "3600"}
    with serve_process(data_dir, env=env) as process:
        yield process


def _url(server, user) -> str:
    return f"{server.ws_url}/box-users/{user.id}/ws"


async def _closed_code(ws, timeout: float = 10) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None, "the server dropped the socket without a close frame"
    return closed.value.rcvd.code


async def test_deeply_nested_or_huge_frames_never_drop_the_socket_silently(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        alice = await signup_login(http, "deep@example.com")
        box = await create_box(http, alice)
        async with connect(_url(server, alice), additional_headers=alice.headers, open_timeout=5, max_size=None) as ws:
            # Nested 30,000 deep (under the frame limit): ignored like any frame that is not JSON.
            await ws.send("[" * 30_000 + "]" * 30_000)
            await ws.send('{"type": "ack", "object": ' * 2_000)
            await ws.send(b"\x00\x01binary")
            pong = await ws.ping()
            async with asyncio.timeout(5):
                await pong
            # The socket still works: a message posted now arrives.
            posted = await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "AAAA"}}, headers=alice.headers)
            assert posted.status_code == 201
            async with asyncio.timeout(5):
                got = json.loads(await ws.recv())
            assert got["object"]["id"] == posted.json()["id"]
        async with connect(_url(server, alice), additional_headers=alice.headers, open_timeout=5, max_size=None) as ws:
            # 100,000 deep is over the 64 KiB frame limit: a close frame with 1009 (message too big).
            await ws.send("[" * 100_000)
            assert await _closed_code(ws) == 1009
    log = Path(server.log).read_text()
    assert "Traceback" not in log and "ended: RecursionError" not in log


async def test_sockets_per_identity_are_capped_with_4429(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        alice = await signup_login(http, "many@example.com")
        bob = await signup_login(http, "other@example.com")
    sockets = [await connect(_url(server, alice), additional_headers=alice.headers, open_timeout=5) for _ in range(CAP)]
    try:
        for ws in sockets:
            await ws.ping()
        extra = await connect(_url(server, alice), additional_headers=alice.headers, open_timeout=5)
        assert await _closed_code(extra) == 4429
        assert "4429" not in str(extra.close_reason) and "at most 3" in extra.close_reason
        # Another identity is not affected.
        async with connect(_url(server, bob), additional_headers=bob.headers, open_timeout=5) as ws:
            await ws.ping()
        # Closing one frees a place.
        await sockets.pop().close()
        for _ in range(50):
            again = await connect(_url(server, alice), additional_headers=alice.headers, open_timeout=5)
            try:
                async with asyncio.timeout(0.5):
                    await again.recv()
            except TimeoutError:
                sockets.append(again)
                break
            except ConnectionClosed:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("no socket could open again after one closed")
    finally:
        for ws in sockets:
            await ws.close()


async def test_logout_closes_at_once_without_the_periodic_check(server):
    """The periodic check is set to an hour here: logout must close the socket by itself."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        alice = await signup_login(http, "bye@example.com")
        async with connect(_url(server, alice), additional_headers=alice.headers, open_timeout=5) as ws:
            await ws.ping()
            assert (await http.post("/auth/logout", headers=alice.headers)).status_code == 204
            assert await _closed_code(ws, timeout=5) == 4401


def test_session_expiry_closes_the_socket(tmp_path):
    async def scenario(process) -> int:
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
            alice = await signup_login(http, "brief@example.com")
            async with connect(_url(process, alice), additional_headers=alice.headers, open_timeout=5) as ws:
                return await _closed_code(ws, timeout=15)

    env = {"BOXTUI_TOKEN_TTL_SECONDS": "3", "BOXTUI_WS_SESSION_CHECK_SECONDS": "3600"}
    with serve_process(tmp_path / "data", env=env) as process:
        assert asyncio.run(scenario(process)) == 4401
