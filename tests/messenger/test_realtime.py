"""Realtime through the Messenger: a real uvicorn server (websockets need a socket)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

from boxtui.client.client import BoxClient
from boxtui.core.wire import EventView
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.server.app import create_app
from tests.conftest import PASSWORD, make_settings
from tests.messenger.conftest import CHEAP_KDF

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(make_settings(tmp_path / "data")), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_realtime_delivers_decryptable_events(live_server, tmp_path):
    async with BoxClient(live_server) as ada_client, BoxClient(live_server) as bob_client:
        ada = await Messenger.signup(ada_client, Profile.load(tmp_path / "ada"), "ada@example.org", PASSWORD, "Ada", **CHEAP_KDF)
        bob = await Messenger.signup(bob_client, Profile.load(tmp_path / "bob"), "bob@example.org", PASSWORD, "Bob", **CHEAP_KDF)
        box = await ada.create_box("Live")
        await ada.set_access_mode(box.id, public=True)
        await bob.join_link(await ada.invitation_link(box.id))
        async with ada.realtime() as feed:
            sent = await bob.send_text(box.id, "live message")

            async def first_message() -> EventView:
                async for message in feed:
                    if message.type == "event.new" and message.object.get("id") == sent.id:
                        return EventView.model_validate(message.object)
                raise AssertionError("feed ended")

            event = await asyncio.wait_for(first_message(), timeout=10)
        assert ada.decrypt_event(event).text == "live message"
