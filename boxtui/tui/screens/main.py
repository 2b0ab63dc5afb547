"""The main screen: boxes on the left; the open box's timeline and the composer on the right.

On a terminal narrower than :data:`NARROW_WIDTH` columns (80×24 is the design size)
the box list is a drawer: ``ctrl+f`` opens it over the conversation with the filter
focused, choosing a box (or Escape) closes it, and the timeline, composer and header
get the whole width. With no box open the drawer starts open.

Keys are offered only where they can succeed: :meth:`MainScreen.check_action` hides
the box verbs that need an open box, the admin, or a box that is not closed, so the
footer and the command palette list the same things.

A realtime worker consumes ``messenger.realtime()`` for as long as the screen lives:
new events land in the open timeline and move their box to the top of the list with
a fresh preview and unread badge; deleted boxes and kicks remove the box; an
auto-invitation makes the messenger process its crypto actions.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from boxtui.client.errors import APIConnectionError
from boxtui.core.wire import ACCESS_TYPES, UNREAD_TYPES, BoxView, EventView, RealtimeMessage
from boxtui.messenger.messenger import Messenger, Queued
from boxtui.messenger.models import BoxSummary, TimelineEntry
from boxtui.store.cache import BoxListing

from ..keymap import find_binding
from ..notifications import DEFAULT_LEVEL, TerminalNotifier, level_of, mention_pattern, should_notify
from ..messages import OpenBox
from ..widgets.box_header import BoxHeader
from ..widgets.box_list import BoxList, BoxRow
from ..widgets.composer import Composer, ComposerTarget
from ..widgets.footer import BoxFooter
from ..widgets.timeline import BoxTimeline
from ..widgets.transfers import TransferCancelled, TransfersArea
from .dialogs import (
    ConfirmDialog,
    ForwardDialog,
    InvitationDialog,
    JoinDialog,
    NewBoxDialog,
    UploadDialog,
    ask_where_to_save,
    make_public_question,
)
from .feedback import notify_error, reported

#: The hint shown while no box is open: (binding id, what it does); keys as remapped.
NO_BOX_HINT_KEYS = [
    ("main.new_box", "create a box"),
    ("main.join", "join one with an invitation link"),
    ("app.help", "all the keys"),
]

#: Below this width (columns) the box list is a drawer over the conversation.
NARROW_WIDTH = 100

#: Actions that need an open box; and of those, the ones for its admin only, and the
#: ones a closed (read-only) box refuses.
NEEDS_BOX = {
    "invitation", "members", "access", "upload", "toggle_lifecycle", "toggle_access_mode", "leave_box", "delete_box",
    "backfill", "mark_unread", "notify_level",
}  # fmt: skip
ADMIN_ONLY = {"access", "toggle_lifecycle", "toggle_access_mode", "delete_box"}
NEEDS_OPEN_BOX = {"upload", "toggle_access_mode"}

#: Events fetched when a box opens, and per "load older" page.
PAGE_SIZE = 100
#: Events the timeline holds at most: far pages are dropped and fetched again, so
#: memory stays flat however far back one scrolls in a 100k-event box.
MAX_LOADED_EVENTS = 2000


#: Keys of the device-local reading state (``Messenger.reading_state``).
POSITION_KEY = "position"
MARKED_KEY = "marked_unread"
#: How often the reading position is written to the store (only when it moved).
POSITION_SAVE_SECONDS = 2.0


_listed_frozen = False


def _freeze_listed_session() -> None:
    """Once per process, once the box list is shown: what the session made so far (the
    main screen's widgets, the boxes, the store's and the client's objects: ~50k, living
    as long as the session) is moved out of the garbage collector's sight, as the
    imports were (``boxtui.tui.app``). A full collection walking them all (~10 ms) fell
    otherwise on whatever came next, often the first box opened. (Frozen objects are
    still freed when nothing refers to them; only cycles among them stay, such as a first
    main screen closed at a logout: once per process.)"""
    global _listed_frozen
    if not _listed_frozen:
        _listed_frozen = True
        gc.freeze()


def _is_position(value: Any, box_id: str) -> bool:
    return (
        isinstance(value, list) and len(value) == 3 and value[0] == box_id
        and isinstance(value[1], str) and isinstance(value[2], int)
    )  # fmt: skip


def row_of(summary: BoxSummary) -> BoxRow:
    box = summary.box
    last = box.last_event
    activity = last.server_event_created_at if last else box.server_created_at
    preview = preview_line(last, summary.preview) if last else ""
    return BoxRow(box.id, box.title, preview, summary.unread, activity, box.lifecycle == "closed")


def preview_line(event: EventView, summary: str) -> str:
    """The box list's preview: "Sender: text" for a message, the sentence otherwise."""
    return _preview(event.type, event.sender.display_name, summary)


def _preview(kind: str, who: str | None, summary: str) -> str:
    text = " ".join(summary.split())
    return f"{who}: {text}" if kind in ("msg.text", "msg.file") and who else text


def listed_row(box: BoxListing) -> BoxRow:
    """:func:`row_of` for a box read from the store without its view (the same row)."""
    preview = _preview(box.last_type, box.last_sender, box.preview) if box.last_type else ""
    return BoxRow(box.id, box.title, preview, box.unread, box.activity, box.lifecycle == "closed")


class BoxViews(MutableMapping[str, BoxView]):
    """The screen's boxes by id. Those painted from the store stay JSON until one is
    used (validating 1,000 box views at start cost more than painting the list)."""

    def __init__(self, stored: Iterable[BoxListing] = ()) -> None:
        self._views: dict[str, BoxView] = {}
        self._json: dict[str, str] = {box.id: box.view_json for box in stored}

    def __getitem__(self, box_id: str) -> BoxView:
        view = self._views.get(box_id)
        if view is None:
            view = self._views[box_id] = BoxView.model_validate_json(self._json.pop(box_id))
        return view

    def __setitem__(self, box_id: str, view: BoxView) -> None:
        self._json.pop(box_id, None)
        self._views[box_id] = view

    def __delitem__(self, box_id: str) -> None:
        if self._views.pop(box_id, None) is None and self._json.pop(box_id, None) is None:
            raise KeyError(box_id)

    def __contains__(self, box_id: object) -> bool:
        return box_id in self._views or box_id in self._json

    def __iter__(self) -> Iterator[str]:
        yield from list(self._views)
        yield from list(self._json)

    def __len__(self) -> int:
        return len(self._views) + len(self._json)


