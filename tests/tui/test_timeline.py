"""BoxTimeline in a real Textual app, fed with events made through the real server.

The history comes from :mod:`tests.tui.timeline_history` (real server in-process, real
messenger and crypto); paging talks to a live in-process server. Assertions read what
the widget draws (``render_line(y).text``) and the messages it posts.
"""

from __future__ import annotations

from datetime import timedelta, timezone

from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from textual.binding import Binding

from boxtui.core.timefmt import parse_time
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.tui.timeline_history import (
    FIXED_START,
    LONG_TEXT,
    MARKUP_TEXT,
    History,
    TimelineHost as Host,
    at_fixed_times,
    shared_history,
    sign_up,
)


@asynccontextmanager
async def showing(entries, size: tuple[int, int], **timeline_options):
    """A host app of ``size`` showing ``entries``: ``(app, pilot, timeline)``."""
    app = Host(**timeline_options)
    async with app.run_test(size=size) as pilot:
        timeline = app.query_one(BoxTimeline)
        timeline.set_entries(entries)
        await pilot.pause()
        yield app, pilot, timeline


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    return shared_history(tmp_path_factory)


def shown(timeline: BoxTimeline) -> list[str]:
    """The rows on screen, right-stripped."""
    return [timeline.render_line(y).text.rstrip() for y in range(timeline.scrollable_content_region.height)]


def rows_of(timeline: BoxTimeline, event_id: str) -> list[str]:
    """Every row drawn for one event (scrolls it into view)."""
    assert timeline.select_event(event_id)
    lines = shown(timeline)
    start, end = timeline._rows_of(timeline.cursor_index)
    top = timeline.scroll_offset.y
    return lines[start - top : end - top]


async def test_renders_every_event_type(history: History) -> None:
    async with showing(history.before, (110, 50), identity_id=history.ada.identity_id) as (app, pilot, timeline):
        screen = "\n".join(shown(timeline))
        day = parse_time(history.before[0].event.server_event_created_at).astimezone(timezone.utc)
        assert screen.splitlines()[0].strip("─ ") == f"{day:%A} {day.day} {day:%B %Y}"
        for sentence in (
            "Ada created the box",
            "Ada made the box public",
            "Bob joined",
            "Ada renewed the invitation link",
            "Carol joined",
            "Carol left",
            "Ada made the box limited",
            "Bob was removed by Ada",
            "Ada closed the box",
            "Ada reopened the box",
        ):
            assert sentence in screen, sentence

        assert rows_of(timeline, history.ids["markup"])[0].endswith(f"Ada{' ' * 16}{MARKUP_TEXT}")
        reply = rows_of(timeline, history.ids["reply"])
        assert "Bob" in reply[0] and "↳ replying to Ada: [bold]x[/] and [link=http://evil]click" in reply[0]
        assert reply[1].strip() == "Sounds good to me"
        long_rows = rows_of(timeline, history.ids["long"])
        assert len(long_rows) > 1
        assert " ".join([long_rows[0].split("Ada", 1)[1].strip(), *(r.strip() for r in long_rows[1:])]) == LONG_TEXT
        assert rows_of(timeline, history.ids["previously_edited"])[0].endswith("first draft (edited)")
        own_file = rows_of(timeline, history.ids["file"])[0]
        assert own_file.endswith("▤ report-2026.pdf  123.5 kB · application/pdf  ★ saved")
        other_file = rows_of(timeline, history.ids["other_file"])
        assert "Bob" in other_file[0] and "↳ replying to Ada: This message is long enough to" in other_file[0]
        assert other_file[0].endswith("…") and len(other_file[0]) <= timeline.scrollable_content_region.width
        assert other_file[1].endswith("▤ report-2026.pdf  123.5 kB · application/pdf")
        assert rows_of(timeline, history.ids["undecryptable"])[0].endswith("cannot decrypt this message")


