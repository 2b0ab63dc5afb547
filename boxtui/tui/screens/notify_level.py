"""The box's notification level (all / mentions / none): a short list to pick from.

Opened from the main screen (``alt+n``, or "Notifications for this box" in the command
palette); the choice is written to the profile's ``config.toml`` by the caller.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..notifications import LEVEL_HELP, LEVELS
from ..safe_text import clean_name
from .modal import BoxModal

__all__ = ["NotifyLevelDialog"]


class NotifyLevelDialog(BoxModal[str | None]):
    """Pick how a box notifies; dismisses with the level, or None on Escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="notify_level.cancel")]

    def __init__(self, box_title: str, current: str) -> None:
        super().__init__()
        self.box_title = box_title
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="notify-level-dialog"):
            yield Label(Text(f"Notifications for {clean_name(self.box_title)}"), classes="dialog-title")
            yield OptionList(
                *(Option(Text(f"{'●' if level == self.current else '○'} {level:<9} {LEVEL_HELP[level]}"), id=level) for level in LEVELS),
                id="notify-levels",
            )

    def on_mount(self) -> None:
        super().on_mount()
        options = self.query_one(OptionList)
        options.highlighted = LEVELS.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected, "#notify-levels")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
