"""Live updates in the app, against a real ``boxtui serve`` process (websockets need TCP).

Ada runs the app; Bob acts from another device through the real server. What Ada sees
changes without her doing anything: new messages in the open timeline and in the box
list (order, preview, unread badge), edits, an auto-invitation, a kick and a deleted box.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxtui.client.client import BoxClient
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessChange
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.client.test_live_server import live_server  # noqa: F401 - a module-scoped fixture: one server here

from .conftest import CHEAP_KDF, PASSWORD, SIZE, timeline_text, wait_for_notification, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def live_user(live_server, tmp_path: Path):
    clients: list[BoxClient] = []

    async def make(name: str) -> Messenger:
        client = BoxClient(live_server.url)
        clients.append(client)
        email = f"{name}-{os.urandom(4).hex()}@example.org"
        await client.auth.signup(email, PASSWORD, name.title())
        messenger = Messenger(client, None, Profile.load(tmp_path / name), **CHEAP_KDF)
        await messenger.login_password(email, PASSWORD)
        return messenger

    yield make
    for client in clients:
        await client.aclose()


async def test_live_updates(live_user) -> None:
    ada, bob = await live_user("ada"), await live_user("bob")
    shared = await ada.create_box("Shared")
    await ada.set_access_mode(shared.id, True)
    await bob.join_link(await ada.invitation_link(shared.id))
    quiet = await ada.create_box("Quiet")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        boxes = app.screen.query_one(BoxList)
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "● live" in header.render().plain, what="the live indicator")
        await wait_until(pilot, lambda: [r.title for r in boxes.rows] == ["Quiet", "Shared"], what="the boxes")

        # Quiet is open; Bob writes in Shared: it moves up with a preview and a badge.
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Quiet" in header.render().plain, what="Quiet open")
        unread_before = boxes.row(shared.id).unread
        first = await bob.send_text(shared.id, "are you there?")
        await wait_until(pilot, lambda: [r.title for r in boxes.rows] == ["Shared", "Quiet"], what="Shared on top")
        assert boxes.row(shared.id).preview == "Bob: are you there?"
        assert boxes.row(shared.id).unread == unread_before + 1

        # Open Shared: the badge goes; Bob's next message appears at the bottom.
        app.screen.open_box(shared.id)
        await wait_until(pilot, lambda: "Shared" in header.render().plain and boxes.row(shared.id).unread == 0, what="Shared open")
        await bob.send_text(shared.id, "second message")
        await wait_until(pilot, lambda: "second message" in timeline_text(app), what="the live message")
        timeline = app.screen.query_one(BoxTimeline)
        assert timeline.entries[-1].text == "second message" and timeline.is_vertical_scroll_end
        assert boxes.row(shared.id).unread == 0
        await bob.edit_text(shared.id, first.id, "are you there? (edited by bob)")
        await wait_until(pilot, lambda: "are you there? (edited by bob)" in timeline_text(app), what="the live edit")

        # Bob auto-invites Ada to his own box: she is in without a link.
        surprise = await bob.create_box("Surprise")
        ada_email = ada.identity.identifier_value
        await bob.apply_access_batch(surprise.id, add=[AccessChange("identifier", ada_email, auto_invite=True)])
        await wait_for_notification(pilot, "You were invited to “Surprise”.", timeout=15)
        await wait_until(pilot, lambda: boxes.row(surprise.id) is not None, what="Surprise in the list")

        # Bob removes Ada's rule: she is kicked, and told.
        rules = await bob.accesses(surprise.id)
        await bob.apply_access_batch(surprise.id, remove=[r.id for r in rules if r.value == ada_email])
        await wait_for_notification(pilot, "The box “Surprise” is no longer accessible to you: you were removed.", timeout=15)
        assert boxes.row(surprise.id) is None

        # Bob deletes a box Ada is in: it goes from her list.
        temp = await bob.create_box("Temp")
        await bob.set_access_mode(temp.id, True)
        await ada.join_link(await bob.invitation_link(temp.id))
        await wait_until(pilot, lambda: boxes.row(temp.id) is not None, what="Temp in the list")
        await bob.delete_box(temp.id)
        await wait_for_notification(pilot, "The box “Temp” was deleted.", timeout=15)
        assert boxes.row(temp.id) is None
        assert quiet.id in {r.box_id for r in boxes.rows}


async def test_a_message_the_other_app_on_the_profile_sent_leaves_no_pending_row(live_user, live_server, tmp_path) -> None:
    """Two apps on one profile share the outbox: a message the other one queued shows here
    as pending; once the other one has sent it (it arrives here live) the pending row
    goes, leaving the message once."""
    from boxtui.core.encoding import b64u_encode
    from boxtui.crypto import seal_text

    ada = await live_user("ada")
    box = await ada.create_box("Twins")
    await ada.sync()
    twin_client = BoxClient(live_server.url)
    twin = await Messenger.resume(twin_client, Profile.load(ada.profile.home), PASSWORD, **CHEAP_KDF)
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "● live" in header.render().plain, what="the live indicator")
        app.screen.open_box(box.id)
        await wait_until(pilot, lambda: app.screen.current_box_id == box.id, what="the box open")
        public = twin.box_public_key(box.id)
        content = {"encrypted": seal_text("sent by the other window", public), "public_key": b64u_encode(public)}
        twin._queue(box.id, "text", {"type": "msg.text", "content": content}, "sent by the other window")
        app.screen._refresh_pending(box.id)  # what a send or a sync in this app does
        await wait_until(pilot, lambda: "sent by the other window ◷" in timeline_text(app), what="the twin's pending row")
        assert await twin.flush_outbox() == 1
        await wait_until(
            pilot,
            lambda: "◷" not in timeline_text(app) and timeline_text(app).count("sent by the other window") == 1,
            what="the pending row gone, the message once",
        )
    twin.close_local()
    await twin_client.aclose()