async def test_untrusted_text_is_never_markup_and_undecryptable_is_dimmed(history: History) -> None:
    async with showing(history.before, (110, 50)) as (app, pilot, timeline):
        timeline.select_event(history.ids["markup"])
        start, _ = timeline._rows_of(timeline.cursor_index)
        strip = timeline.render_line(start - timeline.scroll_offset.y)
        assert MARKUP_TEXT in strip.text
        body = [segment for segment in strip if segment.text.strip() and "[bold]" in segment.text]
        assert body and all(not segment.style.bold and not segment.style.link for segment in body)

        control = rows_of(timeline, history.ids["control"])
        assert " red �evil� " in control[0] and "[31m" not in control[0] and control[0].endswith(" end 日本語")
        assert "\x1b" not in "".join(segment.text for segment in timeline.render_line(0))

        timeline.select_event(history.ids["undecryptable"])
        start, _ = timeline._rows_of(timeline.cursor_index)
        timeline.action_cursor_up()  # the cursor's own highlight aside
        strip = timeline.render_line(start - timeline.scroll_offset.y)
        dim = [segment for segment in strip if "cannot decrypt" in segment.text]
        assert dim and dim[0].style.dim and dim[0].style.italic


async def test_cursor_moves_with_keys(history: History) -> None:
    async with showing(history.before, (100, 12)) as (app, pilot, timeline):
        entries = history.before
        assert timeline.current_entry.event.id == entries[-1].event.id
        assert timeline.is_vertical_scroll_end
        await pilot.press("up", "k")
        assert timeline.cursor_index == len(entries) - 3
        await pilot.press("down", "j", "j")
        assert timeline.cursor_index == len(entries) - 1  # stops at the newest
        await pilot.press("home")
        assert timeline.cursor_index == 0 and timeline.scroll_offset.y == 0
        assert shown(timeline)[1].endswith("Ada created the box")
        await pilot.press("pagedown")
        assert timeline.cursor_index > 3 and timeline.scroll_offset.y > 0
        await pilot.press("pageup")
        assert timeline.cursor_index < 3
        await pilot.press("end")
        assert timeline.cursor_index == len(entries) - 1 and timeline.is_vertical_scroll_end

        # the cursor's rows carry the cursor background, the others do not
        cursor_bg = timeline.get_component_rich_style("timeline--cursor").bgcolor
        last_row = timeline.scrollable_content_region.height - 1
        assert all(seg.style.bgcolor == cursor_bg for seg in timeline.render_line(last_row))
        assert all(seg.style.bgcolor != cursor_bg for seg in timeline.render_line(last_row - 1))

        # a click moves the cursor to the event under the mouse
        await pilot.click(BoxTimeline, offset=(30, last_row - 1))
        assert timeline.cursor_index == len(entries) - 2


async def test_actions_post_messages_for_the_current_event(history: History) -> None:
    async with showing(history.before, (100, 30), identity_id=history.ada.identity_id) as (app, pilot, timeline):
        own_text, others_text = history.ids["markup"], history.ids["reply"]
        timeline.select_event(own_text)
        await pilot.press("r", "e", "d", "y", "f", "w", "s")
        assert app.actions == [
            ("ReplyRequested", own_text),
            ("EditRequested", own_text),
            ("DeleteRequested", own_text),
            ("CopyRequested", own_text),
            ("ForwardRequested", own_text),
        ]  # no download or save on a text
        app.actions.clear()
        timeline.select_event(others_text)
        await pilot.press("e", "r")
        assert app.actions == [("ReplyRequested", others_text)]  # only one's own messages are edited
        app.actions.clear()
        timeline.select_event(history.ids["other_file"])
        await pilot.press("w", "s", "y")
        assert app.actions == [("DownloadRequested", history.ids["other_file"]), ("SaveRequested", history.ids["other_file"])]
        app.actions.clear()
        timeline.select_event(history.ids["file"])  # already in Ada's saved files
        await pilot.press("s", "w")
        assert app.actions == [("DownloadRequested", history.ids["file"])]
        app.actions.clear()
        # saving it (realtime ``file.saved``) marks the row and retires the verb
        other = history.entry("other_file").event
        timeline.mark_saved(other.content["encrypted_file_id"], True)
        assert rows_of(timeline, other.id)[1].endswith("★ saved")
        await pilot.press("s")
        assert app.actions == []
        app.actions.clear()
        control = rows_of(timeline, history.ids["control"])
        assert " red �evil� " in control[0] and "[31m" not in control[0] and control[0].endswith(" end 日本語")
        assert "\x1b" not in "".join(segment.text for segment in timeline.render_line(0))

        timeline.select_event(history.ids["undecryptable"])
        await pilot.press("r", "y", "e")
        timeline.action_first()  # "create": nothing to act on
        await pilot.press("r", "d", "e", "w")
        assert app.actions == []
        ids = {binding.id for binding in BoxTimeline.BINDINGS if isinstance(binding, Binding)}
        verbs = ("reply", "edit", "delete", "download", "save", "forward", "copy")
        assert {f"timeline.{verb}" for verb in verbs} <= ids


