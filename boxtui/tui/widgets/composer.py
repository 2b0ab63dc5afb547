"""The message composer: a multi-line text area that sends on Enter.

Enter sends; ``ctrl+j`` (and ``shift+enter`` where the terminal reports it) inserts a
newline; ``ctrl+g`` hands the draft to ``$EDITOR`` (as in Claude Code and Codex; ``ctrl+e``
stays "end of line", as in every readline); Escape cancels a reply or an edit. In a
closed box the composer is read-only and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from ..safe_text import one_line


@dataclass(frozen=True)
class ComposerTarget:
    """What the next send does besides posting: reply to, or replace, ``event_id``."""

    kind: str  # "reply" | "edit"
    event_id: str
    excerpt: str


class ComposerInput(TextArea):
    """The text area; Enter is "send", the newline binding inserts a line break."""

    BINDINGS = [
        Binding("enter", "send", "Send", id="composer.send"),
        Binding("ctrl+j,shift+enter", "newline", "Newline", id="composer.newline"),
        Binding("ctrl+g", "editor", "Editor", id="composer.editor"),
        Binding("escape", "cancel", "Cancel", show=False, id="composer.cancel"),
    ]

    class Send(Message):
        pass

    class Cancel(Message):
        pass

    class OpenEditor(Message):
        pass

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter" and "enter" in self.app._keymap.get("composer.send", "enter").split(","):
            # Keep TextArea from inserting a newline; the key bubbles on to the "send" binding.
            event.prevent_default()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("send", "newline", "editor") and self.read_only:
            return False
        return True

    def action_send(self) -> None:
        self.post_message(self.Send())

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def action_editor(self) -> None:
        self.post_message(self.OpenEditor())

    def action_cancel(self) -> None:
        self.post_message(self.Cancel())


class Composer(Vertical):
    """The target line ("Replying to …" / "Editing …") above the text area."""

    DEFAULT_CSS = """
    Composer { height: auto; max-height: 12; }
    Composer > #composer-target { height: auto; display: none; padding: 0 1; color: $text-muted; }
    Composer > #composer-target.-active { display: block; }
    Composer > ComposerInput { height: auto; min-height: 3; max-height: 10; }
    """

    class Submitted(Message):
        """The user sent the draft. ``target`` says whether it is a reply or an edit."""

        def __init__(self, text: str, target: ComposerTarget | None) -> None:
            super().__init__()
            self.text = text
            self.target = target

    class EditorRequested(Message):
        """The user wants the draft in ``$EDITOR``."""

        def __init__(self, draft: str) -> None:
            super().__init__()
            self.draft = draft

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target: ComposerTarget | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="composer-target", markup=False)
        yield ComposerInput(id="composer-input", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")

    @property
    def input(self) -> ComposerInput:
        return self.query_one(ComposerInput)

    @property
    def text(self) -> str:
        return self.input.text

    @text.setter
    def text(self, value: str) -> None:
        self.input.load_text(value)
        self.input.move_cursor(self.input.document.end)

    def reply_to(self, event_id: str, excerpt: str) -> None:
        self._set_target(ComposerTarget("reply", event_id, excerpt))
        self.input.focus()

    def edit(self, event_id: str, current_text: str) -> None:
        self._set_target(ComposerTarget("edit", event_id, one_line(current_text, 60)))
        self.text = current_text
        self.input.focus()

    def cancel_target(self) -> None:
        was_edit = self.target is not None and self.target.kind == "edit"
        self._set_target(None)
        if was_edit:
            self.text = ""

    def _set_target(self, target: ComposerTarget | None) -> None:
        self.target = target
        label = self.query_one("#composer-target", Static)
        if target is None:
            label.update("")
            label.remove_class("-active")
            return
        verb = "Replying to" if target.kind == "reply" else "Editing"
        line = Text(f"{verb}: ", style="bold")
        line.append(one_line(target.excerpt))
        line.append("  (esc cancels)", style="dim")
        label.update(line)
        label.add_class("-active")

    def on_composer_input_send(self, event: ComposerInput.Send) -> None:
        event.stop()
        text = self.text.strip("\n")
        if not text.strip():
            return
        self.post_message(self.Submitted(text, self.target))

    def on_composer_input_cancel(self, event: ComposerInput.Cancel) -> None:
        if self.target is not None:
            event.stop()
            self.cancel_target()

    def on_composer_input_open_editor(self, event: ComposerInput.OpenEditor) -> None:
        event.stop()
        self.post_message(self.EditorRequested(self.text))

    def set_read_only(self, read_only: bool) -> None:
        """A closed box takes no messages: the composer says so instead of failing on send."""
        field = self.input
        if field.read_only == read_only:
            return
        field.read_only = read_only
        field.placeholder = "This box is closed: it is read-only for everyone." if read_only else ""
        self.set_class(read_only, "-read-only")
        field.refresh_bindings()

    def restore(self, text: str, target: ComposerTarget | None) -> None:
        """Put back a draft that could not be sent, with its reply or edit target."""
        self._set_target(target)
        self.text = text

    def clear(self) -> None:
        """Empty the draft and forget the reply/edit target (after a successful send)."""
        self.input.clear()
        self._set_target(None)

