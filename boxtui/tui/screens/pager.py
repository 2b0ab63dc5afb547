"""A message read full-screen: Enter on a message in the timeline opens it here.

:class:`MessagePager` is a Line-API ``ScrollView`` like the timeline: the text is
wrapped once per width (offsets only) and ``render_line`` draws one row, so a message of
any length scrolls at once. ``/`` searches (any case), ``n``/``N`` go to the next and
previous match, ``y`` copies the whole message with OSC 52 (the terminal's clipboard,
which works over SSH and, with ``set-clipboard on``, through tmux), Escape or ``q``
closes. The text is untrusted: it is drawn as plain segments after
:func:`~boxtui.tui.safe_text.clean_text`, never parsed as markup.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from boxtui.messenger.models import TimelineEntry

from ..safe_text import clean_name, clean_text
from ..widgets.footer import BoxFooter
from ..widgets.timeline_render import line_breaks

__all__ = ["MessagePager", "PagerScreen"]


class MessagePager(ScrollView, can_focus=True):
    """One long text, wrapped to the width, scrolled by rows; search matches stand out."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_by(-1)", "Up", show=False, id="pager.up"),
        Binding("down,j", "scroll_by(1)", "Down", show=False, id="pager.down"),
        Binding("pageup,b", "page(-1)", "Page up", show=False, id="pager.page_up"),
        Binding("pagedown,space", "page(1)", "Page down", show=False, id="pager.page_down"),
        Binding("home,g", "top", "Top", show=False, id="pager.top"),
        Binding("end,G", "bottom", "Bottom", show=False, id="pager.bottom"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"pager--match", "pager--current"}

    DEFAULT_CSS = """
    MessagePager { height: 1fr; overflow-x: hidden; overflow-y: auto; background: $surface; padding: 0 1; }
    MessagePager > .pager--match { background: $warning 40%; }
    MessagePager > .pager--current { background: $warning; color: $background; text-style: bold; }
    """

    def __init__(self, text: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = clean_text(text)
        self._lines: list[tuple[int, int]] = []
        self._starts: list[int] = []
        self._width = 0
        self.matches: list[tuple[int, int]] = []
        self.current = -1

    # --- layout -----------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._width:
            return
        top = self._starts[self.scroll_offset.y] if self._starts and self.scroll_offset.y < len(self._starts) else 0
        self._width = width
        self._lines = line_breaks(self.text, width)
        self._starts = [start for start, _ in self._lines]
        self.virtual_size = Size(width, len(self._lines))
        self.scroll_to(y=self.row_of(top), animate=False, force=True)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self._lines)

    def row_of(self, offset: int) -> int:
        """The row showing the character at ``offset``."""
        return max(0, bisect_right(self._starts, offset) - 1)

    def row_text(self, row: int) -> str:
        start, end = self._lines[row]
        return self.text[start:end]

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self._width or self.size.width
        base = self.rich_style
        if row >= len(self._lines):
            return Strip.blank(width, base)
        start, end = self._lines[row]
        segments: list[Segment] = []
        pos = start
        first = bisect_left(self.matches, (start, start)) - 1  # a match may begin on an earlier row
        for index in range(max(0, first), len(self.matches)):
            m_start, m_end = self.matches[index]
            if m_start >= end:
                break
            if m_end <= pos:
                continue
            if m_start > pos:
                segments.append(Segment(self.text[pos:m_start], base))
            style = "pager--current" if index == self.current else "pager--match"
            segments.append(Segment(self.text[max(pos, m_start) : min(end, m_end)], base + self.get_component_rich_style(style)))
            pos = min(end, m_end)
        if pos < end:
            segments.append(Segment(self.text[pos:end], base))
        return Strip(segments).extend_cell_length(width, base).crop(0, width)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    # --- moving -------------------------------------------------------------------

    def action_scroll_by(self, rows: int) -> None:
        self.scroll_to(y=self.scroll_y + rows, animate=False, force=True)

    def action_page(self, direction: int) -> None:
        self.action_scroll_by(direction * max(1, self.scrollable_content_region.height - 1))

    def action_top(self) -> None:
        self.scroll_to(y=0, animate=False, force=True)

    def action_bottom(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, force=True)

    # --- search -------------------------------------------------------------------

    def search(self, query: str) -> int:
        """Find every occurrence of ``query`` (any case); the first one at or below the
        top of the view becomes the current match. Returns how many there are."""
        self.matches = [(m.start(), m.end()) for m in re.finditer(re.escape(query), self.text, re.IGNORECASE)] if query else []
        self.current = -1
        if self.matches:
            top = self._starts[self.scroll_offset.y] if self.scroll_offset.y < len(self._starts) else 0
            later = [i for i, (start, _) in enumerate(self.matches) if start >= top]
            self._go_to(later[0] if later else 0)
        self.refresh()
        return len(self.matches)

    def next_match(self, direction: int) -> int:
        """Move to the next (1) or previous (-1) match, wrapping; its index, or -1."""
        if not self.matches:
            return -1
        self._go_to((self.current + direction) % len(self.matches))
        return self.current

    def _go_to(self, index: int) -> None:
        self.current = index
        row = self.row_of(self.matches[index][0])
        height = self.scrollable_content_region.height
        if not self.scroll_offset.y <= row < self.scroll_offset.y + height:
            self.scroll_to(y=max(0, row - height // 3), animate=False, force=True)
        self.refresh()


class SearchField(Input):
    """The pager's ``/`` field: Enter searches, Escape puts it away."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="pager.search_cancel")]

    def action_cancel(self) -> None:
        self.value = ""
        self.screen.query_one(MessagePager).focus()
        self.display = False


class PagerScreen(Screen[None]):
    """A message full-screen: scroll, search, copy; Escape or ``q`` goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="pager.close"),
        Binding("slash", "search", "Search", id="pager.search"),
        Binding("n", "next_match(1)", "Next", id="pager.next"),
        Binding("N", "next_match(-1)", "Previous", id="pager.previous"),
        Binding("y", "copy", "Copy", id="pager.copy"),
    ]

    DEFAULT_CSS = """
    PagerScreen { background: $surface; }
    PagerScreen #pager-title { height: 1; background: $panel; color: $foreground; text-style: bold; padding: 0 1; }
    PagerScreen #pager-status { height: 1; color: $text-muted; padding: 0 1; }
    PagerScreen SearchField { dock: bottom; margin-bottom: 1; border: none; height: 1; padding: 0 1; }
    """

    def __init__(self, entry: TimelineEntry) -> None:
        super().__init__()
        self.entry = entry
        self.message_text = entry.text if entry.text is not None else entry.summary
        #: What the last search said (shown until the next one).
        self.search_note = ""

    def compose(self) -> ComposeResult:
        event = self.entry.event
        title = Text(f"{clean_name(event.sender.display_name)} · {event.server_event_created_at[:16].replace('T', ' ')}")
        yield Static(title, id="pager-title", markup=False)
        yield MessagePager(self.message_text, id="pager")
        yield Static("", id="pager-status", markup=False)
        search = SearchField(placeholder="Search this message (Enter)", id="pager-search")
        search.display = False
        yield search
        yield BoxFooter()

    @property
    def pager(self) -> MessagePager:
        return self.query_one(MessagePager)

    def on_mount(self) -> None:
        self.pager.focus()
        self.call_after_refresh(self._show_status)

    def _show_status(self) -> None:
        pager = self.pager
        top = pager.scroll_offset.y
        height = pager.scrollable_content_region.height
        where = f"rows {min(top + 1, pager.row_count)}–{min(top + height, pager.row_count)} of {pager.row_count}"
        if pager.matches:
            where += f" · match {pager.current + 1}/{len(pager.matches)}"
        note = f"  {self.search_note}" if self.search_note else ""
        self.query_one("#pager-status", Static).update(Text(where + note))

    def on_mouse_scroll_down(self) -> None:
        self.call_after_refresh(self._show_status)

    def on_mouse_scroll_up(self) -> None:
        self.call_after_refresh(self._show_status)

    def on_key(self, event: events.Key) -> None:
        self.call_after_refresh(self._show_status)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_match":
            return bool(self.is_mounted and self.pager.matches)
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_search(self) -> None:
        field = self.query_one(SearchField)
        field.display = True
        field.focus()

    @on(Input.Submitted, "#pager-search")
    def _search(self, event: Input.Submitted) -> None:
        field = self.query_one(SearchField)
        query = field.value
        field.display = False
        self.pager.focus()
        found = self.pager.search(query)
        self.refresh_bindings()
        self.search_note = f"{query!r}: not found" if query and not found else ""
        self._show_status()

    def action_next_match(self, direction: int) -> None:
        self.pager.next_match(direction)
        self._show_status()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.message_text)
        self.notify("Copied the whole message to the clipboard (OSC 52).")
