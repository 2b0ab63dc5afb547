"""Snapshots (pytest-textual-snapshot) of the timeline and of the app's main screens.

The timeline shows the real history of :mod:`tests.tui.timeline_history`; the app runs
against a real ``boxtui serve`` process seeded through the real messenger. Only stable
things are drawn: times are moved to fixed ones (the real events keep their content),
the zone is UTC, and toasts are cleared. Update with ``--snapshot-update`` after a
deliberate change and review the SVGs in ``__snapshots__/``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from boxtui.client import BoxClient
from boxtui.messenger.embedded import LocalServer, ensure_local_server, stop_local_server
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessChange
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.messages import OpenBox
from boxtui.tui.screens.main import MainScreen
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.conftest import PASSWORD
from tests.messenger.conftest import CHEAP_KDF
from tests.tui.conftest import SIZE, wait_until
from tests.tui.timeline_history import FIXED_START, TimelineHost, at_fixed_times, shared_history


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return shared_history(tmp_path_factory)


def test_timeline_with_every_kind_of_event(snap_compare, history) -> None:
    app = TimelineHost(identity_id=history.ada.identity_id)
    entries = at_fixed_times(history.before, FIXED_START, timedelta(hours=5))

    async def show(pilot) -> None:
        timeline = app.query_one(BoxTimeline)
        timeline.set_entries(entries)
        timeline.select_event(history.ids["reply"])

    assert snap_compare(app, terminal_size=(100, 42), run_before=show)


def test_timeline_narrow_wraps_and_truncates(snap_compare, history) -> None:
    app = TimelineHost(identity_id=history.ada.identity_id)
    entries = at_fixed_times(history.before, FIXED_START, timedelta(minutes=7))

    async def show(pilot) -> None:
        app.query_one(BoxTimeline).set_entries(entries)

    assert snap_compare(app, terminal_size=(48, 30), run_before=show)


def test_login_screen(snap_compare, tmp_path) -> None:
    app = BoxApp(profile=Profile.load(tmp_path / "new"), server_url="https://box.example.org")
    assert snap_compare(app, terminal_size=SIZE)


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory) -> tuple[str, Path]:
    """A real ``boxtui serve`` with Ada's boxes; returns its URL and Ada's profile home."""
    root = tmp_path_factory.mktemp("snapshot-server")
    owner = LocalServer.private(root / "server")
    url = ensure_local_server(owner)
    try:
        asyncio.run(_seed(url, root))
        yield url, root / "ada"
    finally:
        stop_local_server(owner)


async def _seed(url: str, root: Path) -> None:
    async with BoxClient(url) as ada_client, BoxClient(url) as bob_client:
        ada = await Messenger.signup(ada_client, Profile.load(root / "ada"), "ada@example.org", PASSWORD, "Ada", **CHEAP_KDF)
        bob = await Messenger.signup(bob_client, Profile.load(root / "bob"), "bob@example.org", PASSWORD, "Bob", **CHEAP_KDF)
        for title in ("Team", "Plans"):
            box = (await ada.create_box(title)).id
            await ada.apply_access_batch(box, add=[AccessChange("identifier", "bob@example.org")])
            await bob.join_link(await ada.invitation_link(box))
        team, plans = [summary.box.id for summary in sorted(await ada.list_boxes(), key=lambda s: s.box.title, reverse=True)]
        await bob.send_text(team, "Is the release still on for Friday?")
        question = await ada.send_text(plans, "Shall we meet on Thursday to go through the plans?")
        await bob.send_text(plans, "Thursday works. 10h in the small room?", reply_to=question.id)
        typo = await ada.send_text(plans, "Grat, I'll bring the drafts.")
        await ada.edit_text(plans, typo.id, "Great, I'll bring the drafts.")
        await bob.send_text(plans, "[bold]Markup[/bold] stays as typed.")


def test_main_screen_with_an_open_box(snap_compare, seeded_server) -> None:
    url, home = seeded_server
    app = BoxApp(profile=Profile.load(home), server_url=url)

    async def unlock_and_open(pilot) -> None:
        await wait_until(pilot, lambda: app.screen.query("#unlock-password"), what="the unlock screen")
        app.screen.query_one("#unlock-password").value = PASSWORD
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        screen = app.screen
        await wait_until(pilot, lambda: len(screen.box_list.rows) == 2, what="the box list")
        screen.post_message(OpenBox(next(row.box_id for row in screen.box_list.rows if row.title == "Plans")))
        timeline = screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: len(timeline.entries) >= 6, what="the Plans timeline")
        await wait_until(pilot, lambda: screen.header.connection == "connected", what="the realtime link")
        timeline.timezone = timezone.utc
        timeline.set_entries(at_fixed_times(timeline.entries, FIXED_START, timedelta(minutes=4)))
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=unlock_and_open)
