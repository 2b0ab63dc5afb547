"""Small modal dialogs; each is a :class:`~.modal.BoxModal` that dismisses with its answer.

Confirmations take ``y`` (or Enter on the confirm button) and ``n``/Escape; a dangerous
one starts on its Cancel button, so a stray Enter never deletes anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, ProgressBar, SelectionList, Static
from textual.widgets.selection_list import Selection

from boxtui.messenger.messenger import Messenger

from ..safe_text import clean_name, clean_text
from .feedback import call_on_app_thread, describe_error, notify_error, reported
from .modal import BoxModal

#: ``upload(path, progress)`` where ``progress(done, total)`` may be called from any thread.
UploadFunction = Callable[[Path, Callable[[int, int], None]], Awaitable[Any]]


class Dialog(BoxModal):
    """Base of the dialogs: Escape cancels (dismisses with None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


def _buttons(*buttons: Button) -> Horizontal:
    return Horizontal(*buttons, classes="dialog-buttons")


class ConfirmDialog(Dialog):
    """Ask a yes/no question; dismisses with True or False.

    ``y`` confirms and ``n`` or Escape cancels, whatever has the focus; Enter presses
    the focused button, which is Cancel for a ``danger``ous question and the confirm
    button otherwise. The footer shows ``y`` with the question's own verb.
    """

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes"),
        Binding("n,escape", "cancel", "Cancel", id="confirm.no"),
    ]

    def __init__(self, question: str, confirm: str = "Yes", *, danger: bool = True) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm
        self.danger = danger
        # The footer names the verb ("y Delete"), not a bare "Yes".
        bindings = self._bindings.key_to_bindings
        bindings["y"] = [replace(b, description=confirm) if b.action == "confirm" else b for b in bindings.get("y", [])]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(clean_text(self.question)), id="confirm-question")
            yield _buttons(
                Button(self.confirm_label, variant="error" if self.danger else "primary", id="confirm-yes"),
                Button("Cancel", id="confirm-no"),
            )

    def on_mount(self) -> None:
        self.query_one("#confirm-no" if self.danger else "#confirm-yes", Button).focus()

    @on(Button.Pressed, "#confirm-yes")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)


