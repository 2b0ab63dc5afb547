"""Fixtures for driving the real app (``App.run_test`` + ``Pilot``) against the real server.

The server runs in-process (``sqlite_app``) behind ``httpx.ASGITransport``; every user
has their own profile folder and a real messenger with the cheapest key-store KDF.
Helpers wait for what a user would see (screen text, notifications), never for internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual import events
from textual.app import App
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable

from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.conftest import PASSWORD
from tests.messenger.conftest import CHEAP_KDF, new_client  # noqa: F401 - new_client is a fixture

SIZE = (120, 36)


@pytest.fixture
def device(new_client, tmp_path: Path) -> Callable[[str], Messenger]:
    """``device("ada")``: a messenger not logged in yet, with the profile ``tmp/ada``."""

    def make(home: str) -> Messenger:
        return Messenger(new_client(), None, Profile.load(tmp_path / home), **CHEAP_KDF)

    return make


@pytest.fixture
def user(device) -> Callable[[str], Awaitable[Messenger]]:
    """``await user("ada")``: signed up (ada@example.org), logged in, key store open."""

    async def make(name: str, *, home: str | None = None) -> Messenger:
        messenger = device(home or name)
        await messenger.client.auth.signup(f"{name}@example.org", PASSWORD, name.capitalize())
        await messenger.login_password(f"{name}@example.org", PASSWORD)
        return messenger

    return make


async def send_texts(messenger: Messenger, box_id: str, texts: list[str], at_once: int = 4) -> None:
    """Send many messages through the real messenger and server, ``at_once`` at a time.

    (All at once they queue for the server's 15 SQLite connections, and on a loaded
    machine some wait past the pool's 30 s timeout.)"""
    slots = asyncio.Semaphore(at_once)

    async def send(text: str) -> None:
        async with slots:
            await messenger.send_text(box_id, text)

    await asyncio.gather(*(send(text) for text in texts))


@pytest.fixture(autouse=True)
def keep_notifications(monkeypatch) -> None:
    """Keep every notification an app shows (on screen they expire after a few seconds)."""
    show = App._on_notify

    def record(app: App, event: events.Event) -> None:
        app.__dict__.setdefault("shown_notifications", []).append(event.notification.message)
        show(app, event)

    monkeypatch.setattr(App, "_on_notify", record)


def notifications(app: App) -> list[str]:
    """Every notification the app has shown, oldest first."""
    return list(app.__dict__.get("shown_notifications", []))


def screen_text(app: App) -> str:
    """Everything the terminal shows (a modal over the screens below it), as plain text."""
    from textual._compositor import visible_screen_stack

    visible_screen_stack.set(app._background_screens)
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_until(pilot: Pilot, predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` holds (fails the test after ``timeout`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            app = pilot.app
            raise AssertionError(
                f"timed out waiting for {what or predicate}\nscreen: {type(app.screen).__name__}\n"
                f"notifications: {notifications(app)}\n{screen_text(app)}"
            )
        await pilot.pause(0.02)


async def wait_until_settled(pilot: Pilot, timeout: float = 10.0) -> None:
    """Until the app has nothing in flight but its long-lived realtime listener: start-up's
    box list, catch-up and outbox are done. A test that changes the server behind the
    app's back (revokes the session, stops the server) waits for this first, or the
    change lands in the middle of start-up and start-up is what notices it."""
    from textual.worker import WorkerState

    def settled() -> bool:
        return not [
            worker
            for worker in pilot.app.workers
            if worker.group != "realtime" and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]

    await wait_until(pilot, settled, timeout, "the app to finish loading")


async def wait_for_notification(pilot: Pilot, fragment: str, timeout: float = 10.0) -> str:
    await wait_until(pilot, lambda: any(fragment in n for n in notifications(pilot.app)), timeout, f"a notification with {fragment!r}")
    return next(n for n in notifications(pilot.app) if fragment in n)


async def wait_for_text(pilot: Pilot, fragment: str, timeout: float = 10.0) -> None:
    await wait_until(pilot, lambda: fragment in screen_text(pilot.app), timeout, f"{fragment!r} on screen")


async def type_text(pilot: Pilot, text: str) -> None:
    """Put text in the focused field as a terminal paste does (one key per character
    is ~80 ms each under the pilot; a paste goes through the same widget code)."""
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


def timeline_text(app: App) -> str:
    """What the open box's timeline shows."""
    timeline = app.screen.query_one(BoxTimeline)
    return "\n".join(timeline.render_line(y).text for y in range(timeline.size.height))


def table_rows(table: DataTable) -> list[list[str]]:
    """A table's cells as plain text."""
    return [[str(getattr(cell, "plain", cell)) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def footer_text(app: App) -> str:
    """What the footer of the screen on top shows, as plain text ("^n New box  f1 Help …")."""
    from boxtui.tui.widgets.footer import BoxFooter

    return "  ".join(footer.text() for footer in app.screen.query(BoxFooter))


def header_text(app: App) -> str:
    return app.screen.query_one("#box-header").render().plain


async def open_box(pilot: Pilot, app: BoxApp, title: str) -> None:
    """Find a box with the filter and open it (as a user types its name and Enter)."""
    await wait_for_text(pilot, title)
    box_filter = app.screen.query_one(BoxList).query_one("#box-filter")
    box_filter.focus()
    box_filter.value = title
    await pilot.press("enter")
    await wait_until(pilot, lambda: title in header_text(app), what=f"{title} open")
    box_filter.value = ""


async def run_command(pilot: Pilot, app: BoxApp, text: str, shown: str | None = None) -> None:
    """Pick ``text`` in the command palette (waiting for ``shown`` in the list)."""
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")
    await type_text(pilot, text)
    await wait_for_text(pilot, shown or text)
    await pilot.press("enter")
