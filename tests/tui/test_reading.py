"""Reading (issue 9 part 4): a message taller than the screen, the pager, the "new since
you left" line, the next unread box, marking a box unread, and the box and place
restored at the next start. The real app against the real server (in-process)."""

from __future__ import annotations

import base64

from boxtui.tui.app import BoxApp
from boxtui.tui.screens.pager import MessagePager, PagerScreen
from boxtui.tui.widgets.timeline import BoxTimeline

from .conftest import open_box, screen_text, timeline_text, type_text, wait_for_text, wait_until

#: 20,000 characters of numbered words: every row of it can be told apart.
HUGE_TEXT = " ".join(f"w{i:05d}" for i in range(1, 2858))[:20000]
HUGE_WORDS = HUGE_TEXT.split()


def words_shown(timeline: BoxTimeline) -> set[str]:
    return {word for y in range(timeline.scrollable_content_region.height) for word in timeline.render_line(y).text.split()}


async def test_a_message_taller_than_the_screen_is_read_to_the_end_by_keyboard(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Logs")
    await ada.send_text(box.id, "before")
    huge = await ada.send_text(box.id, HUGE_TEXT)
    await ada.send_text(box.id, "after")
    app = BoxApp(ada)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_box(pilot, app, "Logs")
        await wait_until(pilot, lambda: "after" in timeline_text(app), what="the box's page")
        timeline = app.screen.query_one(BoxTimeline)
        timeline.focus()
        await pilot.press("up")
        assert timeline.current_entry.event.id == huge.id
        start, end = timeline._rows_of(timeline.cursor_index)
        assert end - start > 300  # ~320 rows at 80 columns

        # Coming up from below, its last rows show; up scrolls through it one row a time,
        # the cursor staying on it, until its first row is on screen.
        seen = words_shown(timeline)
        assert HUGE_WORDS[-1] in seen
        presses = 0
        while HUGE_WORDS[0] not in words_shown(timeline):
            await pilot.press("up")
            presses += 1
            seen |= words_shown(timeline)
            assert timeline.current_entry.event.id == huge.id
            assert presses < 400
        assert set(HUGE_WORDS) <= seen  # every word was on screen
        await pilot.press("up")
        assert timeline.current_entry.text == "before"

        # Down again: onto it at its first row, then page by page through it.
        await pilot.press("down")
        assert timeline.current_entry.event.id == huge.id and HUGE_WORDS[0] in words_shown(timeline)
        seen = set()
        for _ in range(40):
            seen |= words_shown(timeline)
            if HUGE_WORDS[-1] in seen:
                break
            await pilot.press("pagedown")
            assert timeline.current_entry.event.id == huge.id
        assert set(HUGE_WORDS) <= seen
        await pilot.press("down")
        assert timeline.current_entry.text == "after"


async def test_enter_opens_the_pager_search_and_copy_with_osc52(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Logs")
    text = HUGE_TEXT + " needle at the end\x1b[31m"
    await ada.send_text(box.id, text)
    app = BoxApp(ada)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_box(pilot, app, "Logs")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: timeline.current_entry is not None and timeline.current_entry.text == text)
        timeline.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), what="the pager")
        pager = app.screen.query_one(MessagePager)
        assert pager.scroll_offset.y == 0 and "w00001" in screen_text(app)
        assert "Ada" in screen_text(app) and "rows 1–" in screen_text(app)

        await pilot.press("end")
        assert "needle at the end" in screen_text(app)
        await pilot.press("home", "pagedown")
        assert pager.scroll_offset.y > 0 and "w00001" not in screen_text(app)

        # / searches (any case); n and N go through the matches, wrapping.
        await pilot.press("home", "slash")
        await type_text(pilot, "W0200")
        await pilot.press("enter")
        assert len(pager.matches) == 10 and pager.current == 0
        assert "w02000" in screen_text(app) and "match 1/10" in screen_text(app)
        await pilot.press("n", "n")
        assert pager.current == 2 and "match 3/10" in screen_text(app)
        await pilot.press("N", "N", "N")
        assert pager.current == 9 and "w02009" in screen_text(app)
        await pilot.press("slash")
        await type_text(pilot, "no such words")
        await pilot.press("enter")
        assert "'no such words': not found" in screen_text(app)

        # y copies the whole message: OSC 52 with its base64, written to the terminal.
        written: list[str] = []
        driver_write = app._driver.write
        app._driver.write = lambda data: (written.append(data), driver_write(data))
        await pilot.press("y")
        assert app.clipboard == text
        osc52 = [data for data in written if data.startswith("\x1b]52;c;")]
        assert osc52 == [f"\x1b]52;c;{base64.b64encode(text.encode()).decode()}\a"]

        await pilot.press("q")
        await wait_until(pilot, lambda: not isinstance(app.screen, PagerScreen), what="the pager closed")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), what="the pager again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, PagerScreen), what="the pager closed by Escape")
        assert app.focused is timeline


