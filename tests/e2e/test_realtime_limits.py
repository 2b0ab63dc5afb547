"""The realtime socket against a real ``boxtui serve``: bad frames, the per-identity cap,
sessions ending without a database read per socket, and a client that stops reading
(PROTOCOL §9, §10.10, §10.14)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.server.helpers import box_with_member, ciphertext, create_box, post_text, serve_process, signup_login

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


def test_a_socket_too_far_behind_is_closed_with_1013_and_never_holds_up_the_others(tmp_path):
    """Bob's client stops reading; Alice's reads as messages come. Past
    ``BOXTUI_WS_QUEUE_FRAMES`` unsent messages (after what the socket buffers hold) Bob's
    socket is closed with 1013 after the messages it had been sent, in order; Alice got
    every message meanwhile, and Bob catches up with ``after=`` (PROTOCOL §10.10)."""
    posts = 120  # ~64 KiB each: well past 8 queued frames plus the kernel's and uvicorn's buffers

    async def scenario(process) -> None:
        async with httpx.AsyncClient(base_url=process.url, timeout=30) as http:
            alice, bob, box = await box_with_member(http)
            slow_socket = socket.socket()
            slow_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
            slow_socket.connect(("127.0.0.1", int(process.url.rsplit(":", 1)[1])))
            slow = await connect(_url(process, bob), additional_headers=bob.headers, sock=slow_socket, max_queue=1, max_size=None, open_timeout=5)
            try:
                async with connect(_url(process, alice), additional_headers=alice.headers, max_size=None, open_timeout=5) as fast:
                    posted = []
                    for _ in range(posts):
                        posted.append((await post_text(http, alice, box["id"], encrypted=ciphertext(48_000)))["id"])
                        async with asyncio.timeout(10):
                            assert json.loads(await fast.recv())["object"]["id"] == posted[-1]
                    # Bob's client reads at last: what it had been sent, in order, then the close.
                    received = []
                    with pytest.raises(ConnectionClosed) as closed:
                        async with asyncio.timeout(30):
                            while True:
                                received.append(json.loads(await slow.recv())["object"]["id"])
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
                    assert "behind" in closed.value.rcvd.reason
                    assert 0 < len(received) < posts and received == posted[: len(received)]
                    # The rest is there to catch up with.
                    rest = await http.get(f"/boxes/{box['id']}/events", params={"after": received[-1], "limit": 200}, headers=bob.headers)
                    assert [event["id"] for event in rest.json() if event["id"] in posted] == posted[len(received) :]
                    # Alice's socket is still open and served.
                    again = await post_text(http, alice, box["id"])
                    async with asyncio.timeout(10):
                        assert json.loads(await fast.recv())["object"]["id"] == again["id"]
            finally:
                await slow.close()

    with serve_process(tmp_path / "data", env={"BOXTUI_WS_QUEUE_FRAMES": "8"}) as process:
        asyncio.run(scenario(process))
    assert "Traceback" not in Path(process.log).read_text()
