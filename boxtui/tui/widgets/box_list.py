"""The list of boxes: title, decrypted preview, unread badge, most recent first, fuzzy filter."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.fuzzy import Matcher
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from ..safe_text import clean_name, one_line


@dataclass
class BoxRow:
    """What the list shows of one box. ``activity`` is an RFC 3339 time (sorts as text)."""

    box_id: str
    title: str
    preview: str
    unread: int
    activity: str
    closed: bool = False


class BoxList(Vertical):
    """A filter input over an option list of boxes; posts :class:`BoxList.Chosen`."""

    COMPONENT_CLASSES = {"box-list--title", "box-list--preview", "box-list--unread", "box-list--closed"}

    DEFAULT_CSS = """
    BoxList { width: 32; }
    BoxList > Input { border: tall $panel; }
    BoxList > OptionList { height: 1fr; border: none; }
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
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter boxes…", id="box-filter")
        yield OptionList(id="box-options")

    # --- data -------------------------------------------------------------------

    @property
    def rows(self) -> list[BoxRow]:
        """Every box, most recent activity first (regardless of the filter)."""
        return sorted(self._rows.values(), key=lambda r: r.activity, reverse=True)

    @property
    def shown_ids(self) -> list[str]:
        """Ids of the boxes shown, in order."""
        return list(self._shown)

    def row(self, box_id: str) -> BoxRow | None:
        return self._rows.get(box_id)

    def set_rows(self, rows: list[BoxRow]) -> None:
        self._rows = {row.box_id: row for row in rows}
        self._rebuild()

    def upsert(self, row: BoxRow) -> None:
        self._rows[row.box_id] = row
        self._rebuild()

    def remove(self, box_id: str) -> None:
        if self._rows.pop(box_id, None) is not None:
            self._rebuild()

    def highlight(self, box_id: str) -> None:
        options = self.query_one(OptionList)
        if box_id in self._shown:
            options.highlighted = self._shown.index(box_id)

    # --- filter -----------------------------------------------------------------

    @property
    def filter_text(self) -> str:
        return self.query_one(Input).value

    def _rebuild(self, *, keep_highlight: bool = True) -> None:
        """Redraw the options; the highlight stays on its box, or goes to the best match."""
        try:
            options = self.query_one(OptionList)
        except NoMatches:
            return  # not composed yet: on_mount draws the rows
        current = options.highlighted_option.id if keep_highlight and options.highlighted_option else None
        query = self.filter_text.strip()
        rows = self.rows
        if query:
            matcher = Matcher(query)
            scored = [(matcher.match(row.title), index, row) for index, row in enumerate(rows)]
            rows = [row for score, _, row in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0]
        self._shown = [row.box_id for row in rows]
        options.set_options(Option(self._prompt(row), id=row.box_id) for row in rows)
        if current in self._shown:
            options.highlighted = self._shown.index(current)
        elif self._shown:
            options.highlighted = 0

    def _prompt(self, row: BoxRow) -> Text:
        """Two lines, each cut to the list's width: title and badge, then the preview."""
        width = max(8, self.query_one(OptionList).scrollable_content_region.width - 2)
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

    def on_resize(self) -> None:
        self._rebuild()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rebuild()  # the rows carry the component styles of the theme in force

    @on(Input.Changed, "#box-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # A query moves the highlight to the best match; the query cleared keeps it.
        self._rebuild(keep_highlight=not event.value.strip())

    @on(Input.Submitted, "#box-filter")
    def _filter_submitted(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted_option and options.highlighted_option.id:
            self._choose(options.highlighted_option.id)

    @on(OptionList.OptionSelected, "#box-options")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self._choose(event.option.id)

    def _choose(self, box_id: str) -> None:
        """Open ``box_id``; the filter empties, so the list shows every box again (a
        query left behind would hide the boxes where new messages arrive)."""
        self.post_message(self.Chosen(box_id))
        self.query_one(Input).value = ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_list":  # from the filter only: in the list, down moves the cursor
            return self.screen.focused is self.query_one(Input)
        if action == "dismiss":  # only a drawer (a narrow main screen) closes
            return bool(getattr(self.screen, "drawer_open", False))
        return True

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_dismiss(self) -> None:
        self.post_message(self.Dismissed())

    def focus_filter(self) -> None:
        # No field while the screen is being torn down (the app closing as it mounts).
        for field in self.query(Input):
            field.focus()
