"""The app on the local store (issue 10): it paints the box list and the last open box
from the store, reads and searches while the server is down, shows a message written
offline as pending, and sends it exactly once when the server is back."""

from __future__ import annotations

from boxtui.client.client import BoxClient
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.search import SearchScreen
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.conftest import PASSWORD, asgi_transport
from tests.messenger.conftest import BASE_URL, CHEAP_KDF
from tests.messenger.test_local_first import Network
from tests.store.test_disk_full import tiny_disk  # noqa: F401 - a fixture: a real 512 KiB tmpfs

from .conftest import SIZE, header_text, timeline_text, type_text, wait_until

import pytest
from textual.widgets import Input


@pytest.fixture
async def net(sqlite_app):
    return Network(asgi_transport(sqlite_app))


async def _ada(net, home) -> Messenger:
    client = BoxClient(BASE_URL, transport=net)
    return await Messenger.signup(client, Profile.load(home), "ada@example.org", PASSWORD, "Ada", **CHEAP_KDF)


async def _restart(home, net) -> Messenger:
    return await Messenger.resume(BoxClient(BASE_URL, transport=net), Profile.load(home), PASSWORD, offline_ok=True, **CHEAP_KDF)


async def test_offline_app_reads_searches_and_queues(net, tmp_path) -> None:
    ada = await _ada(net, tmp_path / "ada")
    notes = await ada.create_box("Field notes")
    other = await ada.create_box("Errands")
    for i in range(30):
        await ada.send_text(notes.id, f"river reading number {i}")
    await ada.send_text(other.id, "buy bread")
    await ada.sync()
    ada.remember_open_box(notes.id)
    ada.close_local()
    await ada.client.aclose()

    net.down = True
    offline = await _restart(tmp_path / "ada", net)
    app = BoxApp(offline)
    async with app.run_test(size=SIZE) as pilot:
        boxes = app.screen.query_one(BoxList)
        await wait_until(pilot, lambda: {r.title for r in boxes.rows} == {"Field notes", "Errands"}, what="stored boxes")
        await wait_until(pilot, lambda: "river reading number 29" in timeline_text(app), what="the last open box, stored")
        await wait_until(pilot, lambda: "offline" in header_text(app) or "reconnecting" in header_text(app), what="no connection shown")

        # written offline: shown pending, kept in the outbox
        await wait_until(pilot, lambda: app.focused is app.screen.composer.input, what="the composer focused")
        await type_text(pilot, "written with the server down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "written with the server down ◷ sending…" in timeline_text(app), what="pending row")

        # / searches the open box; Enter jumps to the message, its page loaded around it
        timeline = app.screen.query_one(BoxTimeline)
        timeline.focus()
        await pilot.press("slash")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen) and isinstance(app.focused, Input), what="the search screen")
        await type_text(pilot, "number 3")
        await wait_until(pilot, lambda: len(app.screen._hits) == 1, what="one result")
        assert "Field notes" in str(app.screen._hits[0].box_title)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, SearchScreen), what="the jump")
        await wait_until(
            pilot, lambda: (timeline.current_entry is not None and timeline.current_entry.text == "river reading number 3"),
            what="the cursor on the result",
        )

        # back online: the outbox goes out once, the pending row is replaced
        net.down = False
        app.screen.load_boxes()
        await wait_until(pilot, lambda: offline.outbox_entries() == [], timeout=20, what="the outbox sent")
    check = await _restart(tmp_path / "ada", net)
    texts = [e.text for e in await check.timeline_page(notes.id, tail=True) if e.is_message]
    assert texts.count("written with the server down") == 1
    check.close_local()
    offline.close_local()


async def test_search_all_boxes_from_the_palette_lists_sender_box_and_date(net, tmp_path) -> None:
    ada = await _ada(net, tmp_path / "ada")
    first = await ada.create_box("Kitchen")
    second = await ada.create_box("Garden")
    await ada.send_text(first.id, "tomatoes are ripe")
    await ada.send_text(second.id, "plant tomatoes in May")
    await ada.sync()
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.screen.query_one(BoxList).rows) == 2, what="the boxes")
        app.screen.action_search_all()
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen) and isinstance(app.focused, Input), what="the search screen")
        await type_text(pilot, "tomato")
        await wait_until(pilot, lambda: len(app.screen._hits) == 2, what="two results")
        from boxtui.tui.screens.search import result_text

        lines = [result_text(hit).plain for hit in app.screen._hits]
        assert lines[0].startswith("Ada  ·  Garden  ·  ") and "plant tomatoes in May" in lines[0]
        assert lines[1].startswith("Ada  ·  Kitchen  ·  ")
        spans = [s for s in result_text(app.screen._hits[0]).spans if "reverse" in str(s.style)]
        assert [result_text(app.screen._hits[0]).plain[s.start : s.end] for s in spans] == ["tomatoes"]
        await pilot.press("down")  # into the results
        await wait_until(pilot, lambda: not isinstance(app.focused, Input), what="the results focused")
        await pilot.press("end", "enter")
        await wait_until(pilot, lambda: "Kitchen" in header_text(app), what="the Kitchen box open")
    ada.close_local()


