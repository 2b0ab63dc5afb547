"""Small modal dialogs; each is a ``ModalScreen[T]`` that dismisses with its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, SelectionList, Static
from textual.widgets.selection_list import Selection

from boxtui.client.errors import Forbidden
from boxtui.core.wire import BoxView
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessRule

from .feedback import call_on_app_thread, describe_error, notify_error, reported

#: ``upload(path, progress)`` where ``progress(done, total)`` may be called from any thread.
UploadFunction = Callable[[Path, Callable[[int, int], None]], Awaitable[Any]]


class Dialog(ModalScreen):
    """Base of the dialogs: Escape cancels (dismisses with None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


def _buttons(*buttons: Button) -> Horizontal:
    return Horizontal(*buttons, classes="dialog-buttons")


class ConfirmDialog(Dialog):
    """Ask a yes/no question; dismisses with True or False."""

    def __init__(self, question: str, confirm: str = "Yes", *, danger: bool = True) -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.question), id="confirm-question")
            yield _buttons(
                Button(self.confirm_label, variant="error" if self.danger else "primary", id="confirm-yes"),
                Button("Cancel", id="confirm-no"),
            )

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
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


def make_public_question(title: str) -> str:
    """The question asked before a box becomes public."""
    return (
        f"Make “{title}” public? Anyone who has its invitation link can then join and read it, "
        "whatever the access rules say."
    )


def who_can_join(box: BoxView, rules: list[AccessRule] | None) -> str:
    """Who the box's invitation link lets in; ``rules`` None when they cannot be read
    (not the admin)."""
    if box.access_mode == "public":
        return "Public: anyone who has this link can join the box and read it."
    if rules is None:
        return "Limited: only people the box's access rules name can join with this link (its admin sets them)."
    if not rules:
        return (
            "Limited, and no access rules yet: nobody can join with this link so far. "
            "Make the box public, or add a rule for each person (or their e-mail domain)."
        )
    names = [r.value if r.restriction_type == "identifier" else f"anyone @{r.value}" for r in rules]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"Limited: only these can join with this link: {shown}."


class InvitationDialog(Dialog):
    """Show a box's invitation link and who it lets in; copy it (OSC 52) or rotate it
    (old links stop working). In a limited box its admin can make the box public
    (asked first) or open the access rules from here. Dismisses with the box as it
    now is when it was made public here, else None."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="invitation.copy"),
        Binding("r", "rotate", "Rotate", id="invitation.rotate"),
        Binding("p", "make_public", "Make public", id="invitation.make_public"),
        Binding("a", "add_rules", "Add rules", id="invitation.add_rules"),
    ]

    def __init__(self, messenger: Messenger, box_id: str, title: str) -> None:
        super().__init__()
        self.messenger = messenger
        self.box_id = box_id
        self.box_title = title
        self.link: str | None = None
        self.box: BoxView | None = None
        #: The access rules, when this user (the admin) can read them.
        self.rules: list[AccessRule] | None = None
        self.made_public = False

    def action_cancel(self) -> None:
        self.dismiss(self.box if self.made_public else None)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(f"Invitation to {self.box_title}"), classes="dialog-title")
            yield Static("Loading…", id="invitation-link", markup=False)
            yield Static("", id="invitation-who", classes="dialog-help", markup=False)
            yield _buttons(
                Button("Copy", variant="primary", id="invitation-copy"),
                Button("Rotate", variant="warning", id="invitation-rotate"),
                Button("Make public", id="invitation-public"),
                Button("Add rules…", id="invitation-rules"),
                Button("Close", id="invitation-close"),
            )

    def on_mount(self) -> None:
        self._show_buttons()
        self.load_link()

    @property
    def is_admin(self) -> bool:
        identity = self.messenger.identity
        return self.box is not None and identity is not None and self.box.creator.id == identity.id

    @property
    def can_open_up(self) -> bool:
        """Whether "make public" and "add rules" apply: the admin, in a limited box."""
        return self.is_admin and self.box is not None and self.box.access_mode != "public"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("make_public", "add_rules"):
            return self.can_open_up
        if action == "rotate":
            return self.is_admin
        return True

    def _show_buttons(self) -> None:
        self.query_one("#invitation-public", Button).display = self.can_open_up
        self.query_one("#invitation-rules", Button).display = self.can_open_up
        self.query_one("#invitation-rotate", Button).display = self.is_admin
        self.refresh_bindings()

    @work(exclusive=True, group="invitation")
    @reported("Cannot show the invitation link")
    async def load_link(self) -> None:
        link, box = await asyncio.gather(self.messenger.invitation_link(self.box_id), self.messenger.get_box(self.box_id))
        self.box = box
        self.rules = None
        if self.can_open_up:
            try:
                self.rules = await self.messenger.accesses(self.box_id)
            except Forbidden:  # a code login (ACR 1) cannot read them
                self.rules = None
        self._show(link)
        self.query_one("#invitation-who", Static).update(who_can_join(box, self.rules))
        self._show_buttons()

    def _show(self, link: str) -> None:
        self.link = link
        self.query_one("#invitation-link", Static).update(link)

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

    @on(Button.Pressed, "#invitation-public")
    def action_make_public(self) -> None:
        if self.can_open_up:
            self.app.push_screen(ConfirmDialog(make_public_question(self.box_title), "Make public"), self._public_confirmed)

    def _public_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self.make_public()

    @work(exclusive=True, group="invitation")
    @reported("Cannot make the box public")
    async def make_public(self) -> None:
        await self.messenger.set_access_mode(self.box_id, public=True)
        self.made_public = True
        self.notify("Anyone with the link can now join.")
        self.load_link()

    @on(Button.Pressed, "#invitation-rules")
    def action_add_rules(self) -> None:
        from .access import AccessManagerScreen

        if self.can_open_up and self.box is not None:
            self.app.push_screen(AccessManagerScreen(self.messenger, self.box), lambda _: self.load_link())

    @on(Button.Pressed, "#invitation-close")
    def _close(self) -> None:
        self.action_cancel()


class UploadDialog(Dialog):
    """Ask for a local file and upload it with a progress bar; dismisses with the result."""

    def __init__(self, title: str, upload: UploadFunction) -> None:
        super().__init__()
        self.dialog_title = title
        self.upload = upload

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(self.dialog_title), classes="dialog-title")
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
            self.query_one("#upload-error", Static).update(f"No such file: {path}")
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
            self.query_one("#upload-error", Static).update(describe_error(exc))
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
            yield SelectionList[str](*(Selection(Text(title), box_id) for box_id, title in self.boxes), id="forward-targets")
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
