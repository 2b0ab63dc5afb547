"""Search the stored messages: ``/`` in the open box, the palette's "Search all boxes".

Results come from the local store's full-text index as you type (every word must occur,
the last one as a prefix), newest first; each lists the sender, the box, the date and a
snippet with the matches highlighted. Enter jumps to the message (its page is loaded
around it). Message text is untrusted: it is drawn as plain ``Text``, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from boxtui.core.timefmt import parse_time
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import SearchResult

from ..safe_text import clean_text
from .modal import BoxModal

__all__ = ["SearchScreen", "result_text"]


def result_text(result: SearchResult) -> Text:
    """Two lines: ``sender · box · date`` and the highlighted snippet."""
    event = result.entry.event
    when = parse_time(event.server_event_created_at).astimezone().strftime("%Y-%m-%d %H:%M")
    text = Text()
    text.append(clean_text(event.sender.display_name or "someone", single_line=True), style="bold")
    text.append(f"  ·  {clean_text(result.box_title, single_line=True)}  ·  {when}\n", style="dim")
    for part, match in result.snippet or [(result.entry.summary, False)]:
        text.append(clean_text(part, single_line=True), style="reverse bold" if match else "")
    return text


class SearchScreen(BoxModal[tuple[str, str] | None]):
    """Dismisses with ``(box_id, event_id)`` of the chosen result, or None."""

    DEFAULT_CSS = """
    SearchScreen { align: center top; }
    SearchScreen > Vertical { width: 90%; max-width: 110; height: 80%; margin-top: 2;
                              border: round $accent; background: $surface; padding: 0 1; }
    SearchScreen #search-status { color: $text-muted; height: 1; }
    SearchScreen OptionList { height: 1fr; border: none; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Close", id="search.cancel"),
        Binding("down", "focus_results", "Results", show=False, id="search.results"),
    ]

    def __init__(self, messenger: Messenger, box_id: str | None = None, box_title: str | None = None) -> None:
        super().__init__()
        self.messenger = messenger
        self.box_id = box_id
        self.box_title = box_title
        self._hits: list[SearchResult] = []

    def compose(self) -> ComposeResult:
        where = f"in “{self.box_title}”" if self.box_id else "in all boxes"
        with Vertical():
            yield Label(Text(f"Search {where}"), id="search-title")
            yield Input(placeholder="words to find", id="search-input")
            yield Label("", id="search-status")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self.run_search(event.value)

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        if self._hits:
            self.dismiss((self._hits[0].entry.event.box_id, self._hits[0].entry.event.id))

    @work(exclusive=True, group="search")
    async def run_search(self, text: str) -> None:
        hits = self.messenger.search(text, box_id=self.box_id, limit=100) if text.strip() else []
        self._hits = hits
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options(Option(result_text(hit), id=str(index)) for index, hit in enumerate(hits))
        status = self.query_one("#search-status", Label)
        if not text.strip():
            status.update("")
        elif not hits:
            status.update("No stored message matches (“Fetch the whole history” in ctrl+p stores a box's older messages).")
        else:
            status.update(f"{len(hits)}{'+' if len(hits) == 100 else ''} message(s), newest first — Enter jumps to it")

    @on(OptionList.OptionSelected, "#search-results")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        hit = self._hits[int(event.option.id or 0)]
        self.dismiss((hit.entry.event.box_id, hit.entry.event.id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_results":  # from the words only: in the results, down moves the cursor
            return self.focused is self.query_one(Input)
        return True

    def action_focus_results(self) -> None:
        self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