async def test_edit_and_delete_patch_rows_like_the_server_folds_them(history: History) -> None:
    after_without_late = [e for e in history.after if e.event.id != history.ids["late"]]
    async with (
        showing(history.before, (100, 40), decrypt=history.ada.decrypt_event) as (_, pilot, timeline),
        showing(after_without_late, (100, 40)) as (_, expected_pilot, expected),
    ):
        assert rows_of(timeline, history.ids["edited"])[0].endswith("Meeting at 10h")
        # the raw events, as the realtime socket delivers them
        timeline.append_entry(history.ada.decrypt_event(history.edit))
        assert timeline.apply_delete(history.delete)
        await pilot.pause()
        assert rows_of(timeline, history.ids["edited"])[0].endswith("Meeting at 11h (edited)")
        assert rows_of(timeline, history.ids["deleted"])[0].endswith("message deleted")
        assert timeline.current_entry.deleted
        timeline.action_last()
        expected.action_last()
        await pilot.pause()
        await expected_pilot.pause()
        assert shown(timeline) == shown(expected)
        assert [e.event.id for e in timeline.entries] == [e.event.id for e in after_without_late]

        # an edit given its text directly, and one of a message that is not loaded
        assert timeline.apply_edit(history.edit, text="Meeting at noon")
        assert rows_of(timeline, history.ids["edited"])[0].endswith("Meeting at noon (edited)")
        not_loaded = history.edit.model_copy(update={"referrer_id": history.ids["late"]})
        assert not timeline.apply_edit(not_loaded, text="nothing")
        assert history.entry("edited").text == "Meeting at 10h"  # the messenger's entries are left as they were


async def test_append_stays_pinned_to_the_bottom_only_when_it_was(history: History) -> None:
    async with showing(history.before, (100, 12)) as (app, pilot, timeline):
        timeline.append_entry(history.late)
        await pilot.pause()
        assert timeline.is_vertical_scroll_end
        assert timeline.current_entry.event.id == history.ids["late"]
        assert shown(timeline)[-1].endswith("A late message")
        timeline.append_entry(history.late)  # delivered twice (page + realtime): shown once
        assert len(timeline.entries) == len(history.before) + 1

        timeline.set_entries(history.before)
        await pilot.press("home")
        top = shown(timeline)
        timeline.append_entry(history.late)
        await pilot.pause()
        assert timeline.scroll_offset.y == 0 and timeline.cursor_index == 0
        assert shown(timeline) == top


async def test_day_separators(history: History) -> None:
    # the real events, spread over three days (8 hours apart)
    entries = at_fixed_times(history.before, FIXED_START, timedelta(hours=8))
    app = Host()
    async with app.run_test(size=(100, 60)) as pilot:
        timeline = app.query_one(BoxTimeline)
        timeline.set_entries(entries)
        await pilot.press("home")
        separators = [line.strip("─ ") for line in shown(timeline) if line.startswith("─")]
        days = sorted({parse_time(e.event.server_event_created_at).date() for e in entries})
        assert separators == [f"{d:%A} {d.day} {d:%B %Y}" for d in days]
        assert separators[0] == "Monday 23 November 2026"

        # prepending events of the same day as the first keeps a single separator
        timeline.set_entries(entries[2:])
        timeline.prepend_entries(entries[:2])
        await pilot.press("home")
        separators = [line for line in shown(timeline) if line.startswith("─")]
        assert len(separators) == len(days)


async def test_resize_rewraps_and_keeps_the_cursor(history: History) -> None:
    async with showing(history.before, (120, 30)) as (app, pilot, timeline):
        wide = len(rows_of(timeline, history.ids["long"]))
        await pilot.resize_terminal(60, 30)
        await pilot.pause()
        narrow = rows_of(timeline, history.ids["long"])
        assert len(narrow) > wide
        assert " ".join(row.strip() for row in narrow).endswith("then some more.")
        assert timeline.current_entry.event.id == history.ids["long"]
        assert all(len(row) <= timeline.scrollable_content_region.width for row in shown(timeline))