class MainScreen(Screen):
    """Boxes, the open box's timeline, the composer, and the verbs on them."""

    # Here rather than in app.tcss: parsed when the main screen first mounts, not before
    # the first frame (the login or unlock screen).
    DEFAULT_CSS = """

    #main { height: 1fr; layers: base drawer; }
    #boxes { width: 34; border-right: vkey $panel; }
    /* Narrow terminals (MainScreen.NARROW_WIDTH): the box list is a drawer over the conversation. */
    MainScreen.-narrow #boxes {
        display: none;
        position: absolute;
        offset: 0 0;
        layer: drawer;
        height: 100%;
        width: 36;
        max-width: 100%;
        background: $surface;
        border-right: thick $primary 60%;
    }
    MainScreen.-narrow.-drawer #boxes { display: block; }
    #conversation { width: 1fr; }
    #timeline { height: 1fr; }
    #composer { border-top: hkey $panel; }
    #transfers { padding: 0 1; }
    #no-box-hint { padding: 2 4; color: $text-muted; }
    """

    BINDINGS = [
        Binding("ctrl+n", "new_box", "New box", id="main.new_box"),
        Binding("ctrl+o", "join", "Join", id="main.join"),
        Binding("ctrl+l", "invitation", "Invite", id="main.invitation"),
        Binding("ctrl+b", "members", "Members", id="main.members"),
        Binding("ctrl+r", "access", "Access", id="main.access"),
        Binding("ctrl+t", "upload", "Upload", id="main.upload"),
        Binding("ctrl+s", "saved_files", "Saved", id="main.saved_files"),
        Binding("ctrl+f", "filter", "Boxes", id="main.filter"),
        Binding("ctrl+up", "focus_timeline", "Timeline", show=False, id="main.focus_timeline"),
        Binding("f2", "settings", "Settings", id="main.settings"),
        Binding("slash", "search_box", "Search", id="main.search_box"),
        # Priority: a terminal sends alt+a as ESC a, which a text field would take as "a".
        Binding("alt+a", "next_unread", "Next unread", priority=True, id="main.next_unread"),
        Binding("alt+u", "mark_unread", "Mark unread", show=False, priority=True, id="main.mark_unread"),
        Binding("alt+n", "notify_level", "Notifications", show=False, priority=True, id="main.notify_level"),
    ]

    AUTO_FOCUS = "#box-filter"

    def __init__(self, messenger: Messenger) -> None:
        super().__init__()
        self.messenger = messenger
        self.boxes: MutableMapping[str, BoxView] = {}
        self.current_box_id: str | None = None
        self.member_count: int | None = None
        self._send_lock = asyncio.Lock()
        #: Boxes marked unread on this device (alt+u): box id → the first event to read.
        self._marked: dict[str, str] = {}
        #: The box the "new since you left" line was placed for.
        self._marker_for: str | None = None
        #: The last reading position written to the store (box, event, offset).
        self._saved_position: list[Any] | None = None
        self._notifier: TerminalNotifier | None = None
        self._timeline: BoxTimeline | None = None
        #: Boxes whose history is being fetched (one backfill per box at a time).
        self._backfilling: set[str] = set()

    # --- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield BoxList(id="boxes")
            with Vertical(id="conversation"):
                yield BoxHeader(id="box-header")
                yield Static(self._no_box_hint(), id="no-box-hint")
                timeline = BoxTimeline(
                    id="timeline",
                    identity_id=self.my_id,
                    decrypt=self.messenger.decrypt_event,
                    max_loaded=MAX_LOADED_EVENTS,
                )
                composer = Composer(id="composer")
                timeline.display = composer.display = False  # until a box is open (see _show_header)
                yield timeline
                yield TransfersArea(id="transfers")
                yield composer
        yield BoxFooter()

    def _no_box_hint(self) -> Text:
        hint = Text("Pick a box in the list (type to filter, Enter opens it).\n")
        keys = [(self.app.get_key_display(Binding(self.app.COMMAND_PALETTE_BINDING, "")), "every command")]
        for binding_id, does in [("main.filter", "the list of boxes"), *NO_BOX_HINT_KEYS]:
            binding = find_binding((type(self), type(self.app)), binding_id, self.app._keymap)
            if binding is not None:
                first_key = binding.with_key(binding.key.split(",")[0].strip(), binding.key_display)
                keys.append((self.app.get_key_display(first_key), does))
        for key, does in keys:
            hint.append(f"\n{key:>8}  ", style="bold")
            hint.append(does)
        return hint

    @property
    def box_list(self) -> BoxList:
        return self.query_one(BoxList)

    @property
    def timeline(self) -> BoxTimeline:
        return self.query_one(BoxTimeline)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def header(self) -> BoxHeader:
        return self.query_one(BoxHeader)

    @property
    def my_id(self) -> str:
        identity = self.messenger.identity
        return identity.id if identity else ""

    @property
    def current_box(self) -> BoxView | None:
        return self.boxes.get(self.current_box_id) if self.current_box_id else None

    def on_mount(self) -> None:
        marked = self.messenger.reading_state(MARKED_KEY)
        self._marked = {str(k): str(v) for k, v in marked.items()} if isinstance(marked, dict) else {}
        self._timeline = self.timeline
        self.timeline.mention_pattern = mention_pattern(self.messenger.identity.display_name if self.messenger.identity else "")
        self._paint_from_store()
        self.set_interval(POSITION_SAVE_SECONDS, self._save_position)
        self._fit_width(self.app.size.width)
        self.load_boxes()
        self.listen()

    # --- narrow terminals: the box list as a drawer --------------------------------

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    @property
    def drawer_open(self) -> bool:
        return self.narrow and self.has_class("-drawer")

    def on_resize(self, event: events.Resize) -> None:
        self._fit_width(event.size.width)

    def _fit_width(self, width: int) -> None:
        narrow = width < NARROW_WIDTH
        if narrow == self.narrow:
            return
        in_list = self.focused is not None and self.box_list in self.focused.ancestors_with_self
        self.set_class(narrow, "-narrow")
        # Gone narrow: the drawer shows if the list had the focus or no box is open.
        self.set_class(narrow and (in_list or self.current_box_id is None), "-drawer")
        self.refresh_bindings()

    def open_drawer(self) -> None:
        self.add_class("-drawer")
        self.box_list.focus_filter()

    def close_drawer(self) -> None:
        """Hide the drawer (narrow terminals) and give the focus back to the conversation."""
        if not self.drawer_open:
            return
        self.remove_class("-drawer")
        if self.current_box_id is not None:
            self.composer.input.focus()
        else:
            self.set_focus(None)

    def on_box_list_dismissed(self, event: BoxList.Dismissed) -> None:
        self.close_drawer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Box verbs show (footer, palette) only where the server would accept them."""
        if action == "next_unread":
            return self.is_mounted and self._next_unread() is not None
        if action not in NEEDS_BOX:
            return True
        box = self.current_box
        if box is None:
            return False
        if action in ADMIN_ONLY and box.creator.id != self.my_id:
            return False
        if action == "leave_box" and box.creator.id == self.my_id:
            return False  # the admin cannot leave their box (they can delete it)
        if action in NEEDS_OPEN_BOX and box.lifecycle == "closed":
            return False
        return True


    # --- the local store: painted first, synced after (docs/local-store.md) -----------

    def _paint_from_store(self) -> None:
        """The box list and the last open box from the store, before any network answer."""
        stored = self.messenger.stored_box_listing()
        if not stored:
            return
        self.boxes = BoxViews(stored)
        self.box_list.set_rows(self._marked_rows([listed_row(box) for box in stored]))
        last = self.messenger.last_open_box()
        if last in self.boxes:
            unread = self._unread_of(last)
            if self._show_stored(last, position=self.messenger.reading_state(POSITION_KEY)):
                self._place_marker(last, unread)
                self.composer.input.focus()

    def _marked_rows(self, rows: list[BoxRow]) -> list[BoxRow]:
        """The list's rows, with the boxes marked unread on this device."""
        for row in rows:
            row.marked = row.box_id in self._marked
        return rows

    def _show_stored(self, box_id: str, position: Any = None) -> bool:
        """Paint a box from the store (and its outbox); False if nothing is stored.

        ``position`` (``[box id, event id, offset]``, as :meth:`_save_position` wrote
        it): the cursor and the view go back there when that event is stored."""
        entries = self.messenger.stored_page(box_id, limit=PAGE_SIZE)
        if not entries:
            return False
        self.current_box_id = box_id
        self._show_header()
        event_id, offset = (position[1], position[2]) if _is_position(position, box_id) else (None, 0)
        if event_id and event_id not in {e.event.id for e in entries}:
            around = self.messenger.stored_around(event_id, PAGE_SIZE)
            if around:
                self.timeline.set_entries(around, has_newer=around[-1].event.id != entries[-1].event.id)
                entries = []
        if entries:
            self.timeline.set_entries([*entries, *self.messenger.pending(box_id)])
        if event_id:
            self.timeline.restore_position(event_id, int(offset))
        self.box_list.highlight(box_id)
        return True

    # --- reading: where one was, what is new, what is unread ------------------------

    def _save_position(self) -> None:
        """Remember the open box's cursor and view (restored at the next start)."""
        timeline = self._timeline or self.timeline  # (kept: at exit the widgets are gone first)
        spot = timeline.view_position if self.current_box_id else None
        position = [self.current_box_id, *spot] if spot else None
        if position is not None and position != self._saved_position:
            self._saved_position = position
            self.messenger.remember_reading_state(POSITION_KEY, position)

    def on_unmount(self) -> None:
        self._save_position()

    def _unread_of(self, box_id: str) -> int:
        row = self.box_list.row(box_id)
        return row.unread if row is not None else 0

    def _is_new(self, entry: TimelineEntry) -> bool:
        """Counted by the server's unread count: someone else's message or membership change."""
        return entry.event.type in UNREAD_TYPES and entry.event.sender.id != self.my_id and not entry.pending

    def _place_marker(self, box_id: str, unread: int) -> None:
        """The "new since you left" line: above the event marked unread on this device,
        else above the first of the ``unread`` events the server counted since the last
        visit. A box visited again keeps its line until there is something newer."""
        if box_id == self._marker_for and not unread and box_id not in self._marked:
            return
        self._marker_for = box_id
        marked = self._marked.pop(box_id, None)
        if marked is not None:
            self.messenger.remember_reading_state(MARKED_KEY, self._marked or None)
        if marked is None or not self.timeline.select_event(marked):
            self.timeline.mark_new_after(unread, self._is_new)
        else:
            self.timeline.set_new_marker(marked)
        if row := self.box_list.row(box_id):
            if row.marked:
                row.marked = False
                self.box_list.upsert(row)

    def _next_unread(self) -> str | None:
        """The most recently active other box with something unread."""
        for row in self.box_list.rows:
            if row.box_id != self.current_box_id and row.has_unread:
                return row.box_id
        return None

    def action_next_unread(self) -> None:
        box_id = self._next_unread()
        if box_id is None:
            self.notify("No other box has unread messages.")
            return
        self.open_box(box_id)

    def action_mark_unread(self) -> None:
        """Mark the open box unread from the message under the cursor (its newest one
        when the cursor is elsewhere): the list shows "•" until the box is opened
        again, and alt+a comes back to it. Kept on this device only."""
        box = self._require_box()
        if box is None:
            return
        entry = self.timeline.current_entry
        stored = [e for e in self.timeline.entries if not e.pending]
        if entry is None or entry.pending:
            entry = stored[-1] if stored else None
        if entry is None:
            return
        self._marked[box.id] = entry.event.id
        self.messenger.remember_reading_state(MARKED_KEY, self._marked)
        self.timeline.set_new_marker(entry.event.id)
        if row := self.box_list.row(box.id):
            row.marked = True
            self.box_list.upsert(row)
        self.refresh_bindings()
        self.notify("Marked unread from the selected message (on this device).")

    def action_notify_level(self) -> None:
        box = self._require_box()
        if box is None:
            return
        from .notify_level import NotifyLevelDialog

        levels = self.messenger.profile.config.notifications
        box_id, title = box.id, box.title

        def chosen(level: str | None) -> None:
            if level is None:
                return
            if level == DEFAULT_LEVEL:
                levels.pop(box_id, None)
            else:
                levels[box_id] = level
            try:
                self.messenger.profile.save_config()
            except Exception as exc:  # noqa: BLE001 - e.g. a read-only config folder
                notify_error(self, "The choice is not saved", exc)
                return
            self.notify(f"Notifications for “{title}”: {level}.", markup=False)

        self.app.push_screen(NotifyLevelDialog(title, level_of(levels, box_id)), chosen)

    @work(exclusive=True, group="sync")
    @reported("Cannot catch up with the server")
    async def sync_store(self, summaries: list[BoxSummary] | None = None) -> None:
        """Catch the stored boxes up and send the outbox; the open box gets what is new
        appended (the cursor stays where it is)."""
        try:
            changed = await self.messenger.sync(summaries=summaries)
        except APIConnectionError:
            self.header.connection = "offline"
            return
        del changed  # the open box is checked below (the outbox may have added to it too)
        self._say_rebuilt()  # a damaged page met while syncing
        box_id = self.current_box_id
        if box_id is not None:
            sent = [e.event.id for e in self.timeline.entries if not e.pending]
            if sent:
                for entry in self.messenger.stored_page(box_id, after=sent[-1], limit=PAGE_SIZE * 10):
                    self.timeline.append_entry(entry)
            self._refresh_pending(box_id)

    def _refresh_pending(self, box_id: str) -> None:
        """Drop outbox rows that went out; show the ones still waiting."""
        if box_id != self.current_box_id:
            return
        waiting = {e.event.id: e for e in self.messenger.pending(box_id)}
        for entry in list(self.timeline.entries):
            if entry.pending and entry.event.id not in waiting:
                self.timeline.remove_entry(entry.event.id)
        for entry in waiting.values():
            self.timeline.append_entry(entry)  # (replaces it if shown)

    def action_search_box(self) -> None:
        box = self._require_box()
        if box is not None:
            self._search(box.id, box.title)

    def action_search_all(self) -> None:
        self._search(None, None)

    def _search(self, box_id: str | None, title: str | None) -> None:
        from .search import SearchScreen

        def chosen(found: tuple[str, str] | None) -> None:
            if found:
                self.jump_to(*found)

        self.app.push_screen(SearchScreen(self.messenger, box_id, title), chosen)

    @work(exclusive=True, group="open")
    @reported("Cannot show that message")
    async def jump_to(self, box_id: str, event_id: str) -> None:
        """Show a stored event in its box, its page loaded around it, the cursor on it."""
        entries = self.messenger.stored_around(event_id, PAGE_SIZE)
        if not entries:
            self.notify("That message is no longer stored.", severity="warning")
            return
        if box_id not in self.boxes:
            stored = {s.box.id: s.box for s in self.messenger.stored_boxes()}
            if box_id not in stored:
                return
            self.boxes[box_id] = stored[box_id]
        self.current_box_id = box_id
        self.messenger.remember_open_box(box_id)
        self._show_header()
        newest = self.messenger.stored_page(box_id, limit=1)
        has_newer = bool(newest) and newest[-1].event.id != entries[-1].event.id
        self.timeline.set_entries(entries, has_newer=has_newer)
        self.timeline.select_event(event_id)
        self.box_list.highlight(box_id)
        self.timeline.focus()

    # --- boxes --------------------------------------------------------------------

    @work(exclusive=True, group="boxes")
    @reported("Cannot load your boxes")
    async def load_boxes(self, select: str | None = None) -> None:
        summaries = await self.messenger.list_boxes()
        self._say_rebuilt()
        self.boxes = {s.box.id: s.box for s in summaries}
        rows = self._marked_rows([row_of(s) for s in summaries])
        if {r.box_id: r for r in rows} != {r.box_id: r for r in self.box_list.rows}:  # (painted from the store already?)
            self.box_list.set_rows(rows)
        if not self.messenger.online:
            self.header.connection = "offline"
        if self.current_box_id and self.current_box_id not in self.boxes:
            self._close_current()
        if select and select in self.boxes:
            self.open_box(select)
        elif self.current_box_id and self.messenger.online and not self._opening():
            # The stored page, refreshed from the server; not over a box being opened
            # (the "open" group is exclusive: the refresh would cancel the user's choice).
            self.open_box(self.current_box_id, refresh=True)
        if self.messenger.online:
            self.sync_store(summaries)
        self.refresh_bindings()
        self.call_after_refresh(_freeze_listed_session)

    def _say_rebuilt(self) -> None:
        """Say, once, that the local cache was found damaged and set aside (the boxes
        come back from the server; the outbox is another file and was kept)."""
        local = self.messenger.local
        if local is not None and local.rebuilt:
            text = local.rebuilt
            local.rebuilt = None
            self.notify(text[:1].upper() + text[1:] + ".", severity="warning", timeout=20, markup=False)

    def _opening(self) -> bool:
        """Whether a box is being opened (an ``open_box`` worker is at work)."""
        return any(worker.group == "open" and worker.node is self and not worker.is_finished for worker in self.app.workers)

    def on_box_list_chosen(self, event: BoxList.Chosen) -> None:
        self.remove_class("-drawer")
        self.open_box(event.box_id)

    def on_open_box(self, event: OpenBox) -> None:
        if event.box_id in self.boxes:
            self.open_box(event.box_id)
        else:
            self.load_boxes(select=event.box_id)

    @work(exclusive=True, group="open")
    @reported("Cannot open the box")
    async def open_box(self, box_id: str, *, refresh: bool = False) -> None:
        """Show ``box_id`` (from the store first, then from the server).

        Another box: the draft's reply/edit target and the focus start afresh. The same
        box keeps the draft's target; a ``refresh`` (the box list reloaded, e.g. once
        the server is back) also leaves the focus and an open drawer as they were."""
        self.messenger.remember_open_box(box_id)
        unread = self._unread_of(box_id)  # as listed: for the page painted from the store
        if not refresh:
            self.remove_class("-drawer")  # at once: a drawer opened again meanwhile stays open
        switching = box_id != self.current_box_id
        if switching:
            self._save_position()
        painted = switching and self._show_stored(box_id)
        if painted:
            self._place_marker(box_id, unread)
            self.timeline.show_new_marker()
            self.composer.cancel_target()
            self.composer.input.focus()
        # What the timeline shows of this box before asking: an event appended while the
        # page is on its way (live, or from the outbox) is newer than that page.
        shown = {e.event.id for e in self.timeline.entries} if self.current_box_id == box_id else None
        try:
            box, members, entries, total = await asyncio.gather(
                self.messenger.get_box(box_id),
                self.messenger.members(box_id),
                self.messenger.timeline_page(box_id, tail=True, limit=PAGE_SIZE),
                self.messenger.count_events(box_id),
            )
        except APIConnectionError:
            if not (painted or self.current_box_id == box_id or self._show_stored(box_id)):
                raise
            self.header.connection = "offline"  # the stored page stays: reading works offline
            return
        self.boxes[box_id] = box
        cursor = self.timeline.current_entry
        at_new = cursor is not None and cursor.event.id == self.timeline.new_marker_id  # (put there above)
        moved = self.current_box_id == box_id and self.timeline.cursor_index != len(self.timeline.entries) - 1 and not at_new
        self.current_box_id = box_id
        self.member_count = len(members)
        self._show_header()
        # The reader is somewhere up the page, or this is a refresh (its page was read
        # before events that arrived meanwhile, live or from the outbox, and replacing
        # the timeline with it would drop them from view): add what is new, keep the rest.
        if moved or (refresh and not switching):
            for entry in entries:
                self.timeline.append_entry(entry)  # (replaces it if shown)
        else:
            paged = {e.event.id for e in entries}
            arrived = [e for e in self.timeline.entries if e.event.id not in paged and e.event.id not in shown] if shown is not None else []
            self.timeline.set_entries([*entries, *self.messenger.pending(box_id)], total_count=total)
            for entry in arrived:  # (the page was read before they came: keep them in view)
                self.timeline.append_entry(entry)  # (replaces it if shown)
        self._place_marker(box_id, box.events_count)  # the server's count, unacknowledged yet
        if not moved:  # (a reader up the page stays where they are)
            self.timeline.show_new_marker()
        if switching and not painted:
            self.composer.cancel_target()
        if not refresh and not painted:
            self.composer.input.focus()
        self.box_list.highlight(box_id)
        await self._ack(box_id)

    async def _ack(self, box_id: str) -> None:
        await self.messenger.ack(box_id)
        row = self.box_list.row(box_id)
        if row is not None and row.unread:
            row.unread = 0
            self.box_list.upsert(row)
            self.refresh_bindings()

    def _show_header(self) -> None:
        """Show the open box's state: header, what the timeline and composer allow, keys."""
        box = self.current_box
        # The widgets' own display, not a class on #conversation: a class there restyled
        # its whole subtree (~150 nodes), half of the first box open's 100 ms.
        self.query_one("#no-box-hint").display = box is None
        self.timeline.display = self.composer.display = box is not None
        if box is None:
            self.header.clear_box()
        else:
            self.header.show_box(box.title, self.member_count, box.lifecycle, box.access_mode)
        admin = box is not None and box.creator.id == self.my_id
        closed = box is not None and box.lifecycle == "closed"
        self.timeline.set_permissions(moderator=admin, read_only=closed)
        self.composer.set_read_only(closed)
        self.refresh_bindings()

    def _close_current(self) -> None:
        self.current_box_id = None
        self.member_count = None
        self._show_header()
        self.timeline.set_entries([])
        self.composer.clear()
        if self.narrow:
            self.open_drawer()

    def _forget_box(self, box_id: str) -> None:
        self.boxes.pop(box_id, None)
        self.box_list.remove(box_id)
        if self.current_box_id == box_id:
            self._close_current()

    def _require_box(self) -> BoxView | None:
        box = self.current_box
        if box is None:
            self.notify("Open a box first.", severity="warning")
        return box

    # --- sending ------------------------------------------------------------------

    def on_composer_submitted(self, event: Composer.Submitted) -> None:
        box = self._require_box()
        if box is None:
            return
        self.composer.clear()  # the next message can be typed while this one goes out
        self.send(box.id, event.text, event.target)

    @work(group="send")
    async def send(self, box_id: str, text: str, target: ComposerTarget | None) -> None:
        """Post (or edit) one message; sends go out one at a time, in the order typed.

        On failure the draft comes back into the composer if it is still empty.
        """
        async with self._send_lock:
            try:
                await self._post(box_id, text, target)
            except Exception as exc:  # noqa: BLE001 - becomes a notification
                notify_error(self, "Not sent", exc)
                if box_id == self.current_box_id and not self.composer.text:
                    self.composer.restore(text, target)

    async def _post(self, box_id: str, text: str, target: ComposerTarget | None) -> None:
        if target is not None and target.kind == "edit":
            edit = await self.messenger.edit_text(box_id, target.event_id, text)
            if box_id == self.current_box_id:
                self.timeline.apply_edit(edit, text=text)
            return
        reply_to = target.event_id if target is not None else None
        try:
            event = await self.messenger.send_text(box_id, text, reply_to=reply_to)
        except Queued as queued:
            self._refresh_pending(box_id)
            if queued.elsewhere:
                self.notify("Another boxtui on this profile is sending it: it shows here once sent.")
            else:
                self.notify("The server cannot be reached: the message waits in the outbox and goes out when it is back.")
            return
        self._refresh_pending(box_id)
        entry = TimelineEntry(event=event, text=text)
        self._touch_row(entry, counts=False)
        if box_id == self.current_box_id:
            self.timeline.append_entry(entry)

    def on_composer_editor_requested(self, event: Composer.EditorRequested) -> None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w+", suffix=".txt", encoding="utf-8", delete=False) as draft:
            draft.write(event.draft)
        path = Path(draft.name)
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
            self.composer.text = path.read_text(encoding="utf-8").rstrip("\n")
        except SuspendNotSupported:
            self.notify("This terminal cannot be handed over to an editor.", severity="warning")
        except Exception as exc:  # noqa: BLE001 - e.g. the editor is missing
            notify_error(self, "Cannot open the editor", exc)
        finally:
            path.unlink(missing_ok=True)
        self.composer.input.focus()

    # --- actions on the timeline's current event ----------------------------------

    def on_box_timeline_load_older(self, event: BoxTimeline.LoadOlder) -> None:
        if self.current_box_id:
            self.load_older(self.current_box_id, event.before_event_id)

    @work(exclusive=True, group="older")
    @reported("Cannot load older messages")
    async def load_older(self, box_id: str, before: str) -> None:
        entries = await self.messenger.timeline_page(box_id, before=before, limit=PAGE_SIZE)
        if box_id == self.current_box_id:
            self.timeline.prepend_entries(entries)

    def on_box_timeline_load_newer(self, event: BoxTimeline.LoadNewer) -> None:
        if self.current_box_id:
            self.load_newer(self.current_box_id, event.after_event_id)

    @work(exclusive=True, group="newer")
    @reported("Cannot load newer messages")
    async def load_newer(self, box_id: str, after: str) -> None:
        entries = await self.messenger.timeline_page(box_id, after=after, limit=PAGE_SIZE)
        if box_id == self.current_box_id:
            self.timeline.extend_entries(entries)

    def on_box_timeline_reply_requested(self, event: BoxTimeline.ReplyRequested) -> None:
        self.composer.reply_to(event.entry.event.id, event.entry.summary)

    def on_box_timeline_edit_requested(self, event: BoxTimeline.EditRequested) -> None:
        entry = event.entry
        if entry.text is not None:
            self.composer.edit(entry.event.id, entry.text)

    def on_box_timeline_delete_requested(self, event: BoxTimeline.DeleteRequested) -> None:
        entry = event.entry
        box_id = self.current_box_id
        if box_id is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_message(box_id, entry.event.id)

        self.app.push_screen(ConfirmDialog(f"Delete this message?\n\n{entry.summary}", "Delete"), confirmed)

    @work(group="delete")
    @reported("Not deleted")
    async def delete_message(self, box_id: str, event_id: str) -> None:
        deletion = await self.messenger.delete_message(box_id, event_id)
        if box_id == self.current_box_id:
            self.timeline.apply_delete(deletion)
        self.notify("Message deleted.")

    def on_box_timeline_download_requested(self, event: BoxTimeline.DownloadRequested) -> None:
        entry = event.entry
        if entry.file is not None:
            ask_where_to_save(self, self.messenger.profile, entry.file.file_name, lambda dest: self.download(entry, dest))

    @work(group="download")
    @reported("Download failed")
    async def download(self, entry: TimelineEntry, dest: Path) -> None:
        assert entry.file is not None
        try:
            saved = await self.query_one(TransfersArea).run(
                f"↓ {entry.file.file_name}",
                lambda progress: self.messenger.download_file(entry.event, dest, progress=progress),
            )
        except TransferCancelled:
            self.notify(f"Download of {entry.file.file_name} cancelled: nothing was saved.", markup=False)
            return
        self.notify(f"Downloaded to {saved}", markup=False)

    def on_box_timeline_save_requested(self, event: BoxTimeline.SaveRequested) -> None:
        if event.entry.file is not None:
            self.save_file(event.entry)

    @work(group="save")
    @reported("Not saved")
    async def save_file(self, entry: TimelineEntry) -> None:
        saved = await self.messenger.save_file(entry.event)
        self.timeline.mark_saved(saved.encrypted_file_id, True)
        assert entry.file is not None
        self.notify(f"{entry.file.file_name} added to your saved files.", markup=False)

    def on_box_timeline_forward_requested(self, event: BoxTimeline.ForwardRequested) -> None:
        entry = event.entry
        targets = [
            (row.box_id, row.title) for row in self.box_list.rows if not row.closed and row.box_id != entry.event.box_id
        ]
        if not targets:
            self.notify("No box to forward to.", severity="warning")
            return

        def chosen(box_ids: list[str] | None) -> None:
            if box_ids:
                self.forward(entry.event.id, box_ids)

        self.app.push_screen(ForwardDialog(targets), chosen)

    @work(group="forward")
    @reported("Not forwarded")
    async def forward(self, event_id: str, box_ids: list[str]) -> None:
        await self.messenger.forward(event_id, box_ids)
        self.notify(f"Forwarded to {len(box_ids)} box{'es' if len(box_ids) != 1 else ''}.")

    def on_box_timeline_open_requested(self, event: BoxTimeline.OpenRequested) -> None:
        from .pager import PagerScreen

        self.app.push_screen(PagerScreen(event.entry))

    def on_box_timeline_copy_requested(self, event: BoxTimeline.CopyRequested) -> None:
        entry = event.entry
        text = entry.text if entry.text is not None else entry.summary
        self.app.copy_to_clipboard(text)
        self.notify("Copied to the clipboard.")

    # --- box verbs ----------------------------------------------------------------

    def action_filter(self) -> None:
        """The box list: on a narrow terminal toggle the drawer, else focus the filter."""
        if not self.narrow:
            self.box_list.focus_filter()
        elif self.drawer_open:
            self.close_drawer()
        else:
            self.open_drawer()

    def action_focus_timeline(self) -> None:
        self.timeline.focus()

    def action_new_box(self) -> None:
        def chosen(title: str | None) -> None:
            if title:
                self.create_box(title)

        self.app.push_screen(NewBoxDialog(), chosen)

    @work(group="create")
    @reported("Box not created")
    async def create_box(self, title: str) -> None:
        box = await self.messenger.create_box(title)
        self.notify(f"Box “{box.title}” created.", markup=False)
        self.load_boxes(select=box.id)

    def action_join(self) -> None:
        def chosen(link: str | None) -> None:
            if link:
                self.join(link)

        self.app.push_screen(JoinDialog(), chosen)

    @work(group="join")
    @reported("Cannot join")
    async def join(self, link: str) -> None:
        box = await self.messenger.join_link(link)
        self.notify(f"You joined “{box.title}”.", markup=False)
        self.load_boxes(select=box.id)

    def action_invitation(self) -> None:
        if box := self._require_box():
            self.app.push_screen(InvitationDialog(self.messenger, box.id, box.title), self._box_changed)

    def _box_changed(self, box: BoxView | None) -> None:
        """A dialog changed the box (made it public): show it as it now is."""
        if box is not None and box.id in self.boxes:
            self.boxes[box.id] = box
            if box.id == self.current_box_id:
                self._show_header()

    def action_members(self) -> None:
        from .members import MembersScreen

        if box := self._require_box():
            self.app.push_screen(MembersScreen(self.messenger, box))

    def action_access(self) -> None:
        from .access import AccessManagerScreen

        if box := self._require_box():
            if box.creator.id != self.my_id:
                self.notify("Only the box's admin manages its access rules.", severity="warning")
                return
            self.app.push_screen(AccessManagerScreen(self.messenger, box))

    def action_saved_files(self) -> None:
        from .saved import SavedFilesPanel

        self.app.push_screen(SavedFilesPanel(self.messenger))

    def action_settings(self) -> None:
        self.app.action_settings()

    def action_upload(self) -> None:
        self._file_dialog(
            "Upload a file to {title}",
            lambda box_id, path, progress: self.messenger.upload_file(box_id, path, progress=progress),
        )

    def action_import_email(self) -> None:
        self._file_dialog(
            "Import an e-mail (.eml) into {title}: encrypted here, attachments as files",
            lambda box_id, path, progress: self.messenger.import_email(box_id, path),
            verb="Import",
            done="Imported {name}.",
            placeholder="Path of the .eml file",
        )

    def _file_dialog(self, title: str, send: Any, **options: Any) -> None:
        """A local file into the open box (``send(box_id, path, progress)``); the timeline
        shows what it posted once the dialog closes."""
        box = self._require_box()
        if box is None:
            return
        box_id = box.id

        def done(result: Any) -> None:
            if result and box_id == self.current_box_id:
                self.refresh_timeline_tail()

        dialog = UploadDialog(title.format(title=box.title), lambda path, progress: send(box_id, path, progress), **options)
        self.app.push_screen(dialog, done)

    def action_backfill(self) -> None:
        if box := self._require_box():
            self.backfill(box.id, box.title)

    @work(group="backfill")
    @reported("Cannot fetch the history")
    async def backfill(self, box_id: str, title: str) -> None:
        """Fetch the box's whole older history into the store (so search covers it), in
        the background with a progress line; its ✕ stops it, and the next run goes on
        from the oldest event stored (docs/local-store.md)."""
        if box_id in self._backfilling:
            self.notify(f"The history of “{title}” is being fetched already.", markup=False)
            return
        self._backfilling.add(box_id)
        try:
            added = await self.query_one(TransfersArea).run(
                f"History of {title}", lambda progress: self.messenger.backfill(box_id, progress), unit="events"
            )
        except TransferCancelled:
            self.notify(f"Stopped fetching the history of “{title}”: what came is kept; fetch it again to go on.", markup=False)
            return
        finally:
            self._backfilling.discard(box_id)
        self.notify(f"The whole history of “{title}” is stored ({added:,} older events fetched): search covers it.", markup=False)

    def action_cancel_transfers(self) -> None:
        if not self.query_one(TransfersArea).cancel_all():
            self.notify("No file transfer under way.")

    @work(group="tail")
    @reported("Cannot refresh the timeline")
    async def refresh_timeline_tail(self) -> None:
        box_id = self.current_box_id
        if box_id is None:
            return
        entries = await self.messenger.timeline_page(box_id, tail=True, limit=PAGE_SIZE)
        if box_id == self.current_box_id:
            for entry in entries:
                self.timeline.append_entry(entry)

    def action_leave_box(self) -> None:
        if box := self._require_box():
            self._confirm(f"Leave “{box.title}”? You need a new invitation to come back.", "Leave", self.leave_box, box.id)

    @work(group="leave")
    @reported("Cannot leave the box")
    async def leave_box(self, box_id: str) -> None:
        await self.messenger.leave(box_id)
        self.notify("You left the box.")
        self._forget_box(box_id)

    def action_delete_box(self) -> None:
        if box := self._require_box():
            self._confirm(f"Delete “{box.title}” and everything in it, for every member?", "Delete", self.delete_box, box.id)

    @work(group="delete-box")
    @reported("Box not deleted")
    async def delete_box(self, box_id: str) -> None:
        await self.messenger.delete_box(box_id)
        self.notify("Box deleted.")
        self._forget_box(box_id)

    def action_toggle_lifecycle(self) -> None:
        if box := self._require_box():
            self.set_lifecycle(box.id, closed=box.lifecycle != "closed")

    @work(group="lifecycle")
    @reported("Cannot change the box")
    async def set_lifecycle(self, box_id: str, closed: bool) -> None:
        await self.messenger.set_lifecycle(box_id, closed)
        self.boxes[box_id] = await self.messenger.get_box(box_id)
        self._show_header()
        if row := self.box_list.row(box_id):
            row.closed = closed
            self.box_list.upsert(row)
        self.notify("The box is closed: read-only for everyone." if closed else "The box is open again.")

    def action_toggle_access_mode(self) -> None:
        if box := self._require_box():
            if box.access_mode == "public":
                self.set_access_mode(box.id, public=False)
            else:
                self.confirm_public(box)

    def confirm_public(self, box: BoxView) -> None:
        """Ask before letting anyone with the link in (nobody is removed either way)."""
        self._confirm(make_public_question(box.title), "Make public", self.set_access_mode, box.id, True)

    @work(group="access-mode")
    @reported("Cannot change the access mode")
    async def set_access_mode(self, box_id: str, public: bool) -> None:
        await self.messenger.set_access_mode(box_id, public)
        self.boxes[box_id] = await self.messenger.get_box(box_id)
        if box_id == self.current_box_id:
            self._show_header()
        self.notify("Anyone with the link can now join." if public else "Only people matching the access rules can join.")

    def _confirm(self, question: str, verb: str, then: Any, *args: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then(*args)

        self.app.push_screen(ConfirmDialog(question, verb), answered)

    # --- realtime -----------------------------------------------------------------

    @work(exclusive=True, group="realtime")
    async def listen(self) -> None:
        """Consume the realtime stream until the screen goes away."""
        try:
            async with self.messenger.realtime() as subscription:
                async for message in subscription:
                    try:
                        await self.on_realtime(message)
                    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the stream
                        notify_error(self, "A live update failed", exc)
        except Exception as exc:  # noqa: BLE001
            self.header.connection = "offline"
            notify_error(self, "Live updates stopped", exc)

    async def on_realtime(self, message: RealtimeMessage) -> None:
        kind, obj = message.type, message.object
        if kind == "connection":
            state = str(obj.get("state", ""))
            if state == "connected" and self.header.connection == "offline":
                self.load_boxes()  # back online: list, catch up, send the outbox
            if state == "connected" and self.header.connection == "reconnecting":
                # Back after a drop: the subscription replays events of the boxes it
                # has seen; reload the list and the open box for everything else.
                self.load_boxes()
                self.refresh_timeline_tail()
            self.header.connection = state
        elif kind == "event.new":
            await self._on_event(EventView.model_validate(obj))
        elif kind == "box.delete":
            self._box_gone(str(obj.get("id", "")), "was deleted")
        elif kind == "file.saved":
            self.timeline.mark_saved(str(obj.get("encrypted_file_id", "")), bool(obj.get("is_saved")))
        elif kind == "notification":
            await self._on_notification(str(obj.get("type", "")), obj.get("details") or {})

    def _box_gone(self, box_id: str, why: str) -> None:
        box = self.boxes.get(box_id)
        if box is None:
            return
        self._forget_box(box_id)
        self.notify(f"The box “{box.title}” {why}.", severity="warning", markup=False)

    async def _on_notification(self, kind: str, details: dict[str, Any]) -> None:
        if kind == "member.kick":
            box_id = str(details.get("box_id", ""))
            if box_id in self.boxes:
                self._box_gone(box_id, "is no longer accessible to you: you were removed")
        elif kind == "box.auto_invite":
            title = str(details.get("box_title", ""))
            await self.messenger.process_crypto_actions()
            self.notify(f"You were invited to “{title}”.", markup=False)
            self.load_boxes()

    async def _on_event(self, event: EventView) -> None:
        box_id = event.box_id
        if event.type == "member.kick" and event.sender.id == self.my_id:
            self._box_gone(box_id, "is no longer accessible to you: you were removed")
            return
        if box_id not in self.boxes:
            self.load_boxes()
            return
        entry = self.messenger.apply_realtime(event)
        if event.type in ACCESS_TYPES:
            return  # the access manager shows rules; the box's log never lists them (§3)
        if box_id == self.current_box_id:
            self.timeline.append_entry(entry)
            if event.sender.id == self.my_id and any(e.pending for e in self.timeline.entries):
                # Sent from the outbox by another app on this profile: its pending row
                # goes once that app has noted it sent (just after the server's live copy).
                self._refresh_pending(box_id)
                self.set_timer(1.0, lambda: self._refresh_pending(box_id))
            if event.type.startswith("state."):
                self.boxes[box_id] = await self.messenger.get_box(box_id)
                self._show_header()
            if event.type.startswith("member."):
                self.member_count = len(await self.messenger.members(box_id))
                self._show_header()
        self._touch_row(entry, counts=box_id != self.current_box_id)
        self._maybe_notify(entry)
        if box_id == self.current_box_id and event.sender.id != self.my_id and event.type in UNREAD_TYPES:
            await self._ack(box_id)

    def _touch_row(self, entry: TimelineEntry, *, counts: bool) -> None:
        event = entry.event
        row = self.box_list.row(event.box_id)
        if row is None or event.type in ("msg.edit", "msg.delete", *ACCESS_TYPES):
            return
        row.preview = preview_line(event, entry.summary)
        row.activity = event.server_event_created_at
        if event.type == "state.lifecycle":
            row.closed = (event.content or {}).get("state") == "closed"
        if counts and event.sender.id != self.my_id and event.type in UNREAD_TYPES:
            row.unread += 1
        self.box_list.upsert(row)
        self.refresh_bindings()

    # --- notifications ------------------------------------------------------------

    @property
    def notifier(self) -> TerminalNotifier:
        if self._notifier is None:
            self._notifier = TerminalNotifier(self._write_to_terminal)
        return self._notifier

    def _write_to_terminal(self, data: str) -> None:
        driver = self.app._driver  # no public API writes raw bytes (the bell and OSC 52 use it too)
        if driver is not None:
            driver.write(data)

    def _maybe_notify(self, entry: TimelineEntry) -> None:
        """Bell and desktop notification for a message the user is not looking at (its
        box is not on screen, or the terminal is not focused), as the box's level allows."""
        event = entry.event
        box = self.boxes.get(event.box_id)
        pattern = self.timeline.mention_pattern
        mentioned = bool(entry.text and pattern is not None and pattern.search(entry.text))
        seen = (
            event.box_id == self.current_box_id and self.app.screen is self and self.app.app_focus and not self.drawer_open
        )
        level = level_of(self.messenger.profile.config.notifications, event.box_id)
        own = event.sender.id == self.my_id
        if box is None or not should_notify(event_type=event.type, own=own, level=level, mentioned=mentioned, seen=seen):
            return
        who = event.sender.display_name
        self.notifier.notify(box.title, f"{who}{' mentioned you' if mentioned else ''}: {entry.summary}")

