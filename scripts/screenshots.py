"""Write SVG screenshots of every screen of the real app into ``screenshots/``.

Starts a real ``boxtui serve`` process (the app's own local-server starter) on a
scratch folder, seeds it through the real messenger (two people, two boxes, messages,
a reply, an edit, a saved file, access rules), then drives the real ``BoxApp`` with
Pilot through each screen and saves what the terminal shows with
``app.save_screenshot``, once at 80×24 (the usual SSH terminal, the design size) and
once at 120×40: ``screenshots/NAME-80x24.svg`` and ``NAME-120x40.svg``. A screen that
cannot be reached is skipped with a note, and the script then exits 1.

Run: ``python scripts/screenshots.py`` (a minute or two).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar

from boxtui.client import BoxClient
from boxtui.core.timefmt import format_time
from boxtui.messenger.embedded import LocalServer, ensure_local_server, stop_local_server
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessChange
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.messages import OpenBox
from boxtui.tui.screens.main import MainScreen
from boxtui.tui.widgets.timeline import BoxTimeline

OUT = Path(__file__).resolve().parents[1] / "screenshots"
#: Every screen is shot at each of these terminal sizes.
SIZES = [(80, 24), (120, 40)]
PASSWORD = "correct horse battery"
KDF = {"opslimit": 1, "memlimit": 8192 * 1024}  # the key stores open at once
#: The times shown in the timeline (the events are real; their times are made stable).
SHOWN_FROM = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
#: Event id → the time the shots show for it.
SHOWN_TIMES: dict[str, str] = {}


def _at_shown_times() -> None:
    """Every timeline draws the seeded events at :data:`SHOWN_TIMES`, in UTC, however
    and whenever the app loads them (store, server, refresh)."""
    make_item = BoxTimeline._make_item

    def at_shown_time(timeline: BoxTimeline, entry):
        shown = SHOWN_TIMES.get(entry.event.id)
        if shown is not None:
            timeline.timezone = timezone.utc
            update = {"server_event_created_at": shown, **({"last_edited_at": shown} if entry.event.last_edited_at else {})}
            entry = replace(entry, event=entry.event.model_copy(update=update))
        return make_item(timeline, entry)

    BoxTimeline._make_item = at_shown_time


async def seed(url: str, root: Path) -> Path:
    """Ada's and Bob's accounts and boxes; returns the big file used for the upload shot."""
    async with BoxClient(url) as ada_client, BoxClient(url) as bob_client:
        ada = await Messenger.signup(ada_client, Profile.load(root / "ada"), "ada@example.org", PASSWORD, "Ada Lovelace", **KDF)
        bob = await Messenger.signup(bob_client, Profile.load(root / "bob"), "bob@example.org", PASSWORD, "Bob Kahn", **KDF)
        boxes = {}
        for title in ("Release 1.0", "Plans"):
            box = (await ada.create_box(title)).id
            await ada.apply_access_batch(
                box, add=[AccessChange("identifier", "bob@example.org"), AccessChange("email_domain", "example.org")]
            )
            await bob.join_link(await ada.invitation_link(box))
            boxes[title] = box
        await bob.send_text(boxes["Release 1.0"], "Is the release still on for Friday?")
        plans = boxes["Plans"]
        question = await ada.send_text(plans, "Shall we meet on Thursday to go through the plans?")
        await bob.send_text(plans, "Thursday works. 10h in the small room?", reply_to=question.id)
        typo = await ada.send_text(plans, "Grat, I'll bring the drafts.")
        await ada.edit_text(plans, typo.id, "Great, I'll bring the drafts.")
        drafts = root / "drafts-v3.pdf"
        drafts.write_bytes(b"%PDF-1.7\n" + bytes(180_000))
        shared = await ada.upload_file(plans, drafts)
        await bob.save_file(shared.id)
        await bob.send_text(
            plans,
            "Read them on the train. Section 2 needs a second look; the rest is fine. "
            "I left notes in the margin, see you Thursday.",
        )
        for box in boxes.values():  # the times the shots show, whenever the app loads the events
            for index, entry in enumerate(await ada.all_events(box)):
                SHOWN_TIMES[entry.event.id] = format_time(SHOWN_FROM + index * timedelta(minutes=6))
    big = root / "site-backup.tar"
    big.write_bytes(bytes(96 * 1024 * 1024))
    return big


async def until(pilot: Pilot, predicate: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


#: Screens that could not be shot (the script exits 1 when there are any).
SKIPPED: list[str] = []


def shoot(app: BoxApp, name: str) -> None:
    app.clear_notifications()
    width, height = app.size
    file_name = f"{name}-{width}x{height}.svg"
    app.save_screenshot(file_name, str(OUT))
    print(f"  wrote screenshots/{file_name}")


async def screen_shot(pilot: Pilot, name: str, open_it: Callable[[], Awaitable[None]], ready: Callable[[], object]) -> None:
    """Open a screen, wait until it shows what it should, save it, close it."""
    app = pilot.app
    try:
        await open_it()
        await until(pilot, ready, name)
        await pilot.pause()
        shoot(app, name)
    except Exception as exc:  # noqa: BLE001 - one missing screen must not stop the others
        SKIPPED.append(f"{name} at {app.size.width}x{app.size.height}")
        print(f"  skipped {name}: {exc.__class__.__name__}: {exc}")
    while not isinstance(app.screen, MainScreen) and len(app.screen_stack) > 2:
        app.pop_screen()
    await pilot.pause()


async def drive(url: str, root: Path, big_file: Path, size: tuple[int, int]) -> None:
    fresh = BoxApp(profile=Profile.load(root / "newcomer"), server_url=url)
    async with fresh.run_test(size=size) as pilot:
        await until(pilot, lambda: fresh.screen.query("#login-email"), "the login screen")
        fresh.screen.query_one("#login-email", Input).value = "grace@example.org"
        await pilot.pause()
        shoot(fresh, "login")

    app = BoxApp(profile=Profile.load(root / "ada"), server_url=url)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.screen.query("#unlock-password"), "the unlock screen")
        shoot(app, "unlock")
        app.screen.query_one("#unlock-password", Input).value = PASSWORD
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        main = app.screen
        await until(pilot, lambda: len(main.box_list.rows) == 2, "the box list")
        main.post_message(OpenBox(next(row.box_id for row in main.box_list.rows if row.title == "Plans")))
        timeline = main.query_one(BoxTimeline)
        await until(pilot, lambda: len(timeline.entries) >= 7, "the Plans timeline")
        await until(pilot, lambda: main.header.connection == "connected", "the realtime link")
        await until(pilot, lambda: not [w for w in app.workers if w.is_running and w.group != "realtime"], "the app at rest")
        timeline.focus()
        await pilot.press("up")
        await pilot.pause()
        shoot(app, "main")
        if main.narrow:  # the box list as a drawer over the conversation
            await pilot.press("ctrl+f")
            await until(pilot, lambda: main.drawer_open, "the drawer")
            await pilot.pause()
            shoot(app, "box-list-drawer")
            await pilot.press("escape")
            timeline.focus()
            await pilot.pause()

        async def press(*keys: str) -> None:
            await pilot.press(*keys)

        def on(screen_name: str) -> Callable[[], bool]:
            return lambda: type(app.screen).__name__ == screen_name

        async def new_box() -> None:
            await press("ctrl+n")
            await until(pilot, lambda: app.screen.query(Input), "the new-box dialog")
            app.screen.query_one(Input).value = "Garden club"

        await screen_shot(pilot, "new-box", new_box, on("NewBoxDialog"))
        await screen_shot(pilot, "invitation", lambda: press("ctrl+l"), lambda: on("InvitationDialog")() and "/boxes/" in _text(app))
        await screen_shot(pilot, "access-manager", lambda: press("ctrl+r"), lambda: on("AccessManagerScreen")() and "example.org" in _text(app))
        await screen_shot(pilot, "members", lambda: press("ctrl+b"), lambda: on("MembersScreen")() and "Bob Kahn" in _text(app))
        await screen_shot(pilot, "settings", lambda: press("f2"), on("SettingsScreen"))
        await screen_shot(pilot, "help", lambda: press("f1"), on("HelpScreen"))

        async def search() -> None:  # the palette's "Search all boxes", over the local store
            main.action_search_all()
            await until(pilot, lambda: app.screen.query("#search-input"), "the search screen")
            app.screen.query_one("#search-input", Input).value = "thursday"

        await screen_shot(pilot, "search", search, lambda: on("SearchScreen")() and "Plans" in _text(app) and "message(s)" in _text(app))

        async def on_message(text: str, key: str) -> None:
            timeline.focus()
            timeline.select_event(next(e.event.id for e in timeline.entries if e.text == text))
            await press(key)

        await screen_shot(pilot, "confirm-delete", lambda: on_message("Great, I'll bring the drafts.", "d"), on("ConfirmDialog"))
        await screen_shot(pilot, "forward", lambda: on_message("Shall we meet on Thursday to go through the plans?", "f"),
                          on("ForwardDialog"))

        async def save_as() -> None:
            timeline.focus()
            timeline.select_event(next(e.event.id for e in timeline.entries if e.file is not None))
            await press("w")
            await until(pilot, lambda: app.screen.query("#save-path"), "the save dialog")
            app.screen.query_one("#save-path", Input).value = "~/Downloads/drafts-v3.pdf"

        await screen_shot(pilot, "save-download", save_as, on("SaveDialog"))

        await shoot_upload_in_progress(pilot, big_file)

    bob = BoxApp(profile=Profile.load(root / "bob"), server_url=url)
    async with bob.run_test(size=size) as pilot:
        await until(pilot, lambda: bob.screen.query("#unlock-password"), "Bob's unlock screen")
        bob.screen.query_one("#unlock-password", Input).value = PASSWORD
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(bob.screen, MainScreen), "Bob's main screen")
        await screen_shot(pilot, "saved-files", lambda: pilot.press("ctrl+s"),
                          lambda: type(bob.screen).__name__ == "SavedFilesPanel" and "drafts-v3.pdf" in _text(bob))


async def shoot_upload_in_progress(pilot: Pilot, big_file: Path) -> None:
    """The upload dialog half-way. Over loopback the whole upload goes out between two
    frames, so the shot is taken from the progress bar's own update, at about 50%."""
    app = pilot.app
    original_update = ProgressBar.update
    shot: list[bool] = []

    def update(bar: ProgressBar, **changes) -> None:
        original_update(bar, **changes)
        if not shot and type(app.screen).__name__ == "UploadDialog" and 0.4 < (bar.percentage or 0) < 0.8:
            shot.append(True)
            shoot(app, "upload-progress")

    ProgressBar.update = update
    try:
        await pilot.press("ctrl+t")
        await until(pilot, lambda: app.screen.query("#upload-path"), "the upload dialog")
        app.screen.query_one("#upload-path", Input).value = str(big_file)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the upload to finish", timeout=60)
        if not shot:
            SKIPPED.append(f"upload-progress at {app.size.width}x{app.size.height}")
            print("  skipped upload-progress: no progress report between 40% and 80%")
    finally:
        ProgressBar.update = original_update


def _text(app: BoxApp) -> str:
    """What the terminal shows, as plain text."""
    from textual._compositor import visible_screen_stack

    visible_screen_stack.set(app._background_screens)
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def main() -> int:
    OUT.mkdir(exist_ok=True)
    _at_shown_times()
    for size in SIZES:  # a fresh server and the same seed for each size: the shots match
        root = Path(tempfile.mkdtemp(prefix="boxtui-screenshots-"))
        owner = LocalServer.private(root / "server")
        try:
            url = ensure_local_server(owner)
            print(f"at {size[0]}x{size[1]}, server {url}:")
            big_file = asyncio.run(seed(url, root))
            asyncio.run(drive(url, root, big_file, size))
        finally:
            stop_local_server(owner)
            shutil.rmtree(root, ignore_errors=True)
    if SKIPPED:
        print(f"not shot: {', '.join(SKIPPED)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
