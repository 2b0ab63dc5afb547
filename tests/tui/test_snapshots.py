"""Snapshots (pytest-textual-snapshot) of the timeline and of every screen of the app.

The timeline shows the real history of :mod:`tests.tui.timeline_history`; the app runs
against a real ``boxtui serve`` process seeded through the real messenger, and every
screen and dialog is drawn at 80×24 (the usual SSH terminal, the design size) and at
120×40. Only stable things are drawn: times are moved to fixed ones (the real events
keep their content), the zone is UTC, the server's random port and the link's random
key are shown as fixed ones, and toasts are cleared. Update with ``--snapshot-update``
after a deliberate change and review the SVGs in ``__snapshots__/``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from boxtui.client import BoxClient
from boxtui.core.timefmt import format_time
from boxtui.messenger.embedded import (
    LocalServer,
    ensure_local_server,
    stop_local_server,
)
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessChange
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.messages import OpenBox
from boxtui.tui.screens.main import MainScreen
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.conftest import PASSWORD
from tests.messenger.conftest import CHEAP_KDF
from tests.tui.conftest import screen_text, wait_until
from tests.tui.timeline_history import (
    FIXED_START,
    TimelineHost,
    at_fixed_times,
    shared_history,
)


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


#: The design size (an SSH terminal) and a roomy one.
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
#: What the snapshots show instead of the server's random port.
SHOWN_URL = "http://127.0.0.1:8642"


@pytest.mark.parametrize("size", SIZES)
def test_login_screen(snap_compare, tmp_path, size) -> None:
    app = BoxApp(profile=Profile.load(tmp_path / "new"), server_url="https://box.example.org")
    assert snap_compare(app, terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES)
def test_sign_up_tab(snap_compare, tmp_path, size) -> None:
    app = BoxApp(profile=Profile.load(tmp_path / "new"), server_url="https://box.example.org")

    async def sign_up_tab(pilot) -> None:
        app.screen.query_one("#auth-tabs").active = "tab-signup"
        await pilot.pause()
        app.screen.query_one("#signup-name", Input).focus()
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=sign_up_tab)


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory) -> tuple[str, Path]:
    """A real ``boxtui serve`` with Ada's boxes; returns its URL and Ada's profile home."""
    root = tmp_path_factory.mktemp("snapshot-server")
    owner = LocalServer.private(root / "server")
    url = ensure_local_server(owner)
    try:
        SHOWN_TIMES.update(asyncio.run(_seed(url, root)))
        yield url, root / "ada"
    finally:
        stop_local_server(owner)
        SHOWN_TIMES.clear()


#: Event id → the time the snapshots show for it (the events are real, their times are not stable).
SHOWN_TIMES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _stable_times(monkeypatch) -> None:
    """Every timeline shows the seeded events at :data:`SHOWN_TIMES`, in UTC, however the
    app loads them (from the local store, the server, a sync, the realtime link)."""
    make_item = BoxTimeline._make_item

    def at_shown_time(timeline: BoxTimeline, entry):
        shown = SHOWN_TIMES.get(entry.event.id)
        if shown is not None:
            timeline.timezone = timezone.utc
            entry = dataclasses.replace(entry, event=entry.event.model_copy(update={"server_event_created_at": shown}))
        return make_item(timeline, entry)

    monkeypatch.setattr(BoxTimeline, "_make_item", at_shown_time)


async def _seed(url: str, root: Path) -> dict[str, str]:
    async with BoxClient(url) as ada_client, BoxClient(url) as bob_client:
        ada = await Messenger.signup(ada_client, Profile.load(root / "ada"), "ada@example.org", PASSWORD, "Ada Lovelace", **CHEAP_KDF)
        bob = await Messenger.signup(bob_client, Profile.load(root / "bob"), "bob@example.org", PASSWORD, "Bob Kahn", **CHEAP_KDF)
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
        drafts = root / "drafts-v3.pdf"
        drafts.write_bytes(b"%PDF-1.7\n" + bytes(18_000))
        shared = await ada.upload_file(plans, drafts)
        await ada.save_file(shared.id)
        await bob.send_text(plans, "[bold]Markup[/bold] stays as typed.")
        await ada.ack(plans)  # read: no "new since you left" line, whichever test opens it first
        shown = {}
        for box in (team, plans):
            for index, entry in enumerate(await ada.all_events(box)):
                shown[entry.event.id] = format_time(FIXED_START + index * timedelta(minutes=4))
        return shown


def _app(seeded_server) -> BoxApp:
    """The app over a fresh copy of Ada's profile: what one test leaves on the device (the
    last box, the reading position) does not show in the next one."""
    url, home = seeded_server
    copy = Path(tempfile.mkdtemp(prefix="snapshot-ada-"))
    shutil.copytree(home, copy, dirs_exist_ok=True)
    return BoxApp(profile=Profile.load(copy), server_url=url)


async def _unlock_and_open(pilot, box: str | None = "Plans") -> MainScreen:
    """Unlock Ada's key store and open ``box`` with its times made stable."""
    app = pilot.app
    await wait_until(pilot, lambda: app.screen.query("#unlock-password"), what="the unlock screen")
    app.screen.query_one("#unlock-password").value = PASSWORD
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.query(BoxList), what="the main screen")
    screen = app.screen
    await wait_until(pilot, lambda: len(screen.box_list.rows) == 2, what="the box list")
    await wait_until(pilot, lambda: screen.header.connection == "connected", what="the realtime link")
    if box is not None:
        screen.post_message(OpenBox(next(row.box_id for row in screen.box_list.rows if row.title == box)))
        timeline = screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: len(timeline.entries) >= 7, what=f"the {box} timeline")
        # The box is painted from the local store first, then from the server: wait for both.
        await wait_until(pilot, lambda: "2 members" in screen.header.render().plain, what="the box loaded")
    await _settle(pilot)
    await wait_until(pilot, lambda: not _busy(app), what="the screen at rest")
    return screen


