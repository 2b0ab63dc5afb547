"""The base of every dialog: its own footer, and a layout that fits 80×24.

A Textual modal screen shows the screen below it, footer included, so every dialog
used to advertise the main screen's keys, none of which work while it is open.
:class:`BoxModal` gives each dialog its own :class:`~boxtui.tui.widgets.footer.BoxFooter`,
which lists the dialog's keys (and those of the focused field) only.

On a short terminal (fewer than :data:`SHORT_HEIGHT` rows, such as the usual 80×24 SSH
window) the dialog's buttons, inputs and selects go compact (one row instead of three)
so the whole dialog fits; the class ``-short`` lets the styles tighten the rest.
"""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.geometry import Size
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Input, Select, TextArea

from ..widgets.footer import BoxFooter

__all__ = ["BoxModal", "SHORT_HEIGHT", "fit_to_terminal", "set_compact_unmounted"]

#: Below this many rows dialogs use compact widgets.
SHORT_HEIGHT = 30
#: Below this many columns dialogs lose their frame.
SLIM_WIDTH = 60

T = TypeVar("T")


class BoxModal(ModalScreen[T]):
    """A modal dialog with its own footer; compact on short terminals."""

    def on_mount(self) -> None:
        self.mount(BoxFooter())
        self.fit_to(self.app.size)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_to(event.size)

    def fit_to(self, size: Size) -> None:
        """Tighten (or relax) the dialog for a terminal of ``size``."""
        fit_to_terminal(self, size)


def fit_to_terminal(screen: Screen, size: Size) -> None:
    """Mark ``screen`` ``-short`` / ``-slim`` for a small terminal, and make its form
    widgets compact (one row) while it is short."""
    short = size.height < SHORT_HEIGHT
    screen.set_class(short, "-short")
    screen.set_class(size.width < SLIM_WIDTH, "-slim")
    for widget in screen.query("Button, Input, Select, TextArea, Checkbox"):
        if isinstance(widget, (Button, Input, Select, TextArea, Checkbox)):
            widget.compact = short


def set_compact_unmounted(widget: Button | Input) -> None:
    """``widget.compact = True`` for a widget not mounted yet, without styling it on the
    spot: Textual's setter toggles the widget's class, which restyles even a widget that
    is not mounted (a few ms a field), and it is styled again when it mounts."""
    widget.set_reactive(type(widget).compact, True)
    widget.set_class(True, "-textual-compact", update=False)
