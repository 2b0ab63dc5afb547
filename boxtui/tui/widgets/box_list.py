"""The list of boxes: title, decrypted preview, unread badge, most recent first, fuzzy filter.

The rows are one Line-API widget (:class:`BoxRows`, a ``ScrollView``): two display rows
per box, and ``render_line`` builds only the rows on screen, cached. A list of 1,000
boxes costs what its 20 visible ones cost, and setting, filtering or updating the rows
only re-sorts ids: Textual's ``OptionList`` built and measured every option each time
(three times at start), 1.3 s for 1,000 boxes (issue 10's start-up profile).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.fuzzy import Matcher
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input

from ..safe_text import clean_name, one_line

#: Display rows per box: the title line and the preview line.
ROW_HEIGHT = 2


@dataclass
class BoxRow:
    """What the list shows of one box. ``activity`` is an RFC 3339 time (sorts as text)."""

    box_id: str
    title: str
    preview: str
    unread: int
    activity: str
    closed: bool = False


class BoxRows(ScrollView, can_focus=True):
    """The boxes shown by a :class:`BoxList`, two rows each, the highlighted one marked."""

    COMPONENT_CLASSES = {"box-rows--highlight"}

    DEFAULT_CSS = """
    BoxRows {
        height: 1fr;
        padding: 0 1;
        background: $surface;
        overflow-x: hidden;
        & > .box-rows--highlight {
            color: $foreground;
            background: $block-cursor-blurred-background;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .box-rows--highlight {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    def __init__(self, owner: BoxList, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._owner = owner
        #: Index (in the shown boxes) of the highlighted box, or None.
        self.highlighted: int | None = None
        self._strips: LRUCache[tuple, Strip] = LRUCache(256)

    @property
    def content_width(self) -> int:
        return self.scrollable_content_region.width

    def reset(self) -> None:
        """The shown boxes changed: new size, every cached row dropped."""
        self._strips.clear()
        self.virtual_size = Size(self.content_width, ROW_HEIGHT * len(self._owner._shown))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.content_width
        index, part = divmod(self.scroll_offset.y + y, ROW_HEIGHT)
        shown = self._owner._shown
        if index >= len(shown):
            return Strip.blank(width, self.rich_style)
        row = self._owner._rows[shown[index]]
        highlighted = index == self.highlighted
        key = (astuple(row), part, width, highlighted, self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._row_strip(row, part, width, highlighted)
            self._strips[key] = strip
        return strip

    def _row_strip(self, row: BoxRow, part: int, width: int, highlighted: bool) -> Strip:
        line = self._owner._prompt(row, width).split("\n")[part]
        base = self.rich_style
        if highlighted:
            base += self.get_component_rich_style("box-rows--highlight")
        segments = list(Segment.apply_style(line.render(self.app.console, end=""), style=base))
        return Strip(segments).adjust_cell_length(width, base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self.refresh()

    def on_resize(self) -> None:
        self.reset()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- the highlight ----------------------------------------------------------------

    def move_to(self, index: int | None) -> None:
        """Highlight the box at ``index`` (clamped) and scroll it into view."""
        count = len(self._owner._shown)
        self.highlighted = None if index is None or not count else max(0, min(index, count - 1))
        if self.highlighted is not None:
            top = self.highlighted * ROW_HEIGHT
            height = self.scrollable_content_region.height
            if top < self.scroll_y:
                self.scroll_to(y=top, animate=False, force=True)
            elif height and top + ROW_HEIGHT > self.scroll_y + height:
                self.scroll_to(y=top + ROW_HEIGHT - height, animate=False, force=True)
        self.refresh()

    def action_cursor_up(self) -> None:
        self.move_to(0 if self.highlighted is None else self.highlighted - 1)

    def action_cursor_down(self) -> None:
        self.move_to(0 if self.highlighted is None else self.highlighted + 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height // ROW_HEIGHT)

    def action_page_up(self) -> None:
        self.move_to((self.highlighted or 0) - self._page())

    def action_page_down(self) -> None:
        self.move_to((self.highlighted or 0) + self._page())

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self._owner._shown) - 1)

    def action_select(self) -> None:
        self._owner.choose_highlighted()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = (offset.y + self.scroll_offset.y) // ROW_HEIGHT
        if index < len(self._owner._shown):
            self.move_to(index)
            self._owner.choose_highlighted()


class BoxList(Vertical):
    """A filter input over an option list of boxes; posts :class:`BoxList.Chosen`."""

    COMPONENT_CLASSES = {"box-list--title", "box-list--preview", "box-list--unread", "box-list--closed"}

    DEFAULT_CSS = """
    BoxList { width: 32; }
    BoxList > Input { border: tall $panel; }
    BoxList .box-list--title { text-style: bold; }
    BoxList .box-list--preview { color: $text-muted; }
    BoxList .box-list--unread { background: $accent; color: $text; text-style: bold; }
    BoxList .box-list--closed { color: $text-muted; text-style: italic; }
    """

    BINDINGS = [
        Binding("down", "focus_list", "Boxes", show=False, id="box_list.focus_list"),
        Binding("escape", "dismiss", "Close", id="box_list.dismiss"),
    ]

    class Dismissed(Message):
        """Escape in the list: a drawer closes (the screen decides whether it is one)."""

    class Chosen(Message):
        """The user opened a box (enter or click)."""

        def __init__(self, box_id: str) -> None:
            super().__init__()
            self.box_id = box_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, BoxRow] = {}
        #: Ids of every box, most recent first (None: to sort again).
        self._ordered: list[str] | None = []
        self._shown: list[str] = []
        self._prompts: LRUCache[tuple, Text] = LRUCache(256)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter boxes…", id="box-filter")
        yield BoxRows(self, id="box-options")

    # --- data -------------------------------------------------------------------

    @property
    def rows(self) -> list[BoxRow]:
        """Every box, most recent activity first (regardless of the filter)."""
        if self._ordered is None:
            self._ordered = [r.box_id for r in sorted(self._rows.values(), key=lambda r: r.activity, reverse=True)]
        return [self._rows[box_id] for box_id in self._ordered]

    @property
    def shown_ids(self) -> list[str]:
        """Ids of the boxes shown, in order."""
        return list(self._shown)

    def row(self, box_id: str) -> BoxRow | None:
        return self._rows.get(box_id)

    def set_rows(self, rows: list[BoxRow]) -> None:
        self._rows = {row.box_id: row for row in rows}
        self._ordered = None
        self._rebuild()

    def upsert(self, row: BoxRow) -> None:
        self._rows[row.box_id] = row
        self._ordered = None
        self._rebuild()

    def remove(self, box_id: str) -> None:
        if self._rows.pop(box_id, None) is not None:
            self._ordered = None
            self._rebuild()

    def highlight(self, box_id: str) -> None:
        if box_id in self._shown:
            self._list().move_to(self._shown.index(box_id))

    @property
    def highlighted_id(self) -> str | None:
        """The highlighted box's id (what Enter opens)."""
        try:
            index = self._list().highlighted
        except NoMatches:
            return None
        return self._shown[index] if index is not None and index < len(self._shown) else None

    def choose_highlighted(self) -> None:
        """Open the highlighted box. The filter empties, so the list shows every box
        again (a query left behind would hide the boxes where new messages arrive),
        and the highlight stays on the box chosen."""
        box_id = self.highlighted_id
        if not box_id:
            return
        self.post_message(self.Chosen(box_id))
        field = self.query_one(Input)
        if field.value:
            with field.prevent(Input.Changed):
                field.value = ""
            self._rebuild()

    def _list(self) -> BoxRows:
        return self.query_one(BoxRows)

    # --- filter -----------------------------------------------------------------

    @property
    def filter_text(self) -> str:
        return self.query_one(Input).value

    def _rebuild(self, *, keep_highlight: bool = True) -> None:
        """Sort and filter the ids; the highlight stays on its box, or goes to the best
        match. Only the rows on screen are drawn, when they are painted."""
        try:
            options = self._list()
        except NoMatches:
            return  # not composed yet: on_mount draws the rows
        current = self.highlighted_id if keep_highlight else None
        query = self.filter_text.strip()
        rows = self.rows
        if query:
            matcher = Matcher(query)
            scored = [(matcher.match(row.title), index, row) for index, row in enumerate(rows)]
            rows = [row for score, _, row in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0]
        self._shown = [row.box_id for row in rows]
        options.reset()
        options.move_to(self._shown.index(current) if current in self._shown else 0 if self._shown else None)

    def _prompt(self, row: BoxRow, width: int) -> Text:
        """Two lines, each cut to ``width`` (the list's, less a margin): title and
        badge, then the preview. Cached until the row, the width or the theme change."""
        key = (astuple(row), width)
        prompt = self._prompts.get(key)
        if prompt is None:
            prompt = self._prompts[key] = self._make_prompt(row, max(8, width - 2))
        return prompt

    def _make_prompt(self, row: BoxRow, width: int) -> Text:
        style = self.get_component_rich_style
        badge = Text(f" {row.unread} ", style=style("box-list--unread")) if row.unread else Text()
        title = Text(clean_name(row.title), style=style("box-list--title"))
        if row.closed:
            title.append(" (closed)", style=style("box-list--closed"))
        title.truncate(max(1, width - badge.cell_len - 1), overflow="ellipsis")
        title.append(" " * max(1, width - title.cell_len - badge.cell_len))
        title.append_text(badge)
        preview = Text(one_line(row.preview) or " ", style=style("box-list--preview"))
        preview.truncate(width, overflow="ellipsis")
        return Text("\n").join([title, preview])

    def on_mount(self) -> None:
        self._rebuild()
        if self.screen.focused is None:
            self.focus_filter()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._prompts.clear()  # the rows carry the component styles of the theme in force
        for rows in self.query(BoxRows):
            rows.notify_style_update()

    @on(Input.Changed, "#box-filter")
    def _filter_changed(self) -> None:
        self._rebuild(keep_highlight=False)

    @on(Input.Submitted, "#box-filter")
    def _filter_submitted(self) -> None:
        self.choose_highlighted()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_list":  # from the filter only: in the list, down moves the cursor
            return self.screen.focused is self.query_one(Input)
        if action == "dismiss":  # only a drawer (a narrow main screen) closes
            return bool(getattr(self.screen, "drawer_open", False))
        return True

    def action_focus_list(self) -> None:
        self._list().focus()

    def action_dismiss(self) -> None:
        self.post_message(self.Dismissed())

    def focus_filter(self) -> None:
        # No field while the screen is being torn down (the app closing as it mounts).
        for field in self.query(Input):
            field.focus()
