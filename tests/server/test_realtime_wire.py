"""Realtime frames the hub writes straight to a socket's transport (``realtime/wire.py``).

The app runs under a real uvicorn server in this test's event loop (so its hub can be
read), and the sockets are real websocket clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from boxtui.server.realtime import wire
from boxtui.server.serve import _uvicorn_options
from tests.conftest import asgi_client
from tests.server.helpers import box_with_member, free_port, post_text


@pytest.mark.parametrize("text", ["", "x", "x" * 125, "x" * 126, "x" * 65535, "x" * 65536, "é" * 70, "ü" * 40000])
def test_a_frame_is_what_a_websocket_client_reads(text):
    """Every length encoding (7-bit, 16-bit, 64-bit; lengths in bytes, not characters)."""
    client = ClientProtocol(parse_uri("ws://boxtui.test/"), state=State.OPEN, max_size=None)
    client.receive_data(wire.text_frame(text))
    (frame,) = client.events_received()
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data.decode() == text


@contextlib.asynccontextmanager
async def serving(app):
    """``app`` served by uvicorn with ``boxtui serve``'s options, in this event loop."""
    port = free_port()
    options = {**_uvicorn_options(app.state.settings, "warning"), "host": "127.0.0.1", "port": port}
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **options))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def _subscribed(hub, identity_id: str):
    for _ in range(500):
        subs = hub._subscriptions.get(identity_id)
        if subs and next(iter(subs)).socket is not None:
            return next(iter(subs))
        await asyncio.sleep(0.01)
    raise AssertionError("the socket never subscribed")


async def _ids(ws, n: int) -> list[str]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 10))["object"]["id"] for _ in range(n)]


async def test_posts_reach_a_socket_written_directly_in_order(sqlite_app):
    app = sqlite_app
    hub = app.state.hub
    async with serving(app) as base, asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        async with connect(f"{base}/box-users/{bob.id}/ws", additional_headers=bob.headers, open_timeout=5) as ws:
            await _subscribed(hub, bob.id)
            before = hub.written
            posted = [(await post_text(http, alice, box["id"]))["id"] for _ in range(10)]
            burst = await asyncio.gather(*(post_text(http, alice, box["id"]) for _ in range(20)))
            received = await _ids(ws, 30)
            assert received[:10] == posted
            listed = [e["id"] for e in (await http.get(f"/boxes/{box['id']}/events", headers=bob.headers)).json()]
            assert received[10:] == [i for i in listed if i in {b["id"] for b in burst}]  # the box's order
            assert hub.written - before == 30  # every frame written straight to the socket


async def test_behind_backpressure_frames_queue_and_keep_their_order(sqlite_app):
    """The socket's transport paused (its client reads slowly): frames go through the
    socket's queue and send loop, later ones wait behind them, and once the transport
    drains the hub writes directly again — one order throughout."""
    app = sqlite_app
    hub = app.state.hub
    async with serving(app) as base, asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        async with connect(f"{base}/box-users/{bob.id}/ws", additional_headers=bob.headers, open_timeout=5) as ws:
            subscription = await _subscribed(hub, bob.id)
            protocol = subscription.socket.protocol
            before = hub.written
            protocol.pause_writing()  # what the transport calls past its high-water mark
            try:
                held = [(await post_text(http, alice, box["id"]))["id"] for _ in range(3)]
                for _ in range(100):  # the send loop took the first frame, and waits to write it
                    if subscription.sending:
                        break
                    await asyncio.sleep(0.01)
                assert hub.written == before and subscription.sending
                held += [(await post_text(http, alice, box["id"]))["id"] for _ in range(2)]
                assert hub.written == before
            finally:
                protocol.resume_writing()
            assert await _ids(ws, 5) == held
            after = (await post_text(http, alice, box["id"]))["id"]
            assert await _ids(ws, 1) == [after] and hub.written == before + 1