class NewBoxDialog(Dialog):
    """Ask for a new box's title (1–50 characters); dismisses with it or None."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("New box", classes="dialog-title")
            yield Input(placeholder="Title", max_length=50, id="new-box-title")
            yield Static("", id="new-box-error", classes="dialog-error", markup=False)
            yield _buttons(Button("Create", variant="primary", id="new-box-create"), Button("Cancel", id="new-box-cancel"))

    @on(Input.Submitted, "#new-box-title")
    @on(Button.Pressed, "#new-box-create")
    def _create(self) -> None:
        title = self.query_one("#new-box-title", Input).value.strip()
        if not title:
            self.query_one("#new-box-error", Static).update("The title cannot be empty.")
            return
        self.dismiss(title)

    @on(Button.Pressed, "#new-box-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class JoinDialog(Dialog):
    """Ask for an invitation link; dismisses with it or None."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Join a box", classes="dialog-title")
            yield Static("Paste the invitation link you were given.", classes="dialog-help")
            yield Input(placeholder="boxtui://… or https://…#…", id="join-link")
            yield _buttons(Button("Join", variant="primary", id="join-ok"), Button("Cancel", id="join-cancel"))

    @on(Input.Submitted, "#join-link")
    @on(Button.Pressed, "#join-ok")
    def _join(self) -> None:
        link = self.query_one("#join-link", Input).value.strip()
        if link:
            self.dismiss(link)

    @on(Button.Pressed, "#join-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class InvitationDialog(Dialog):
    """Show a box's invitation link; copy it (OSC 52) or rotate it (old links stop working)."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="invitation.copy"),
        Binding("r", "rotate", "Rotate", id="invitation.rotate"),
    ]

    def __init__(self, messenger: Messenger, box_id: str, title: str) -> None:
        super().__init__()
        self.messenger = messenger
        self.box_id = box_id
        self.box_title = title
        self.link: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(f"Invitation to {clean_name(self.box_title)}"), classes="dialog-title")
            yield Static("Loading…", id="invitation-link", markup=False)
            yield Static(
                "Anyone with this link can read the box once the access rules let them in.",
                classes="dialog-help",
            )
            yield _buttons(
                Button("Copy", variant="primary", id="invitation-copy"),
                Button("Rotate", variant="warning", id="invitation-rotate"),
                Button("Close", id="invitation-close"),
            )

    def on_mount(self) -> None:
        self.load_link()

    @work(exclusive=True, group="invitation")
    @reported("Cannot show the invitation link")
    async def load_link(self) -> None:
        self._show(await self.messenger.invitation_link(self.box_id))

    def _show(self, link: str) -> None:
        self.link = link
        self.query_one("#invitation-link", Static).update(clean_text(link))

    @on(Button.Pressed, "#invitation-copy")
    def action_copy(self) -> None:
        if self.link:
            self.app.copy_to_clipboard(self.link)
            self.notify("Invitation link copied to the clipboard.")

    @on(Button.Pressed, "#invitation-rotate")
    def action_rotate(self) -> None:
        question = "Make a new link? The current link stops working for people who have not joined yet."
        self.app.push_screen(ConfirmDialog(question, "Rotate"), self._rotate_confirmed)

    def _rotate_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self.rotate_link()

    @work(exclusive=True, group="invitation")
    @reported("Cannot rotate the invitation link")
    async def rotate_link(self) -> None:
        self._show(await self.messenger.rotate_invitation(self.box_id))
        self.notify("New invitation link made; the old one no longer works.")

    @on(Button.Pressed, "#invitation-close")
    def _close(self) -> None:
        self.dismiss(None)


class UploadDialog(Dialog):
    """Ask for a local file and upload it with a progress bar; dismisses with the result."""

    def __init__(self, title: str, upload: UploadFunction) -> None:
        super().__init__()
        self.dialog_title = title
        self.upload = upload

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(clean_text(self.dialog_title, single_line=True)), classes="dialog-title")
            yield Input(placeholder="Path of the file", id="upload-path")
            yield ProgressBar(total=None, id="upload-progress")
            yield Static("", id="upload-error", classes="dialog-error", markup=False)
            yield _buttons(Button("Upload", variant="primary", id="upload-ok"), Button("Cancel", id="upload-cancel"))

    def on_mount(self) -> None:
        self.query_one("#upload-progress", ProgressBar).display = False  # until the upload starts

    @on(Input.Submitted, "#upload-path")
    @on(Button.Pressed, "#upload-ok")
    def _start(self) -> None:
        raw = self.query_one("#upload-path", Input).value.strip()
        if not raw:
            return
        path = Path(raw).expanduser()
        if not path.is_file():
            self.query_one("#upload-error", Static).update(clean_text(f"No such file: {path}"))
            return
        self.query_one("#upload-error", Static).update("")
        self.query_one("#upload-ok", Button).disabled = True
        self.query_one("#upload-progress", ProgressBar).display = True
        self.run_upload(path)

    @work(exclusive=True, group="upload")
    async def run_upload(self, path: Path) -> None:
        bar = self.query_one("#upload-progress", ProgressBar)

        def progress(done: int, total: int) -> None:
            call_on_app_thread(self, bar.update, total=total or None, progress=done)

        try:
            result = await self.upload(path, progress)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog and as a notification
            self.query_one("#upload-error", Static).update(clean_text(describe_error(exc)))
            self.query_one("#upload-ok", Button).disabled = False
            notify_error(self, "Upload failed", exc)
            return
        self.notify(f"Uploaded {path.name}.", markup=False)
        self.dismiss(result)

    @on(Button.Pressed, "#upload-cancel")
    def _cancel(self) -> None:
        self.workers.cancel_group(self, "upload")
        self.dismiss(None)


class ForwardDialog(Dialog):
    """Pick the boxes to forward a message to; dismisses with their ids or None."""

    def __init__(self, boxes: list[tuple[str, str]]) -> None:
        super().__init__()
        self.boxes = boxes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Forward to…", classes="dialog-title")
            yield SelectionList[str](*(Selection(Text(clean_name(title)), box_id) for box_id, title in self.boxes), id="forward-targets")
            yield _buttons(Button("Forward", variant="primary", id="forward-ok"), Button("Cancel", id="forward-cancel"))

    @on(Button.Pressed, "#forward-ok")
    def _ok(self) -> None:
        chosen = list(self.query_one("#forward-targets", SelectionList).selected)
        if not chosen:
            self.notify("Pick at least one box (space toggles).", severity="warning")
            return
        self.dismiss(chosen)

    @on(Button.Pressed, "#forward-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