class PagingHost(Host):
    """Answers LoadOlder and LoadNewer like the main screen: real pages from the server."""

    def __init__(self, messenger, box_id: str, page: int, **timeline_options) -> None:
        super().__init__(**timeline_options)
        self.messenger, self.box_id, self.page = messenger, box_id, page
        self.newer_requests: list[str] = []

    async def on_box_timeline_load_older(self, message: BoxTimeline.LoadOlder) -> None:
        # (Host's handler runs too and records the request)
        older = await self.messenger.timeline_page(self.box_id, before=message.before_event_id, limit=self.page)
        message.timeline.prepend_entries(older)

    async def on_box_timeline_load_newer(self, message: BoxTimeline.LoadNewer) -> None:
        self.newer_requests.append(message.after_event_id)
        newer = await self.messenger.timeline_page(self.box_id, after=message.after_event_id, limit=self.page)
        message.timeline.extend_entries(newer)


async def post_messages(sqlite_app, tmp_path, stack, count: int):
    """Ada and a box of ``count`` messages ("message 0" …), through the real server."""
    ada = await sign_up(stack, sqlite_app, tmp_path, "ada")
    box = (await ada.create_box("Long")).id
    for i in range(count):
        await ada.send_text(box, f"message {i}")
    return ada, box


async def test_older_pages_load_near_the_top_and_keep_the_cursor(sqlite_app, tmp_path) -> None:
    async with AsyncExitStack() as stack:
        ada, box = await post_messages(sqlite_app, tmp_path, stack, 60)
        page = 25
        app = PagingHost(ada, box, page)
        async with app.run_test(size=(80, 10)) as pilot:
            timeline = app.query_one(BoxTimeline)
            timeline.set_entries(await ada.timeline_page(box, tail=True, limit=page), total_count=61)
            await pilot.pause()
            assert app.load_requests == [] and timeline.has_older
            first_id = timeline.entries[0].event.id

            # walk up until the cursor is near the top: exactly one request for that page
            while not app.load_requests:
                await pilot.press("up")
            assert app.load_requests == [first_id]
            await pilot.pause()
            current = timeline.current_entry.event.id
            row_on_screen = timeline._rows_of(timeline.cursor_index)[0] - timeline.scroll_offset.y
            assert len(timeline.entries) == 2 * page
            assert timeline.current_entry.event.id == current
            assert timeline.entries[page].event.id == first_id
            assert shown(timeline)[row_on_screen].endswith(timeline.current_entry.text)

            # to the very top: every page is fetched once, then nothing more
            for _ in range(5):
                await pilot.press("home")
                await pilot.pause()
            assert len(app.load_requests) == len(set(app.load_requests)) == 2
            assert timeline.entries[0].event.type == "create" and not timeline.has_older
            assert [e.text for e in timeline.entries[1:]] == [f"message {i}" for i in range(60)]
            await pilot.press("down", "home")
            await pilot.pause()
            assert len(app.load_requests) == 2



async def test_a_bounded_window_drops_far_pages_and_fetches_them_again(sqlite_app, tmp_path) -> None:
    async with AsyncExitStack() as stack:
        ada, box = await post_messages(sqlite_app, tmp_path, stack, 80)
        page, window = 10, 45
        app = PagingHost(ada, box, page, max_loaded=window)
        async with app.run_test(size=(80, 10)) as pilot:
            timeline = app.query_one(BoxTimeline)
            timeline.LOAD_MARGIN_EVENTS = 5  # a window of a few pages needs a small margin
            timeline.set_entries(await ada.timeline_page(box, tail=True, limit=page))
            await pilot.pause()

            # all the way up: never more than the window, the newest pages dropped
            while timeline.has_older or timeline.cursor_index:
                await pilot.press("pageup")
                await pilot.pause()
                assert len(timeline.entries) <= window + page
            assert timeline.entries[0].event.type == "create"
            assert timeline.has_newer and timeline.entries[-1].text != "message 79"

            # a message arriving meanwhile is not glued below a gap: it comes with its page
            late = await ada.send_text(box, "message 80")
            timeline.append_entry(ada.decrypt_event(late))
            assert late.id not in {e.event.id for e in timeline.entries}

            # all the way down again: the dropped pages come back from the server, in order
            seen = [e.text for e in timeline.entries if e.text]
            while timeline.has_newer or timeline.cursor_index < len(timeline.entries) - 1:
                await pilot.press("pagedown")
                await pilot.pause()
                assert len(timeline.entries) <= window + page
                seen.extend(e.text for e in timeline.entries if e.text and e.text not in seen)
            assert seen == [f"message {i}" for i in range(81)]
            assert timeline.entries[-1].event.id == late.id and not timeline.has_newer
            assert len(app.newer_requests) == len(set(app.newer_requests)) >= 2