def _busy(app: BoxApp) -> bool:
    """Whether anything but the realtime listener is still at work (loading, syncing)."""
    return any(worker.is_running and worker.group != "realtime" for worker in app.workers)


def _select(timeline: BoxTimeline, text: str) -> None:
    """Put the timeline's cursor on the message that says ``text``."""
    assert timeline.select_event(next(entry.event.id for entry in timeline.entries if entry.text == text))


async def _settle(pilot) -> None:
    for screen in pilot.app.screen_stack:  # (a dialog's fields, and the composer drawn behind it)
        for field in screen.query("Input, TextArea"):
            field.cursor_blink = False  # a blinking cursor is drawn or not, by the clock
            if isinstance(field, TextArea):
                # Its line cache tells lines apart by the blink phase only: a line cached
                # in the "off" phase would come back without the now steady cursor.
                field._line_cache.clear()
                field.refresh()
    pilot.app.clear_notifications()
    await pilot.pause()
    # A table sizes its columns when idle after rows arrive: wait for that.
    tables = pilot.app.screen.query(DataTable)
    await wait_until(pilot, lambda: not any(table._require_update_dimensions for table in tables), what="table widths")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_unlock_screen(snap_compare, seeded_server, size) -> None:
    app = _app(seeded_server)

    async def stable(pilot) -> None:
        await wait_until(pilot, lambda: app.screen.query("#unlock-password"), what="the unlock screen")
        server = app.screen.query_one("#auth-server", Static)
        server.update(str(server.render()).replace(seeded_server[0], SHOWN_URL))
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=stable)


@pytest.mark.parametrize("size", SIZES)
def test_main_screen_with_an_open_box(snap_compare, seeded_server, size) -> None:
    app = _app(seeded_server)

    async def open_plans(pilot) -> None:
        await _unlock_and_open(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_plans)


