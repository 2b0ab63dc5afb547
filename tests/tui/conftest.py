"""Fixtures for driving the real app (``App.run_test`` + ``Pilot``) against the real server.

The server runs in-process (``sqlite_app``) behind ``httpx.ASGITransport``; every user
has their own profile folder and a real messenger with the cheapest key-store KDF.
Helpers wait for what a user would see (screen text, notifications), never for internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from textual import events
from textual.app import App
from textual.pilot import Pilot

from boxtui.client.client import BoxClient
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from tests.conftest import PASSWORD

#: Lowest Argon2id cost libsodium accepts: key stores open in milliseconds.
CHEAP_KDF = {"opslimit": 1, "memlimit": 8192 * 1024}
#: Loopback, so invitation links may be plain http (the transport never dials it).
BASE_URL = "http://127.0.0.1:8642"
SIZE = (120, 36)


@pytest.fixture
async def new_client(sqlite_app) -> AsyncIterator[Callable[[], BoxClient]]:
    clients: list[BoxClient] = []

    def make() -> BoxClient:
        client = BoxClient(BASE_URL, transport=httpx.ASGITransport(app=sqlite_app))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


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


def make_app(messenger: Messenger) -> BoxApp:
    return BoxApp(messenger)


__all__ = ["PASSWORD", "SIZE", "notifications", "screen_text", "wait_until", "wait_for_notification", "wait_for_text", "type_text"]
