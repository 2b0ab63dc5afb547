"""The client against a real ``boxtui serve`` process: realtime, reconnection, streaming over TCP.

One server process per module (SQLite in a temporary data dir). The reconnection test
kills it with SIGKILL, writes to the same data dir while it is down, and starts it again
on the same port, as a crash and restart would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from boxtui.client import APIConnectionError, APITimeoutError, BoxClient, Forbidden, RealtimeSubscription
from boxtui.core.wire import RealtimeMessage
from boxtui.server.app import create_app
from tests.client.conftest import User, ciphertext, random_key
from tests.conftest import PASSWORD, make_settings
from tests.server.helpers import FAST_SERVER_ENV

pytestmark = pytest.mark.e2e

START_TIMEOUT = 30.0
MESSAGE_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``python -m boxtui serve`` on a fixed port and data dir, which can be killed and restarted."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir.parent / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, **FAST_SERVER_ENV}
        command = [sys.executable, "-m", "boxtui", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not answer in {START_TIMEOUT} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> ServerProcess:
    root = tmp_path_factory.mktemp("live")
    server = ServerProcess(root / "data", _free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def live_user(live_server):
    """``await live_user("ada")``: an account on the live server (unique e-mail per call)."""
    clients: list[BoxClient] = []

    async def make(name: str) -> User:
        client = BoxClient(live_server.url)
        await client.__aenter__()
        clients.append(client)
        email = f"{name}-{os.urandom(4).hex()}@example.org"
        await client.auth.signup(email, PASSWORD, name.title())
        session = await client.auth.login(email, password=PASSWORD)
        return User(client, session, email)

    yield make
    for client in clients:
        await client.aclose()


async def _next(sub: RealtimeSubscription) -> RealtimeMessage:
    return await asyncio.wait_for(sub.__anext__(), MESSAGE_TIMEOUT)


async def _next_of(sub: RealtimeSubscription, type_: str) -> RealtimeMessage:
    while True:
        message = await _next(sub)
        if message.type == type_:
            return message


async def _shared_box(admin: User, member: User) -> str:
    box = await admin.client.boxes.create("Live", random_key())
    await admin.client.events.post(box.id, "state.access_mode", {"value": "public"})
    await member.client.events.post(box.id, "member.join")
    return box.id


async def test_websocket_url_follows_base_url():
    from boxtui.client.realtime import websocket_url

    assert websocket_url("http://127.0.0.1:8642", "x") == "ws://127.0.0.1:8642/box-users/x/ws"
    assert websocket_url("https://box.example.org/api/", "x") == "wss://box.example.org/api/box-users/x/ws"


async def test_realtime_event_new_and_ack(live_user):
    ada, bob = await live_user("ada"), await live_user("bob")
    box_id = await _shared_box(ada, bob)
    async with ada.client.realtime(ada.id) as sub:
        first = await _next(sub)
        assert first == RealtimeMessage(type="connection", object={"state": "connected"})
        assert sub.state == "connected"
        message = await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()})
        received = await _next_of(sub, "event.new")
        assert received.object["id"] == message.id
        assert received.object["sender"]["id"] == bob.id
        assert (await ada.client.boxes.get(box_id)).events_count == 2  # bob's join and message

        await sub.send_ack(box_id)
        deadline = time.monotonic() + MESSAGE_TIMEOUT
        while (await ada.client.boxes.get(box_id)).events_count != 0:
            assert time.monotonic() < deadline, "the ack over the socket reset the unread count"
            await asyncio.sleep(0.05)
    assert sub.state == "closed"


async def test_handshake_refused_raises(live_user):
    ada, bob = await live_user("ada"), await live_user("bob")
    with pytest.raises(Forbidden):
        async with ada.client.realtime(bob.id):
            pass
    async with BoxClient(ada.client.base_url, token="not-a-token") as stranger:
        with pytest.raises(Forbidden):
            async with stranger.realtime(ada.id):
                pass


async def test_realtime_with_session_cookies(live_server, live_user):
    ada, bob = await live_user("ada"), await live_user("bob")
    box_id = await _shared_box(ada, bob)
    async with BoxClient(live_server.url, use_cookies=True) as cookie_client:
        await cookie_client.auth.login(ada.email, password=PASSWORD)
        async with cookie_client.realtime(ada.id) as sub:
            assert (await _next(sub)).object == {"state": "connected"}
            message = await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()})
            assert (await _next_of(sub, "event.new")).object["id"] == message.id


async def test_reconnect_catches_up_exactly_once(live_server, live_user):
    ada, bob = await live_user("ada"), await live_user("bob")
    box_id = await _shared_box(ada, bob)
    # A box the caller already has up to some event, known only through the callback.
    quiet_box = await _shared_box(ada, bob)
    quiet_last = (await ada.client.events.list(quiet_box, tail=True, limit=1))[0].id

    async with ada.client.realtime(ada.id, catch_up_boxes=lambda: {quiet_box: quiet_last}, initial_backoff=0.05, max_backoff=0.5) as sub:
        assert (await _next(sub)).object == {"state": "connected"}
        live = await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()})
        assert (await _next_of(sub, "event.new")).object["id"] == live.id

        await asyncio.to_thread(live_server.kill)
        assert (await _next(sub)).object == {"state": "reconnecting"}

        # Bob keeps writing while the server is down (same database, another process).
        offline = create_app(make_settings(live_server.data_dir))
        async with offline.router.lifespan_context(offline):
            async with BoxClient("http://offline", token=bob.client.token, transport=httpx.ASGITransport(app=offline)) as bob_offline:
                missed = [await bob_offline.events.post(box_id, "msg.text", {"encrypted": ciphertext()}) for _ in range(3)]
                missed.append(await bob_offline.events.post(quiet_box, "msg.text", {"encrypted": ciphertext()}))

        await asyncio.to_thread(live_server.start)  # the subscription keeps retrying meanwhile
        after = await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()})

        received: list[str] = []
        states: list[str] = []
        while after.id not in received:
            message = await _next(sub)
            if message.type == "connection":
                states.append(message.object["state"])
            elif message.type == "event.new":
                received.append(message.object["id"])
        assert states[-1] == "connected"
        assert sorted(received) == sorted([event.id for event in missed] + [after.id])
        assert len(received) == len(set(received)), "no event twice"
        in_box = [event_id for event_id in received if event_id != missed[-1].id]
        assert in_box == [event.id for event in missed[:3]] + [after.id], "chronological within a box"
        assert live.id not in received

        # Live delivery goes on after the catch-up, still exactly once.
        final = await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()})
        assert (await _next_of(sub, "event.new")).object["id"] == final.id
        assert sub.last_event_ids()[box_id] == final.id


async def test_event_both_live_and_caught_up_arrives_once(live_user):
    ada, bob = await live_user("ada"), await live_user("bob")
    box_id = await _shared_box(ada, bob)
    known = (await ada.client.events.list(box_id, tail=True, limit=1))[0].id
    posted = []

    async def boxes_to_catch_up() -> dict[str, str]:
        # Runs once the socket is open and before the catch-up reads: the message goes
        # out live on the socket *and* appears in the catch-up page.
        if not posted:
            posted.append(await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()}))
        return {box_id: known}

    async with ada.client.realtime(ada.id, catch_up_boxes=boxes_to_catch_up) as sub:
        assert (await _next(sub)).object == {"state": "connected"}
        assert (await _next_of(sub, "event.new")).object["id"] == posted[0].id
        sentinel = await bob.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()})
        assert (await _next_of(sub, "event.new")).object["id"] == sentinel.id, "the live copy was dropped as a duplicate"


async def test_streamed_transfer_over_tcp(live_user):
    ada = await live_user("ada")
    box = await ada.client.boxes.create("Big", random_key())
    blob = os.urandom(3 * 1024 * 1024 + 17)
    sent: list[tuple[int, int | None]] = []
    event = await ada.client.files.upload(
        box.id, blob, msg_encrypted_content=ciphertext(), msg_public_key=random_key(), progress=lambda done, total: sent.append((done, total))
    )
    assert sent[-1] == (len(blob), len(blob)) and len(sent) > 3
    received: list[tuple[int, int | None]] = []
    data = await ada.client.files.download_bytes(event.content["encrypted_file_id"], progress=lambda done, total: received.append((done, total)))
    assert data == blob
    assert received[-1] == (len(blob), len(blob)) and len(received) > 3


async def test_unreachable_server_is_a_connection_error():
    async with BoxClient(f"http://127.0.0.1:{_free_port()}") as client:
        with pytest.raises(APIConnectionError):
            await client.auth.session()
        # a network failure is not fatal to a subscription: it says so and keeps retrying
        async with client.realtime(str(uuid.uuid4())) as sub:
            assert sub.state == "reconnecting"
            assert (await _next(sub)).object == {"state": "reconnecting"}
    for url in ("http://[::1", "localhost:8642"):
        with pytest.raises(APIConnectionError):
            async with BoxClient(url) as client:
                await client.boxes.list_joined()


async def test_silent_server_is_a_timeout():
    with socket.socket() as listener:  # accepts connections (kernel backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        async with BoxClient(f"http://127.0.0.1:{port}", timeout=0.3) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.boxes.count_joined()
    assert isinstance(caught.value, APIConnectionError)
    assert "did not answer in time" in str(caught.value)
