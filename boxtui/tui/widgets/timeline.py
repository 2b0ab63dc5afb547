"""The timeline of a box: one Line-API widget, however long the history.

Design (DESIGN.md "The timeline is one Line-API widget"): :class:`BoxTimeline` is a
``ScrollView`` whose ``virtual_size`` height is the number of display *rows* of the
events it holds, and ``render_line(y)`` builds the ``Strip`` of one row only. There is
never one widget per event.

Why rows and not one row per event: a message may be long, and a chat reads best
wrapped. So the widget keeps, per loaded event, its wrapped body at the current width
(computed when the event arrives, and again only when the width changes or the event
is edited: O(page) per page, never per frame), its row count in a flat list, and the
prefix sums of those counts. ``render_line`` finds the event of a row by bisection
(O(log n) in the *loaded* events, independent of the history's size) and keeps the
finished strips in a ``textual.cache.LRUCache``. Decrypted texts arrive with the
messenger's entries (one page at a time) and live in them. The widget only holds the pages
the main screen has loaded: when the cursor or the scroll position nears the top it
posts :class:`BoxTimeline.LoadOlder` once per page, and the screen answers with
:meth:`BoxTimeline.prepend_entries`, which keeps the cursor on the same event and the
same rows on screen. With ``max_loaded`` the loaded window stays bounded however far one
pages: the events farthest from the view are dropped and :class:`BoxTimeline.LoadNewer`
(answered with :meth:`BoxTimeline.extend_entries`) brings newer ones back.

Rows: a day separator before the first event of each day; then per event the first row
carries the time and sender columns, an optional reply quote row
("↳ replying to <sender>: <snippet>"), then the wrapped body.

Entries are the messenger's :class:`~boxtui.messenger.models.TimelineEntry`.
Everything shown is untrusted and drawn as plain segments, never parsed as markup.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import date, datetime, tzinfo
from itertools import accumulate
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from boxtui.core.timefmt import parse_time
from boxtui.core.wire import EventView
from boxtui.messenger.models import CANNOT_DECRYPT, TimelineEntry

from .timeline_render import REPLY, Span, clean_text, describe_entry, entry_snippet, truncate_spans, wrap_spans

__all__ = ["BoxTimeline"]

TIME_WIDTH = 6  # "10:02 "
NEW_LABEL = " new since you left "
BASE = "base"  # the widget's own style, in ``_style``


@dataclasses.dataclass(slots=True)
class _Item:
    """One loaded event: the entry, its local time and what its layout depends on."""

    entry: TimelineEntry
    when: datetime
    clock: str  # "HH:MM" of ``when``
    version: int = 0
    #: the wrapped body and the (width, version) it was wrapped for
    body: list[list[Span]] = dataclasses.field(default_factory=list)
    body_key: tuple[int, int] = (0, -1)

    @property
    def event_id(self) -> str:
        return self.entry.event.id

    @property
    def reply_to(self) -> str | None:
        return self.entry.event.referrer_id if self.entry.is_message else None


class _TimelineMessage(Message):
    """A message from a timeline (``control`` is the timeline, for ``@on`` selectors)."""

    def __init__(self, timeline: BoxTimeline) -> None:
        super().__init__()
        self.timeline = timeline

    @property
    def control(self) -> BoxTimeline:
        return self.timeline


class BoxTimeline(ScrollView, can_focus=True):
    """The events of one box, chronological, with a cursor on one event."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Previous", show=False, id="timeline.cursor_up"),
        Binding("down,j", "cursor_down", "Next", show=False, id="timeline.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="timeline.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="timeline.page_down"),
        Binding("home", "first", "Oldest", show=False, id="timeline.first"),
        Binding("end", "last", "Newest", show=False, id="timeline.last"),
        Binding("r", "reply", "Reply", id="timeline.reply"),
        Binding("e", "edit", "Edit", id="timeline.edit"),
        Binding("d", "delete", "Delete", id="timeline.delete"),
        Binding("w", "download", "Download", id="timeline.download"),
        Binding("s", "save", "Save", id="timeline.save"),
        Binding("f", "forward", "Forward", id="timeline.forward"),
        Binding("y", "copy", "Copy", id="timeline.copy"),
        Binding("enter", "open", "Read", id="timeline.open"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--cursor",
        "timeline--day",
        "timeline--time",
        "timeline--sender",
        "timeline--own",
        "timeline--body",
        "timeline--system",
        "timeline--undecryptable",
        "timeline--deleted",
        "timeline--edited",
        "timeline--file",
        "timeline--file-details",
        "timeline--saved",
        "timeline--reply",
        "timeline--new",
        "timeline--mention",
    }

    DEFAULT_CSS = """
    BoxTimeline {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        background: $surface;
        color: $foreground;
    }
    BoxTimeline > .timeline--cursor { background: $boost; }
    BoxTimeline:focus > .timeline--cursor { background: $primary 25%; }
    BoxTimeline > .timeline--day { color: $text-muted; text-style: bold; }
    BoxTimeline > .timeline--time { color: $text-muted; }
    BoxTimeline > .timeline--sender { color: $accent; text-style: bold; }
    BoxTimeline > .timeline--own { color: $success; text-style: bold; }
    BoxTimeline > .timeline--body { color: $foreground; }
    BoxTimeline > .timeline--system { color: $text-muted; text-style: italic; }
    BoxTimeline > .timeline--undecryptable { color: $text-disabled; text-style: italic dim; }
    BoxTimeline > .timeline--deleted { color: $text-muted; text-style: italic; }
    BoxTimeline > .timeline--edited { color: $text-muted; }
    BoxTimeline > .timeline--file { color: $secondary; text-style: bold; }
    BoxTimeline > .timeline--file-details { color: $text-muted; }
    BoxTimeline > .timeline--saved { color: $warning; }
    BoxTimeline > .timeline--reply { color: $text-muted; }
    BoxTimeline > .timeline--new { color: $error; text-style: bold; }
    BoxTimeline > .timeline--mention { color: $warning; text-style: bold reverse; }
    """

    #: Post :class:`LoadOlder` when the cursor is this many events from the top …
    LOAD_MARGIN_EVENTS: ClassVar[int] = 20
    #: … or the first row shown is within this many screens of the top.
    LOAD_MARGIN_SCREENS: ClassVar[int] = 1

    class LoadOlder(_TimelineMessage):
        """Fetch the page before ``before_event_id`` and hand it to ``prepend_entries``."""

        def __init__(self, timeline: BoxTimeline, before_event_id: str) -> None:
            super().__init__(timeline)
            self.before_event_id = before_event_id

    class LoadNewer(_TimelineMessage):
        """Fetch the page after ``after_event_id`` and hand it to ``extend_entries``.

        Only posted when ``max_loaded`` dropped newer events to keep the window small.
        """

        def __init__(self, timeline: BoxTimeline, after_event_id: str) -> None:
            super().__init__(timeline)
            self.after_event_id = after_event_id

    class EntryAction(_TimelineMessage):
        """A key asked for something to be done with the event under the cursor."""

        def __init__(self, timeline: BoxTimeline, entry: TimelineEntry) -> None:
            super().__init__(timeline)
            self.entry = entry

    class ReplyRequested(EntryAction):
        """Reply to this message."""

    class EditRequested(EntryAction):
        """Edit this (own text) message."""

    class DeleteRequested(EntryAction):
        """Delete this message."""

    class DownloadRequested(EntryAction):
        """Download and decrypt this file."""

    class SaveRequested(EntryAction):
        """Keep this file in the saved files."""

    class ForwardRequested(EntryAction):
        """Share this message into another box."""

    class CopyRequested(EntryAction):
        """Copy this message's text."""

    class OpenRequested(EntryAction):
        """Read this message full-screen (the pager)."""

    def __init__(
        self,
        *,
        identity_id: str | None = None,
        decrypt: Callable[[EventView], TimelineEntry] | None = None,
        timezone: tzinfo | None = None,
        max_loaded: int | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``identity_id`` marks own messages (and limits editing to them);
        ``decrypt`` opens an edited message (``Messenger.decrypt_event``);
        ``timezone`` for times and day separators (``None``: the local zone);
        ``max_loaded`` bounds the events held: paging on drops those farthest away and
        :class:`LoadNewer` brings newer ones back (``None``: keep every page loaded); make
        it several pages. The events near the view are never dropped, so a window may
        briefly hold up to a page more."""
        super().__init__(name=name, id=id, classes=classes)
        self.identity_id = identity_id
        self.decrypt = decrypt
        self.timezone = timezone
        self.max_loaded = max_loaded
        self._items: list[_Item] = []
        self._by_id: dict[str, int] = {}
        self._counts: list[int] = []  # rows of each item at ``_width`` (incl. day row)
        self._offsets: list[int] = []  # first row of each item
        self._width = 0
        self._cursor = -1
        self._has_older = False
        self._has_newer = False
        self._older_requested: str | None = None
        self._newer_requested: str | None = None
        self._strips: LRUCache[tuple[Any, ...], Strip] = LRUCache(1024)
        #: May delete other people's messages (the box admin); nothing can be posted (closed box).
        self.moderator = False
        self.read_only = False
        self._palette: dict[tuple[str, bool], Style] = {}
        #: The "new since you left" line is drawn above this event.
        self._marker_id: str | None = None
        #: Where the view goes once laid out (set before the first layout): an event and
        #: how far below the top of the view its first row is.
        self._anchor: tuple[str, int] | None = None
        #: :meth:`show_new_marker` was asked before the first layout.
        self._marker_pending = False
        #: Matches ``@name`` mentions of the user (highlighted), or None.
        self._mention: re.Pattern[str] | None = None

    # ------------------------------------------------------------------ data API

    @property
    def entries(self) -> list[TimelineEntry]:
        """The loaded entries, oldest first."""
        return [item.entry for item in self._items]

    @property
    def current_entry(self) -> TimelineEntry | None:
        """The entry under the cursor (``None`` when empty)."""
        return self._items[self._cursor].entry if 0 <= self._cursor < len(self._items) else None

    @property
    def cursor_index(self) -> int:
        """Index of the cursor in :attr:`entries` (-1 when empty)."""
        return self._cursor

    @property
    def row_count(self) -> int:
        """Display rows at the current width."""
        return self._offsets[-1] + self._counts[-1] if self._offsets else 0

    @property
    def has_older(self) -> bool:
        """Whether older events exist on the server that are not loaded."""
        return self._has_older

    @property
    def has_newer(self) -> bool:
        """Whether newer events were dropped (``max_loaded``) and must be fetched again."""
        return self._has_newer

    def set_entries(
        self, entries: Iterable[TimelineEntry], total_count: int | None = None, *, has_newer: bool = False
    ) -> None:
        """Show a (new) box's latest page; the cursor goes to the newest event.

        ``has_newer``: the page is not the newest (a search result's page): newer pages
        load as the cursor nears the bottom."""
        self._items = [self._make_item(entry) for entry in entries]
        self._reindex()
        self._older_requested = self._newer_requested = None
        self._has_older = self._older_exist() and (total_count is None or len(self._items) < total_count)
        self._has_newer = has_newer
        self._strips.clear()
        self._cursor = len(self._items) - 1
        self._anchor = None
        self._marker_pending = False
        self._relayout()
        self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
        self.refresh()
        self._maybe_load()

    def prepend_entries(self, older: Iterable[TimelineEntry]) -> None:
        """Add an older page above; the cursor and the rows on screen stay put.

        An empty page means the history is fully loaded.
        """
        fresh = [self._make_item(e) for e in older if e.event.id not in self._by_id]
        self._older_requested = None
        if not fresh:
            self._has_older = False
            return
        rows_before = self.row_count
        laid_out = len(self._counts) == len(self._items) > 0 and self._width == self._content_width()
        self._items[:0] = fresh
        self._reindex()
        self._cursor += len(fresh)
        if laid_out:  # count only the new rows (and the old first event, whose day row may go)
            self._counts[:1] = [self._item_rows(i) for i in range(len(fresh) + 1)]
            self._rebuild_offsets()
        else:
            self._relayout()
        self._has_older = self._older_exist()
        self.scroll_to(y=self.scroll_y + self.row_count - rows_before, animate=False, force=True)
        if self.max_loaded is not None and len(self._items) > self.max_loaded:
            self._drop_newest(len(self._items) - self.max_loaded)
        self.refresh()

    def extend_entries(self, newer: Iterable[TimelineEntry]) -> None:
        """Add a newer page below (the answer to :class:`LoadNewer`); the rows on screen
        stay put. An empty page means the newest events are loaded again."""
        fresh = [self._make_item(e) for e in newer if e.event.id not in self._by_id]
        self._newer_requested = None
        if not fresh:
            self._has_newer = False
            return
        start = len(self._items)
        self._items.extend(fresh)
        self._by_id.update((item.event_id, index) for index, item in enumerate(fresh, start))
        self._relayout(start)
        if self.max_loaded is not None and len(self._items) > self.max_loaded:
            self._drop_oldest(len(self._items) - self.max_loaded)
        self.refresh()

    def _keep_near_view(self) -> int:
        """Events kept between the cursor and a dropped end, so that the view is not near
        that end at once (which would ask for what was just dropped)."""
        return self.LOAD_MARGIN_EVENTS + 2 * self.scrollable_content_region.height

    def _drop_newest(self, count: int) -> None:
        """Forget up to ``count`` newest events, well below the view."""
        count = min(count, len(self._items) - 1 - self._cursor - self._keep_near_view())
        if count <= 0:
            return
        for item in self._items[-count:]:
            del self._by_id[item.event_id]
        del self._items[-count:]
        if self._counts:
            del self._counts[-count:]
            self._rebuild_offsets()
        self._has_newer = True

    def _drop_oldest(self, count: int) -> None:
        """Forget up to ``count`` oldest events, well above the view, keeping the view still."""
        count = min(count, self._cursor - self._keep_near_view())
        if count <= 0:
            return
        top_in_view = self._rows_of(self._cursor)[0] - self.scroll_y if self._counts else 0
        del self._items[:count]
        self._reindex()
        self._cursor -= count
        self._relayout()
        if self._counts:
            self.scroll_to(y=self._rows_of(self._cursor)[0] - top_in_view, animate=False, force=True)
        self._has_older = True
        self._older_requested = None

    def append_entry(self, entry: TimelineEntry) -> None:
        """Add a new event at the bottom (realtime); stays pinned to the bottom if it was.

        A raw ``msg.edit``/``msg.delete`` patches the message it refers to, and an event
        already shown is replaced.
        """
        kind = entry.event.type
        if kind == "msg.edit":
            self.apply_edit(entry.event)
            return
        if kind == "msg.delete":
            self.apply_delete(entry.event)
            return
        if self.replace_entry(entry) or self._has_newer:
            return  # (with newer events not loaded, this one comes with them)
        pinned = self.is_vertical_scroll_end or not self._items
        follow = self._cursor == len(self._items) - 1
        self._items.append(self._make_item(entry))
        self._by_id[entry.event.id] = len(self._items) - 1
        self._relayout(start=len(self._items) - 1)
        if follow:
            self._move_cursor(len(self._items) - 1, scroll=False)
        if pinned:
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
        self.refresh()

    def remove_entry(self, event_id: str) -> bool:
        """Take a row away (an outbox row whose message went out); False if not loaded."""
        index = self._by_id.get(event_id)
        if index is None:
            return False
        del self._items[index]
        self._reindex()
        self._strips.clear()
        self._cursor = min(self._cursor, len(self._items) - 1)
        self._relayout()
        self.refresh()
        return True

    def replace_entry(self, entry: TimelineEntry) -> bool:
        """Show a new version of a loaded event (same id); False if it is not loaded."""
        index = self._by_id.get(entry.event.id)
        if index is None:
            return False
        item = self._items[index]
        item.entry = entry
        item.version += 1
        self._changed(index)
        return True

    def apply_edit(self, edit: EventView, text: str | None = None) -> bool:
        """Fold a raw ``msg.edit`` into the message it refers to.

        ``text`` is the decrypted new text; without it the edited message is opened
        with :attr:`decrypt`. False when the edited message is not loaded.
        """
        index = self._by_id.get(edit.referrer_id or "")
        if index is None:
            return False
        target = self._items[index].entry
        content = edit.content or {}
        new_content = {"encrypted": content.get("new_encrypted")}
        if content.get("new_public_key"):
            new_content["public_key"] = content["new_public_key"]
        new_content["last_edited_at"] = edit.server_event_created_at
        event = target.event.model_copy(update={"content": new_content})
        if text is not None:
            entry = dataclasses.replace(target, event=event, text=text, error=None)
        elif self.decrypt is not None:
            entry = self.decrypt(event)
        else:
            entry = dataclasses.replace(target, event=event, text=None, error=CANNOT_DECRYPT)
        return self.replace_entry(entry)

    def apply_delete(self, delete: EventView) -> bool:
        """Fold a raw ``msg.delete`` into the message it refers to (shown as deleted)."""
        index = self._by_id.get(delete.referrer_id or "")
        if index is None:
            return False
        target = self._items[index].entry
        deleted = {"at_time": delete.server_event_created_at, "by_identity": delete.sender.model_dump()}
        event = target.event.model_copy(update={"content": {"deleted": deleted}})
        return self.replace_entry(dataclasses.replace(target, event=event, text=None, file=None, error=None))

    def mark_saved(self, encrypted_file_id: str, is_saved: bool) -> None:
        """Show or hide the ★ saved mark on the files holding this blob."""
        for item in self._items:
            event = item.entry.event
            if event.type == "msg.file" and (event.content or {}).get("encrypted_file_id") == encrypted_file_id:
                if bool(event.is_saved) != is_saved:
                    self.replace_entry(
                        dataclasses.replace(
                            item.entry, event=event.model_copy(update={"content": {**event.content, "is_saved": is_saved}})
                        )
                    )

    # ------------------------------------------------------------------ reading

    @property
    def new_marker_id(self) -> str | None:
        """The event the "new since you left" line is drawn above (None: no line)."""
        return self._marker_id

    def set_new_marker(self, event_id: str | None) -> None:
        """Draw the "new since you left" line above ``event_id`` (None removes it)."""
        if event_id == self._marker_id:
            return
        changed = [i for i in (self._by_id.get(self._marker_id or ""), self._by_id.get(event_id or "")) if i is not None]
        self._marker_id = event_id
        if changed and self._width:
            self._relayout(min(changed))
        self.refresh()

    def mark_new_after(self, count: int, is_new: Callable[[TimelineEntry], bool]) -> str | None:
        """Put the "new" line above the ``count``-th newest loaded entry that ``is_new``
        (the server's unread count: others' messages and membership changes). When the
        loaded events hold fewer, the line goes above the oldest of them. Returns the
        event the line is above."""
        if count <= 0:
            self.set_new_marker(None)
            return None
        found = [item.event_id for item in self._items if is_new(item.entry)]
        target = found[-count] if len(found) >= count else (found[0] if found else None)
        self.set_new_marker(target)
        return target

    def show_new_marker(self) -> bool:
        """Put the cursor on the first new event and bring the "new" line into view
        when it is not on screen; False when there is no line."""
        index = self._by_id.get(self._marker_id or "")
        if index is None:
            return False
        self._move_cursor(index, scroll=False)
        if not self._width:  # decided once laid out (on_resize), as it would be now
            self._marker_pending = True
            return True
        self._marker_pending = False
        row = self._offsets[index] + self._starts_day(index)
        if not self.scroll_y <= row < self.scroll_y + self.scrollable_content_region.height:
            self.scroll_to(y=self._offsets[index], animate=False, force=True)
        return True

    @property
    def mention_pattern(self) -> re.Pattern[str] | None:
        return self._mention

    @mention_pattern.setter
    def mention_pattern(self, pattern: re.Pattern[str] | None) -> None:
        """Highlight what ``pattern`` matches in message texts (the user's ``@name``)."""
        self._mention = pattern
        for item in self._items:
            item.version += 1
        self._strips.clear()
        if self._width:
            self._relayout()
        self.refresh()

    @property
    def view_position(self) -> tuple[str, int] | None:
        """The cursor's event and how far its first row is from the top of the view
        (restored with :meth:`restore_position`), or None when empty."""
        entry = self.current_entry
        if entry is None or entry.pending:
            return None
        offset = self._rows_of(self._cursor)[0] - self.scroll_offset.y if self._width else 0
        return entry.event.id, offset

    def restore_position(self, event_id: str, offset: int) -> bool:
        """Put the cursor on ``event_id`` with its first row ``offset`` rows below the
        top of the view, as :attr:`view_position` saw it; False if it is not loaded."""
        index = self._by_id.get(event_id)
        if index is None:
            return False
        self._move_cursor(index, scroll=False)
        self._scroll_to_anchor(event_id, offset)
        return True

    def _scroll_to_anchor(self, event_id: str, offset: int) -> None:
        """Scroll so the event's first row is ``offset`` rows below the top of the view
        (now, or once the widget is laid out)."""
        index = self._by_id.get(event_id)
        if not self._width or index is None:
            self._anchor = (event_id, offset)
            return
        self._anchor = None
        self.scroll_to(y=self._rows_of(index)[0] - offset, animate=False, force=True)

    def select_event(self, event_id: str) -> bool:
        """Put the cursor on a loaded event; False if it is not loaded."""
        index = self._by_id.get(event_id)
        if index is None:
            return False
        self._move_cursor(index)
        return True

    # ------------------------------------------------------------------ layout

    def _make_item(self, entry: TimelineEntry) -> _Item:
        when = parse_time(entry.event.server_event_created_at).astimezone(self.timezone)
        return _Item(entry, when, when.strftime("%H:%M"))

    def _reindex(self) -> None:
        self._by_id = {item.event_id: index for index, item in enumerate(self._items)}

    def _older_exist(self) -> bool:
        """Every box starts with its ``create`` event: older events exist until it is loaded."""
        return bool(self._items) and self._items[0].entry.event.type != "create"

    @property
    def _body_width(self) -> int:
        return max(8, self._width - TIME_WIDTH - self._sender_width - 1)

    @property
    def _sender_width(self) -> int:
        return max(6, min(18, (self._width - TIME_WIDTH) // 5))

    def _content_width(self) -> int:
        return self.scrollable_content_region.width

    def _starts_day(self, index: int) -> bool:
        return index == 0 or self._items[index].when.date() != self._items[index - 1].when.date()

    def _body_rows(self, item: _Item) -> list[list[Span]]:
        key = (self._body_width, item.version)
        if item.body_key != key:
            item.body = wrap_spans(describe_entry(item.entry, self._mention), self._body_width)
            item.body_key = key
        return item.body

    def _head_rows(self, index: int) -> int:
        """Rows drawn above an event's own: its day separator and the "new" line."""
        return self._starts_day(index) + (self._items[index].event_id == self._marker_id)

    def _item_rows(self, index: int) -> int:
        item = self._items[index]
        return self._head_rows(index) + (item.reply_to is not None) + len(self._body_rows(item))

    def _relayout(self, start: int = 0) -> None:
        """Recount rows from item ``start`` on (all of them when the width changed)."""
        width = self._content_width()
        if width <= 0:  # not laid out (or hidden): on_resize lays it out
            self._width, self._counts, self._offsets = 0, [], []
            return
        if width != self._width:
            self._width = width
            start = 0
            self._strips.clear()
        del self._counts[start:]
        self._counts.extend(self._item_rows(i) for i in range(start, len(self._items)))
        self._rebuild_offsets()

    def _rebuild_offsets(self) -> None:
        self._offsets = [0, *accumulate(self._counts)][:-1] if self._counts else []
        self.virtual_size = Size(self._width, self.row_count)

    def _changed(self, index: int) -> None:
        """An item's content changed: recount its rows, repaint what depends on it."""
        self._strips.clear()  # reply quotes of other rows may show this one
        if self._width:
            old = self._counts[index]
            self._counts[index] = self._item_rows(index)
            if self._counts[index] != old:
                self._rebuild_offsets()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        """Wrap the entries again for the width the timeline has now, keeping the view."""
        if self._content_width() == self._width:
            return
        anchor = self._cursor
        pinned = self.is_vertical_scroll_end
        offset_in_view = self._offsets[anchor] - self.scroll_y if 0 <= anchor < len(self._offsets) else 0
        self._relayout()
        if self._anchor is not None and self._width:
            self._scroll_to_anchor(*self._anchor)
        elif pinned or not (0 <= anchor < len(self._offsets)):
            self.scroll_to(y=self.max_scroll_y, animate=False, force=True)
        else:
            self.scroll_to(y=self._offsets[anchor] - offset_in_view, animate=False, force=True)
        if self._marker_pending and self._width:
            self.show_new_marker()
        self._maybe_load()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._palette.clear()
        self._strips.clear()

    def _index_at_row(self, row: int) -> int:
        return max(0, bisect_right(self._offsets, row) - 1)

    def _rows_of(self, index: int) -> tuple[int, int]:
        """First and end row of an item's event rows (its day and "new" rows excluded)."""
        start = self._offsets[index] + self._head_rows(index)
        return start, self._offsets[index] + self._counts[index]

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        if not self._width and self._items:
            # Shown with entries set while it had no size (no box was open): laid out now,
            # in the frame being drawn, so fit them now rather than after this frame's
            # Resize (the first box opened would show an empty timeline for a frame).
            self._fit()
        row = self.scroll_offset.y + y
        width = self._width or self.size.width
        if not self._items or row >= self.row_count or not self._offsets:
            return Strip.blank(width, self._style(BASE))
        index = self._index_at_row(row)
        item = self._items[index]
        local = row - self._offsets[index]
        if self._starts_day(index):
            if local == 0:
                return self._day_strip(item.when.date(), width)
            local -= 1
        if item.event_id == self._marker_id:
            if local == 0:
                return self._rule_strip(NEW_LABEL, "timeline--new", width)
            local -= 1
        cursor = index == self._cursor
        key = (item.event_id, item.version, local, width, cursor)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._event_strip(item, local, width, cursor)
            self._strips[key] = strip
        return strip

    def _style(self, name: str, cursor: bool = False) -> Style:
        """A component's style (``BASE``: the widget's), over the cursor's background if asked."""
        style = self._palette.get((name, cursor))
        if style is None:
            style = self.rich_style if name == BASE else self.get_component_rich_style(name)
            if cursor:
                style += Style(bgcolor=self.get_component_rich_style("timeline--cursor").bgcolor)
            self._palette[name, cursor] = style
        return style

    def _day_strip(self, day: date, width: int) -> Strip:
        return self._rule_strip(f" {day.strftime('%A')} {day.day} {day.strftime('%B %Y')} ", "timeline--day", width)

    def _rule_strip(self, label: str, style: str, width: int) -> Strip:
        """A full-width rule with a centred label (day separators, the "new" line)."""
        key = ("rule", label, style, width)
        strip = self._strips.get(key)
        if strip is None:
            left = max(0, (width - len(label)) // 2)
            line = "─" * left + label + "─" * max(0, width - left - len(label))
            strip = Strip([Segment(line[:width], self._style(style))], min(width, len(line)))
            self._strips[key] = strip
        return strip

    def _event_strip(self, item: _Item, local: int, width: int, cursor: bool) -> Strip:
        event = item.entry.event
        sender_width = self._sender_width
        spans: list[Span] = []
        if local == 0:
            own = self.identity_id is not None and event.sender.id == self.identity_id
            name = clean_text(event.sender.display_name, single_line=True) if item.entry.is_message else "·"
            spans.append(Span(item.clock.ljust(TIME_WIDTH), "timeline--time"))
            spans.extend(truncate_spans([Span(name, "timeline--own" if own else "timeline--sender")], sender_width))
        indent = TIME_WIDTH + sender_width + 1 - sum(cell_len(text) for text, _ in spans)
        spans.append(Span(" " * indent, "timeline--body"))
        if item.reply_to is not None:
            spans.extend(self._reply_quote(item.reply_to) if local == 0 else self._body_rows(item)[local - 1])
        else:
            spans.extend(self._body_rows(item)[local])
        segments = [Segment(text, self._style(style, cursor)) for text, style in spans]
        used = sum(cell_len(text) for text, _ in spans)
        if used > width:  # only on very narrow terminals
            return Strip(segments).crop(0, width)
        segments.append(Segment(" " * (width - used), self._style(BASE, cursor)))
        return Strip(segments, width)

    def _reply_quote(self, parent_id: str) -> list[Span]:
        index = self._by_id.get(parent_id)
        if index is None:
            text = "↳ replying to an earlier message"
        else:
            parent = self._items[index].entry
            who = clean_text(parent.event.sender.display_name, single_line=True)
            text = f"↳ replying to {who}: {entry_snippet(parent)}"
        return truncate_spans([Span(text, REPLY)], self._body_width)

    # ------------------------------------------------------------------ cursor

    def _move_cursor(self, index: int, scroll: bool = True, *, from_below: bool = False) -> None:
        if not self._items:
            return
        index = max(0, min(index, len(self._items) - 1))
        old, self._cursor = self._cursor, index
        for changed in {old, index}:
            if 0 <= changed < len(self._items) and self._width:
                start, end = self._rows_of(changed)
                self.refresh_lines(start, end - start)
        if scroll and self._width:
            self._scroll_to_cursor(from_below=from_below)
        self.refresh_bindings()
        self._maybe_load()

    def _scroll_to_cursor(self, *, from_below: bool = False) -> None:
        """Bring the cursor's event into view. One taller than the view stays where it
        is when part of it shows (the keys then scroll through it); else its first rows
        show, or its last ones when the cursor came up from below."""
        start, end = self._rows_of(self._cursor)
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if end - start > height:
            if start < top + height and end > top:
                return
            self.scroll_to(y=end - height if from_below else self._offsets[self._cursor], animate=False, force=True)
            return
        if start < top:  # show the day separator above it too
            self.scroll_to(y=self._offsets[self._cursor], animate=False, force=True)
        elif end > top + height:  # its last row at the bottom, or its first at the top if taller
            self.scroll_to(y=start if end - start > height else end - height, animate=False, force=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._maybe_load()

    def _maybe_load(self) -> None:
        """Ask for the page above (or below) once the cursor or the view nears that end."""
        if not self._items or not self.is_mounted:
            return
        margin = self.LOAD_MARGIN_SCREENS * self.scrollable_content_region.height if self._width else 0
        first_id, last_id = self._items[0].event_id, self._items[-1].event_id
        if self._has_older and self._older_requested != first_id:
            if self._cursor < self.LOAD_MARGIN_EVENTS or (self._width and self.scroll_y <= margin):
                self._older_requested = first_id
                self.post_message(self.LoadOlder(self, first_id))
        if self._has_newer and self._newer_requested != last_id:
            near_bottom = self._width and self.scroll_y >= self.max_scroll_y - margin
            if self._cursor >= len(self._items) - self.LOAD_MARGIN_EVENTS or near_bottom:
                self._newer_requested = last_id
                self.post_message(self.LoadNewer(self, last_id))

    def _hidden_rows(self, direction: int) -> int:
        """Rows of the cursor's event hidden below (``direction`` 1) or above (-1) the
        view while some of it shows: a message taller than the screen is read by
        scrolling through it before the cursor moves on."""
        if not self._items or not self._width or self._cursor < 0:
            return 0
        start, end = self._rows_of(self._cursor)
        top = self.scroll_offset.y
        bottom = top + self.scrollable_content_region.height
        if start >= bottom or end <= top:
            return 0
        return max(0, end - bottom) if direction > 0 else max(0, top - start)

    def action_cursor_up(self) -> None:
        if self._hidden_rows(-1):
            self.scroll_to(y=self.scroll_y - 1, animate=False, force=True)
        else:
            self._move_cursor(self._cursor - 1, from_below=True)

    def action_cursor_down(self) -> None:
        if self._hidden_rows(1):
            self.scroll_to(y=self.scroll_y + 1, animate=False, force=True)
        else:
            self._move_cursor(self._cursor + 1)

    def _page(self, direction: int) -> None:
        if not self._items or not self._width:
            return
        height = max(1, self.scrollable_content_region.height - 1)
        hidden = self._hidden_rows(direction)
        if hidden:  # a tall message: a page further into it, the cursor stays
            self.scroll_to(y=self.scroll_y + direction * min(height, hidden), animate=False, force=True)
            return
        start, _ = self._rows_of(self._cursor)
        target = max(0, min(self.row_count - 1, start + direction * height))
        self.scroll_to(y=self.scroll_y + direction * height, animate=False, force=True)
        self._move_cursor(self._index_at_row(target), from_below=direction < 0)

    def action_page_up(self) -> None:
        self._page(-1)

    def action_page_down(self) -> None:
        self._page(1)

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(len(self._items) - 1)
        self.scroll_to(y=self.max_scroll_y, animate=False, force=True)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._items:
            return
        row = offset.y + self.scroll_offset.y
        if row < self.row_count:
            self._move_cursor(self._index_at_row(row))

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        entry = self.current_entry
        if action not in {"reply", "edit", "delete", "download", "save", "forward", "copy", "open"}:
            return True
        if entry is None:
            return False
        event = entry.event
        readable = entry.is_message and not entry.deleted and entry.error is None
        own = self.identity_id is None or event.sender.id == self.identity_id
        if action == "reply":
            return readable and not self.read_only
        if action == "forward":
            return readable
        if action == "edit":
            return readable and event.type == "msg.text" and own and not self.read_only
        if action == "delete":
            return entry.is_message and not entry.deleted and (own or self.moderator) and not self.read_only
        if action == "download":
            return readable and event.type == "msg.file" and entry.file is not None
        if action == "save":
            return readable and event.type == "msg.file" and entry.file is not None and not event.is_saved
        return readable and event.type == "msg.text" and entry.text is not None  # copy, open

    def set_permissions(self, *, moderator: bool, read_only: bool) -> None:
        """What the user may do in this box: the verbs offered follow (footer, palette)."""
        if (moderator, read_only) != (self.moderator, self.read_only):
            self.moderator, self.read_only = moderator, read_only
            self.refresh_bindings()

    def _request(self, message_type: type[EntryAction]) -> None:
        entry = self.current_entry
        if entry is not None:
            self.post_message(message_type(self, entry))

    def action_reply(self) -> None:
        self._request(self.ReplyRequested)

    def action_edit(self) -> None:
        self._request(self.EditRequested)

    def action_delete(self) -> None:
        self._request(self.DeleteRequested)

    def action_download(self) -> None:
        self._request(self.DownloadRequested)

    def action_save(self) -> None:
        self._request(self.SaveRequested)

    def action_forward(self) -> None:
        self._request(self.ForwardRequested)

    def action_copy(self) -> None:
        self._request(self.CopyRequested)

    def action_open(self) -> None:
        self._request(self.OpenRequested)