async def test_the_whole_history_is_fetched_from_the_app_in_the_background(net, tmp_path, monkeypatch) -> None:
    import boxtui.messenger.sync as sync
    from boxtui.tui.widgets.transfers import Transfer

    from tests.messenger.test_local_first import _sealed

    from .conftest import run_command, wait_for_notification

    monkeypatch.setattr(sync, "CATCH_UP_PAGE", 10)
    monkeypatch.setattr(sync, "BACKFILL_PAGE", 7)
    ada = await _ada(net, tmp_path / "ada")
    box = await ada.create_box("Archive")
    for i in range(40):
        await ada.client.events.post(box.id, "msg.text", _sealed(ada, box.id, f"old message {i}"))
    await ada.sync()
    assert ada.search("message 0", box_id=box.id) == []  # only the newest page is stored
    seen: list[str] = []
    update = Transfer._update
    monkeypatch.setattr(Transfer, "_update", lambda self, done, total: (seen.append(self.query_one(".transfer-stats").render().plain if seen else f"{self.label}: {done} of {total}"), update(self, done, total))[1])
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.screen.query_one(BoxList).rows) == 1, what="the box")
        app.screen.open_box(box.id)
        await wait_until(pilot, lambda: "Archive" in header_text(app), what="the box open")
        await run_command(pilot, app, "Fetch the whole history")
        message = await wait_for_notification(pilot, "The whole history of “Archive” is stored", timeout=20)
        assert "older events fetched): search covers it." in message
        assert seen and seen[0].startswith("History of Archive: ")
        assert any(" events" in line for line in seen[1:]), seen  # counted in events, not bytes
        assert not app.screen.query(Transfer), "the progress line goes when it is done"
    assert [r.entry.text for r in ada.search("message 0", box_id=box.id)] == ["old message 0"]
    ada.close_local()


async def test_a_second_app_on_the_profile_says_so_and_works(net, tmp_path) -> None:
    """The first app holds the profile's lock (here: another process); the second one
    opens, says who has the profile, and reads and sends all the same."""
    import subprocess
    import sys

    from boxtui.tui.app import SECOND_INSTANCE

    from .conftest import notifications, wait_for_notification

    ada = await _ada(net, tmp_path / "ada")
    box = await ada.create_box("Shared")
    await ada.sync()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from boxtui.messenger.instance import AppLock;"
         " lock = AppLock.acquire(Path(sys.argv[1])); print(lock.held, flush=True); time.sleep(60)", str(ada.profile.data_dir)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "True"
        app = BoxApp(ada)
        async with app.run_test(size=SIZE) as pilot:
            message = await wait_for_notification(pilot, "already open on this profile")
            assert message == SECOND_INSTANCE.format(holder=f" (process {holder.pid})")
            await wait_until(pilot, lambda: len(app.screen.query_one(BoxList).rows) == 1, what="the box")
            app.screen.open_box(box.id)
            await wait_until(pilot, lambda: app.focused is app.screen.composer.input, what="the composer focused")
            await type_text(pilot, "sent from the second window")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "sent from the second window" in timeline_text(app), what="the message")
            assert not [n for n in notifications(app) if n.startswith("Not sent")]
    finally:
        holder.kill()
        holder.wait()
    texts = [e.text for e in await ada.timeline_page(box.id, tail=True) if e.is_message]
    assert texts == ["sent from the second window"]
    app = BoxApp(ada)  # the holder is gone: the lock is free again, nothing is said
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.screen.query_one(BoxList).rows) == 1, what="the box")
        assert not [n for n in notifications(app) if "already open" in n]
    ada.close_local()


async def test_a_full_disk_refuses_the_message_clearly_and_loses_nothing(net, tiny_disk) -> None:
    """The profile on a 512 KiB tmpfs, filled up: sending says the disk is full, the
    text stays in the composer and no outbox row is half-written; with room again the
    same Enter sends it, once."""
    from .conftest import notifications, wait_for_notification

    ada = await _ada(net, tiny_disk / "ada")
    box = await ada.create_box("Tight")
    await ada.sync()
    ada.remember_open_box(box.id)
    long_text = "lorem ipsum dolor " * 800  # ~14 KB: sealed and queued, more than the outbox's journal holds
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.focused is app.screen.composer.input, what="the composer focused")
        filler = tiny_disk / "filler"
        with open(filler, "wb", buffering=0) as out:  # noqa: ASYNC230 - filling the disk is the test
            try:
                while True:
                    out.write(b"\0" * 4096)
            except OSError:
                pass
        app.screen.composer.text = long_text
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "Not sent", timeout=20)
        assert message == "Not sent: the disk is full: could not write the outbox; nothing was changed"
        await wait_until(pilot, lambda: app.screen.composer.text == long_text, what="the text back in the composer")
        assert ada.outbox_entries() == []
        filler.unlink()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.composer.text == "", timeout=20, what="sent")
        await wait_until(pilot, lambda: "lorem ipsum dolor" in timeline_text(app), what="shown")
        assert not [n for n in notifications(app) if n.startswith("Not sent")][1:], "the second Enter sent it"
    # The disk is full again (the cache indexed the message): the outbox may not have
    # noted it as sent (a later flush does, with the same key: see test_local_first), but
    # the server has one copy and the outbox at most that one entry.
    assert len(ada.outbox_entries()) <= 1
    texts = [e.text for e in await ada.timeline_page(box.id, tail=True) if e.is_message]
    assert texts == [long_text]
    ada.close_local()