@pytest.mark.parametrize("size", SIZES)
def test_box_list_on_a_narrow_terminal_is_a_drawer(snap_compare, seeded_server, size) -> None:
    """ctrl+f: at 80 columns the list opens over the conversation; at 120 the filter takes the focus."""
    app = _app(seeded_server)

    async def open_drawer(pilot) -> None:
        await _unlock_and_open(pilot)
        await pilot.press("ctrl+f")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_drawer)


@pytest.mark.parametrize("size", SIZES)
def test_timeline_focused_offers_the_verbs_of_the_message(snap_compare, seeded_server, size) -> None:
    """The cursor on Bob's message: Ada (the admin) may delete it, not edit it."""
    app = _app(seeded_server)

    async def on_bobs_message(pilot) -> None:
        screen = await _unlock_and_open(pilot)
        screen.timeline.focus()
        _select(screen.timeline, "Thursday works. 10h in the small room?")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=on_bobs_message)


#: Each dialog: (key that opens it, what shows when it is ready, how to make it stable).
async def _stable_link(pilot) -> None:
    dialog = pilot.app.screen
    dialog._show(f"boxtui://127.0.0.1:8642/boxes/{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}#{'x' * 43}")


async def _stable_settings(pilot) -> None:
    screen = pilot.app.screen
    screen.query_one("#settings-server", Input).placeholder = f"now: {SHOWN_URL}"
    screen.query_one("#settings-path", Static).update("Saved in ~/.local/share/boxtui/config.toml")


async def _stable_saved(pilot) -> None:
    table = pilot.app.screen.query_one(DataTable)
    for row_key in list(table.rows):
        table.update_cell(row_key, list(table.columns)[2], "2026-11-23 09:20")


async def _typed_title(pilot) -> None:
    pilot.app.screen.query_one(Input).value = "Garden club"


async def _nothing(pilot) -> None:
    return None


DIALOGS = {
    "new_box": ("ctrl+n", "New box", _typed_title),
    "join": ("ctrl+o", "Join a box", _nothing),
    "invitation": ("ctrl+l", "/boxes/", _stable_link),
    "members": ("ctrl+b", "Bob Kahn", _nothing),
    "access": ("ctrl+r", "bob@example.org", _nothing),
    "upload": ("ctrl+t", "Upload a file to Plans", _nothing),
    "saved_files": ("ctrl+s", "drafts-v3.pdf", _stable_saved),
    "settings": ("f2", "Key overrides", _stable_settings),
    "help": ("f1", "main.new_box", _nothing),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialog(snap_compare, seeded_server, dialog, size) -> None:
    key, ready_text, stable = DIALOGS[dialog]
    app = _app(seeded_server)

    async def open_dialog(pilot) -> None:
        await _unlock_and_open(pilot)
        await pilot.press(key)
        await wait_until(pilot, lambda: len(app.screen_stack) > 2 and ready_text in screen_text(app), what=dialog)
        await wait_until(pilot, lambda: not _busy(app), what=f"{dialog} loaded")
        await stable(pilot)
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_dialog)


@pytest.mark.parametrize("size", SIZES)
def test_confirmation(snap_compare, seeded_server, size) -> None:
    """Deleting one's own message asks first: y / n, Escape, and Cancel focused."""
    app = _app(seeded_server)

    async def ask(pilot) -> None:
        screen = await _unlock_and_open(pilot)
        screen.timeline.focus()
        _select(screen.timeline, "Great, I'll bring the drafts.")
        await pilot.press("d")
        await wait_until(pilot, lambda: "Delete this message?" in screen_text(app), what="the question")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=ask)


@pytest.mark.parametrize("size", SIZES)
def test_forward_dialog(snap_compare, seeded_server, size) -> None:
    app = _app(seeded_server)

    async def forward(pilot) -> None:
        screen = await _unlock_and_open(pilot)
        screen.timeline.focus()
        await pilot.press("f")
        await wait_until(pilot, lambda: "Forward to" in screen_text(app), what="the forward dialog")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=forward)
