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
from textual.widgets import Button, Input

from ..widgets.footer import BoxFooter

__all__ = ["BoxModal", "SHORT_HEIGHT", "fit_to_terminal", "set_compact_unmounted"]

#: Below this many rows dialogs use compact widgets.
SHORT_HEIGHT = 30
#: Below this many columns dialogs lose their frame.
SLIM_WIDTH = 60

T = TypeVar("T")


class BoxModal(ModalScreen[T]):
    """A modal dialog with its own footer; compact on short terminals."""

    # The dialogs' looks: here rather than in app.tcss, parsed when the first dialog
    # opens and not before the app's first frame. (The rows of buttons, shared with the
    # unlock screen, and ``BoxModal { align }`` stay in app.tcss.)
    DEFAULT_CSS = """

    .dialog {
        width: 60;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        padding: 1 2;
        border: thick $primary 80%;
        background: $surface;
        overflow-y: auto;
    }
    .dialog.wide { width: 90; }
    .dialog-title { text-style: bold; margin-bottom: 1; width: 100%; }
    .dialog-help { color: $text-muted; margin-bottom: 1; }
    .dialog-error { color: $error; height: auto; }
    .dialog DataTable { height: auto; max-height: 20; }

    #confirm-question { margin-bottom: 1; }
    #invitation-link { padding: 1; background: $boost; margin-bottom: 1; }
    #forward-targets { height: auto; max-height: 16; }
    #access-add-row { height: auto; margin-top: 1; }
    #access-kind { width: 20; }
    #access-value { width: 1fr; }
    #access-options-row { height: auto; }
    #access-auto-invite { width: 1fr; }
    #access-pending, #access-result { height: auto; margin-top: 1; }
    #access-result { color: $warning; }
    #settings-keymap { height: 5; }
    #settings-path { margin-top: 1; }
    #help-dialog { height: 90%; }
    #help-dialog #help-table { height: 1fr; max-height: 100%; }

    /* Short terminals (80×24): dialogs lose their air, not their content (BoxModal). */
    BoxModal.-short .dialog { padding: 0 1; max-height: 100%; }
    BoxModal.-short .dialog-title, BoxModal.-short .dialog-help { margin-bottom: 0; }
    BoxModal.-short #confirm-question { margin-bottom: 0; }
    BoxModal.-short #invitation-link { padding: 0 1; margin: 1 0; }
    BoxModal.-short .dialog DataTable { max-height: 10; }
    BoxModal.-short #access-pending, BoxModal.-short #access-result { margin-top: 0; }
    BoxModal.-short #settings-keymap { height: 4; }
    BoxModal.-short #settings-path { margin-top: 0; }
    BoxModal.-short #help-dialog { height: 100%; }
    BoxModal.-short .dialog ProgressBar { margin: 0; }
    BoxModal.-short .dialog-buttons Button { min-width: 10; }
    /* Very narrow terminals (40 columns): the frame goes too. */
    BoxModal.-slim .dialog { border: none; padding: 0 1; max-width: 100%; }
    """

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
    # Imported here: the login and unlock screens (the first frame) have none of these.
    from textual.widgets import Checkbox, Select, TextArea

    for widget in screen.query("Button, Input, Select, TextArea, Checkbox"):
        if isinstance(widget, (Button, Input, Select, TextArea, Checkbox)):
            widget.compact = short


def set_compact_unmounted(widget: Button | Input) -> None:
    """``widget.compact = True`` for a widget not mounted yet, without styling it on the
    spot: Textual's setter toggles the widget's class, which restyles even a widget that
    is not mounted (a few ms a field), and it is styled again when it mounts."""
    widget.set_reactive(type(widget).compact, True)
    widget.set_class(True, "-textual-compact", update=False)