def rows(app) -> list[str]:
    return [line.strip() for line in timeline_text(app).splitlines()]


def row_index(lines: list[str], fragment: str) -> int:
    return next(i for i, line in enumerate(lines) if fragment in line)


async def test_new_since_you_left_next_unread_and_mark_unread(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    plans, other = await ada.create_box("Plans"), await ada.create_box("Other")
    for box in (plans, other):
        await ada.set_access_mode(box.id, True)
        await bob.join_link(await ada.invitation_link(box.id))
    await ada.send_text(plans.id, "read before leaving")

    app = BoxApp(ada)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_box(pilot, app, "Plans")
        await wait_until(pilot, lambda: "read before leaving" in timeline_text(app))
        await wait_until(pilot, lambda: app.screen.box_list.row(plans.id).unread == 0, what="Plans read")
    # Away: Bob writes in both boxes.
    await bob.send_text(plans.id, "new one")
    await bob.send_text(plans.id, "new two")
    await bob.send_text(other.id, "hello in other")

    app = BoxApp(ada)
    async with app.run_test(size=(100, 30)) as pilot:
        # Plans comes back (the last open box), the line above the first new message.
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "Plans" in header.render().plain and "new two" in timeline_text(app))
        await wait_until(pilot, lambda: "new since you left" in timeline_text(app), what="the new line")
        lines = rows(app)
        assert row_index(lines, "read before leaving") < row_index(lines, "new since you left") < row_index(lines, "new one")

        # alt+a: to the other box with unread messages; its line too; then none is left.
        boxes = app.screen.box_list
        await wait_until(pilot, lambda: boxes.row(other.id).unread == 2, what="Other's badge (Bob joined, his message)")
        await wait_until(pilot, lambda: boxes.row(plans.id).unread == 0, what="Plans read")
        await pilot.press("alt+a")
        await wait_until(pilot, lambda: "Other" in header.render().plain, what="Other open by alt+a")
        await wait_until(pilot, lambda: boxes.row(other.id).unread == 0)
        lines = rows(app)
        assert row_index(lines, "new since you left") < row_index(lines, "hello in other")
        assert not app.screen.check_action("next_unread", ())
        await pilot.press("alt+a")
        assert "Other" in header.render().plain  # nothing unread elsewhere: stays

        # alt+u marks Other unread from the selected message: "•" in the list; back in
        # Plans, alt+a returns to Other with the line above that message.
        timeline = app.screen.query_one(BoxTimeline)
        timeline.focus()
        await pilot.press("end", "alt+u")  # (the cursor starts on the first new event)
        assert boxes.row(other.id).marked and "•" in screen_text(app)
        app.screen.open_box(plans.id)
        await wait_until(pilot, lambda: "Plans" in header.render().plain)
        assert "new since you left" not in timeline_text(app)  # seen: no line the second time
        await pilot.press("alt+a")
        await wait_until(pilot, lambda: "Other" in header.render().plain, what="Other again by alt+a")
        lines = rows(app)
        assert row_index(lines, "new since you left") < row_index(lines, "hello in other")
        assert not boxes.row(other.id).marked
        assert timeline.current_entry.text == "hello in other"


async def test_the_last_box_and_the_place_in_it_come_back_at_the_next_start(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("History")
    for i in range(60):
        await ada.send_text(box.id, f"line {i:02d}")
    app = BoxApp(ada)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_box(pilot, app, "History")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: "line 59" in timeline_text(app))
        timeline.focus()
        await pilot.press(*["up"] * 30)
        assert timeline.current_entry.text == "line 29"
        spot = timeline.view_position
        shown = timeline_text(app)
        assert "line 59" not in shown
    app = BoxApp(ada)
    async with app.run_test(size=(80, 24)) as pilot:
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "History" in header.render().plain, what="the box reopened")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: timeline.current_entry is not None and timeline.current_entry.text == "line 29")
        await pilot.pause(0.3)  # the server's page arrives after the stored one: the place holds
        assert timeline.current_entry.text == "line 29" and timeline.view_position == spot
        assert timeline_text(app) == shown
