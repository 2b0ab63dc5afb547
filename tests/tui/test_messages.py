"""The main screen: create a box, send, reply, edit, delete; previews, unread badges, errors."""

from __future__ import annotations

import boxtui.tui.screens.main as main_screen
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.main import PAGE_SIZE
from boxtui.tui.screens.dialogs import ConfirmDialog, NewBoxDialog
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.composer import Composer
from boxtui.tui.widgets.timeline import BoxTimeline

from .conftest import SIZE, screen_text, send_texts, timeline_text, type_text, wait_for_notification, wait_for_text, wait_until


async def test_create_box_send_reply_edit_delete(user) -> None:
    ada = await user("ada")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewBoxDialog))
        await type_text(pilot, "Holiday plans")
        await pilot.press("enter")
        await wait_for_notification(pilot, "Box “Holiday plans” created.")
        header = app.screen.query_one("#box-header")
        # (the box may be painted from the store first: the member count comes with the server's answer)
        await wait_until(pilot, lambda: "Holiday plans" in header.render().plain and "1 member" in header.render().plain, what="the header")
        assert "limited" in header.render().plain
        await wait_until(pilot, lambda: app.focused is app.screen.query_one(Composer).input, what="the composer focused")

        await type_text(pilot, "Shall we go to [bold]Lisbon[/]?")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Shall we go to [bold]Lisbon[/]?" in timeline_text(app), what="the message")
        assert app.screen.query_one(Composer).text == ""
        boxes = app.screen.query_one(BoxList)
        await wait_until(  # (the timeline may show it pending before the row hears it went out)
            pilot, lambda: boxes.row(app.screen.current_box_id).preview == "Ada: Shall we go to [bold]Lisbon[/]?", what="the preview"
        )

        # Reply to it: the composer says so, and Escape would cancel.
        app.screen.query_one(BoxTimeline).focus()
        await pilot.press("r")
        await wait_for_text(pilot, "Replying to: Shall we go to [bold]Lisbon[/]?")
        await type_text(pilot, "Or Porto")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: "Or Porto" in timeline_text(app) and "replying to Ada: Shall we go to" in timeline_text(app), what="the reply"
        )
        assert "Replying to" not in screen_text(app)

        # Edit the reply: the composer is prefilled.
        app.screen.query_one(BoxTimeline).focus()
        await pilot.press("e")
        await wait_for_text(pilot, "Editing: Or Porto")
        assert app.screen.query_one(Composer).text == "Or Porto"
        await type_text(pilot, " in May")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Or Porto in May" in timeline_text(app), what="the edit")
        assert "(edited)" in timeline_text(app)

        # Delete it after confirming.
        app.screen.query_one(BoxTimeline).focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Delete this message?" in screen_text(app)
        await pilot.click("#confirm-yes")
        await wait_for_notification(pilot, "Message deleted.")
        await wait_until(pilot, lambda: "message deleted" in timeline_text(app), what="the deleted mark")
        assert "Or Porto in May" not in timeline_text(app)


async def test_escape_cancels_a_reply_and_newline_key_keeps_typing(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Notes")
    await ada.send_text(box.id, "first")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Notes")
        await pilot.press("enter")  # the filter is focused: enter opens the top box
        await wait_until(pilot, lambda: "first" in timeline_text(app), what="the timeline")
        app.screen.query_one(BoxTimeline).focus()
        await pilot.press("r")
        await wait_for_text(pilot, "Replying to: first")
        await pilot.press("escape")
        await wait_until(pilot, lambda: "Replying to" not in screen_text(app), what="the reply cancelled")
        await type_text(pilot, "line one")
        await pilot.press("ctrl+j")
        await type_text(pilot, "line two")
        assert app.screen.query_one(Composer).text == "line one\nline two"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "line two" in timeline_text(app), what="the two-line message")
        entries = app.screen.query_one(BoxTimeline).entries
        assert entries[-1].text == "line one\nline two" and entries[-1].event.referrer_id is None