async def test_unlock_screen_opens_the_app_on_the_store_with_the_server_down(net, tmp_path) -> None:
    """As a user starts it: a saved session, the server stopped, the password typed in the
    unlock screen. The app opens on the store (not "cannot reach the server"), and the
    keys are synced by the first sync once the server is back."""
    from boxtui.tui.screens.login import UnlockScreen
    from boxtui.tui.screens.main import MainScreen

    from .conftest import notifications, screen_text

    ada = await _ada(net, tmp_path / "ada")
    box = await ada.create_box("Offline plans")
    await ada.send_text(box.id, "the ferry leaves at nine")
    await ada.sync()
    ada.close_local()
    await ada.client.aclose()

    net.down = True
    device = Messenger(BoxClient(BASE_URL, transport=net), None, Profile.load(tmp_path / "ada"), **CHEAP_KDF)
    app = BoxApp(device)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, UnlockScreen), what="the unlock screen")
        await wait_until(pilot, lambda: app.screen.query("#unlock-password"), what="the password field")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), timeout=20, what="the main screen")
        assert not [n for n in notifications(app) if "Login failed" in n]
        await wait_until(pilot, lambda: "Offline plans" in screen_text(app), what="the stored box")
        messenger = app.messenger
        assert messenger.online is False and messenger._keys_pending
        net.down = False
        app.screen.load_boxes()
        await wait_until(pilot, lambda: messenger.online and not messenger._keys_pending, timeout=20, what="keys synced")
        messenger.close_local()



async def test_a_damaged_cache_is_said_in_the_app_and_the_boxes_come_back(net, tmp_path) -> None:
    from .conftest import wait_for_notification

    ada = await _ada(net, tmp_path / "ada")
    box = await ada.create_box("Mended")
    await ada.send_text(box.id, "still here after the damage")
    await ada.sync()
    folder = ada.local.folder
    ada.close_local()
    await ada.client.aclose()
    cache = folder / "cache.db"
    raw = bytearray(cache.read_bytes())
    raw[len(raw) // 4096 // 2 * 4096 + 300] ^= 0xFF  # one page in the middle
    cache.write_bytes(bytes(raw))
    for side in folder.glob("cache.db-*"):
        side.unlink()
    again = await _restart(tmp_path / "ada", net)
    app = BoxApp(again)
    async with app.run_test(size=SIZE) as pilot:
        said = await wait_for_notification(pilot, "set aside")
        assert "damaged" in said and "rebuilt from the server" in said
        await wait_until(pilot, lambda: {r.title for r in app.screen.query_one(BoxList).rows} == {"Mended"}, what="the box back")
    assert list(folder.glob("cache.db.damaged-*"))
    again.close_local()


async def test_the_first_box_opened_after_start_is_drawn_in_the_first_frame(net, tmp_path) -> None:
    """No box open at start: the timeline has never had a size. The first box opened
    from the store is wrapped for the width it gets in the frame that shows it, so that
    frame already draws the page, scrolled to its newest message (not an empty timeline
    for a frame, filled once that frame's resize arrives)."""
    ada = await _ada(net, tmp_path / "ada")
    notes = await ada.create_box("Field notes")
    for i in range(60):
        await ada.send_text(notes.id, f"river reading number {i}")
    await ada.sync()
    ada.close_local()
    await ada.client.aclose()

    net.down = True
    offline = await _restart(tmp_path / "ada", net)
    app = BoxApp(offline)
    frames: list[tuple[bool, bool]] = []  # per frame written once the page is set: (newest drawn, at the bottom)

    async with app.run_test(size=SIZE) as pilot:
        boxes = app.screen.query_one(BoxList)
        await wait_until(pilot, lambda: [r.title for r in boxes.rows] == ["Field notes"], what="the stored box")
        timeline = app.screen.query_one(BoxTimeline)
        assert not timeline.entries and timeline.size.width == 0  # nothing open: never laid out

        write_frame = app._display

        def display(screen, update) -> None:
            write_frame(screen, update)
            if timeline.entries:
                newest = timeline.entries[-1].event.id
                drawn = any(key[0] == newest for key in timeline._strips.keys())
                frames.append((drawn, timeline.scroll_y == timeline.max_scroll_y))

        app._display = display
        app.screen.open_box(notes.id)
        await wait_until(pilot, lambda: "river reading number 59" in timeline_text(app), what="the page")
        assert frames and frames[0] == (True, True), frames
    offline.close_local()
