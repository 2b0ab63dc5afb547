"""The app over the host's local server while it is stopped and started again.

A real ``boxtui serve`` started the way ``boxtui`` starts it (the ``local_server``
fixture moves it off 8642); Ada's app has a box open when the server stops: the header
says so, a message typed meanwhile waits in the outbox, shown pending (issue 10), and
once the server is back (same address) the app reconnects by itself, shows what Bob
wrote and sends the queued message, once.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from boxtui.client.client import BoxClient
from boxtui.messenger.embedded import ensure_local_server, stop_local_server
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp

from boxtui.tui.widgets.timeline import BoxTimeline

from .conftest import CHEAP_KDF, PASSWORD, SIZE, header_text, open_box, screen_text, timeline_text, type_text, wait_until, wait_until_settled

pytestmark = pytest.mark.e2e


async def signed_up(url: str, home: Path, name: str) -> Messenger:
    client = BoxClient(url)
    email = f"{name}-{os.urandom(3).hex()}@example.org"
    return await Messenger.signup(client, Profile.load(home / name), email, PASSWORD, name.title(), **CHEAP_KDF)


async def test_the_app_reconnects_by_itself_when_the_local_server_is_back(tmp_path, local_server) -> None:
    url = await asyncio.to_thread(ensure_local_server, local_server)
    ada, bob = await signed_up(url, tmp_path, "ada"), await signed_up(url, tmp_path, "bob")
    box = await ada.create_box("Ops")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    app = BoxApp(ada)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_box(pilot, app, "Ops")
            await wait_until(pilot, lambda: "● live" in header_text(app), what="live")

            assert await asyncio.to_thread(stop_local_server, local_server)
            await wait_until(pilot, lambda: "◌ reconnecting" in header_text(app), what="the drop shown")
            await type_text(pilot, "sent while it is down")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "sent while it is down ◷ sending…" in timeline_text(app), what="queued, shown pending")
            assert app.screen.composer.text == ""  # kept in the outbox, not in the composer

            again = await asyncio.to_thread(ensure_local_server, local_server)
            assert again == url and again.started
            await bob.send_text(box.id, "back online")  # before the app has reconnected: caught up
            await wait_until(pilot, lambda: "● live" in header_text(app), timeout=30, what="reconnected")
            await wait_until(pilot, lambda: "back online" in timeline_text(app), timeout=15, what="the missed message")
            await wait_until(  # the outbox goes out by itself once reconnected
                pilot, lambda: "sending…" not in timeline_text(app), timeout=15, what="the queued message sent"
            )
            assert timeline_text(app).count("sent while it is down") == 1
            # What the server holds (bob.timeline_page would fall back to Bob's store, and
            # hide a failed request behind an empty page).
            sent = [bob.decrypt_event(e).text for e in await bob.client.events.list(box.id, tail=True)]
            assert sent.count("sent while it is down") == 1
    finally:
        await ada.client.aclose()
        await bob.client.aclose()


async def test_an_edit_under_way_survives_the_server_going_away_and_coming_back(tmp_path, local_server) -> None:
    """The draft is the user's: the text and its "Editing …" target stay in the composer
    through the drop and through the refresh that follows the reconnection, and the
    focus stays where the user left it."""
    url = await asyncio.to_thread(ensure_local_server, local_server)
    ada, bob = await signed_up(url, tmp_path, "ada"), await signed_up(url, tmp_path, "bob")
    box = await ada.create_box("Ops")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    await ada.send_text(box.id, "deploy at noon")
    app = BoxApp(ada)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_box(pilot, app, "Ops")
            await wait_until(pilot, lambda: "● live" in header_text(app), what="live")
            timeline = app.screen.query_one(BoxTimeline)
            await wait_until(pilot, lambda: any(e.text == "deploy at noon" for e in timeline.entries))
            timeline.action_last()  # (a box opens on the first new event: here "Bob joined")
            await wait_until(pilot, lambda: timeline.current_entry and timeline.current_entry.text == "deploy at noon")
            timeline.focus()
            await pilot.press("e")
            composer = app.screen.composer
            await wait_until(pilot, lambda: composer.text == "deploy at noon", what="the edit prefilled")
            await type_text(pilot, ", not at ten")

            assert await asyncio.to_thread(stop_local_server, local_server)
            await wait_until(pilot, lambda: "◌ reconnecting" in header_text(app), what="the drop shown")
            again = await asyncio.to_thread(ensure_local_server, local_server)
            assert again == url
            await bob.send_text(box.id, "back online")
            await wait_until(pilot, lambda: "● live" in header_text(app), timeout=30, what="reconnected")
            await wait_until(pilot, lambda: "back online" in timeline_text(app), timeout=15, what="the refresh")
            await wait_until_settled(pilot)  # the box list and the open box reloaded after the reconnection

            assert composer.text == "deploy at noon, not at ten"
            assert composer.target is not None and composer.target.kind == "edit"
            assert "Editing: deploy at noon" in screen_text(app)
            assert app.focused is composer.input
    finally:
        await ada.client.aclose()
        await bob.client.aclose()