async def test_box_list_is_most_recent_first_with_unread_badges_and_filter(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    older = await ada.create_box("Older box")
    newer = await ada.create_box("Newer box")
    await ada.set_access_mode(older.id, True)
    await bob.join_link(await ada.invitation_link(older.id))
    await bob.send_text(older.id, "hello from bob")  # makes "Older box" the most recent
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        boxes = app.screen.query_one(BoxList)
        # (the stored list paints first; the server's answer then brings bob's message)
        await wait_until(
            pilot, lambda: [row.title for row in boxes.rows] == ["Older box", "Newer box"], what="the boxes, most recent first"
        )
        top = boxes.row(older.id)
        assert top.preview == "Bob: hello from bob" and top.unread == 2  # bob's join and message
        assert "hello from bob" in screen_text(app)

        await type_text(pilot, "nwr")  # fuzzy filter
        await wait_until(pilot, lambda: boxes.shown_ids == [newer.id], what="the filtered list")
        await pilot.press("ctrl+u")  # clear the filter input
        await wait_until(pilot, lambda: len(boxes.shown_ids) == 2, what="the full list")

        await pilot.press("enter")  # opens the top box and acknowledges it
        await wait_until(pilot, lambda: boxes.row(older.id).unread == 0, what="the unread reset")
        assert (await ada.get_box(older.id)).events_count == 0


async def test_posting_to_a_closed_box_is_refused_readably(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Archive")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Archive")
        await pilot.press("enter")
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "Archive" in header.render().plain, what="the box open")
        await ada.set_lifecycle(box.id, True)  # closed meanwhile (e.g. from another device)
        await type_text(pilot, "too late")
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "Not sent")
        assert message == "Not sent: the box is closed: nothing can be posted"
        assert app.screen.query_one(Composer).text == "too late"  # the draft is kept


async def test_older_messages_load_when_scrolling_up(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Long history")
    await send_texts(ada, box.id, [f"message {n}" for n in range(120)])
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Long history")
        await pilot.press("enter")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: len(timeline.entries) == PAGE_SIZE, what="the first page")
        timeline.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: len(timeline.entries) == 121, what="the older page")
        assert timeline.entries[0].event.type == "create"
        assert {entry.text for entry in timeline.entries[1:]} == {f"message {n}" for n in range(120)}


async def test_the_timeline_window_stays_bounded_both_ways(user, monkeypatch) -> None:
    monkeypatch.setattr(main_screen, "MAX_LOADED_EVENTS", 150)
    ada = await user("ada")
    box = await ada.create_box("Very long history")
    await send_texts(ada, box.id, [f"message {n}" for n in range(320)])
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Very long history")
        await pilot.press("enter")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: len(timeline.entries) == PAGE_SIZE, what="the first page")
        timeline.focus()
        for _ in range(10):  # up to the very first event, 321 events back, a page per Home
            first = timeline.entries[0].event.id
            await pilot.press("home")
            await wait_until(pilot, lambda: timeline.entries[0].event.id != first or not timeline.has_older, what="an older page")
            if not timeline.has_older:
                break
        assert timeline.entries[0].event.type == "create"
        # The bound is soft only by the events kept around the cursor, never by history.
        bound = 150 + timeline._keep_near_view()
        assert len(timeline.entries) <= bound < 321 and timeline.has_newer
        for _ in range(10):  # and back down to the newest message, a page per End
            last = timeline.entries[-1].event.id
            await pilot.press("end")
            await wait_until(pilot, lambda: timeline.entries[-1].event.id != last or not timeline.has_newer, what="a newer page")
            if not timeline.has_newer:
                break
        assert not timeline.has_newer
        assert len(timeline.entries) <= bound
        [newest] = await ada.timeline_page(box.id, tail=True, limit=1)
        assert timeline.entries[-1].event.id == newest.event.id


async def test_quick_sends_all_arrive_in_order(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Rapid")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Rapid")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.current_box_id, what="the box open")
        for word in ("one", "two", "three"):
            await type_text(pilot, word)
            await pilot.press("enter")  # no waiting: the composer is free at once
        await wait_until(pilot, lambda: "three" in timeline_text(app), what="the last message")
    texts = [entry.text for entry in await ada.timeline_page(box.id, tail=True) if entry.text]
    assert texts == ["one", "two", "three"]
