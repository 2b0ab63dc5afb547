"""Small modal dialogs; each is a :class:`~.modal.BoxModal` that dismisses with its answer.

Confirmations take ``y`` (or Enter on the confirm button) and ``n``/Escape; a dangerous
one starts on its Cancel button, so a stray Enter never deletes anything.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from boxtui.client.errors import Forbidden
from boxtui.core.wire import BoxView
from boxtui.messenger.downloads import safe_file_name
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessRule
from boxtui.messenger.profile import Profile, ProfileError

from ..safe_text import clean_name, clean_text
from ..widgets.path_input import PathCandidates, PathInput, shown_name
from ..widgets.transfers import TransfersArea
from .feedback import describe_error, notify_error, reported
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

    DEFAULT_CSS = """
    InvitationDialog .dialog-buttons Button { min-width: 0; width: auto; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="dialog.cancel"),  # nothing to cancel: the button says Close
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
            yield Label(Text(f"Invitation to {clean_name(self.box_title)}"), classes="dialog-title")
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
        self.query_one("#invitation-link", Static).update(clean_text(link))

    @on(Button.Pressed, "#invitation-copy")
    def action_copy(self) -> None:
        if self.link:
            self.app.copy_to_clipboard(self.link)
            self.notify("Invitation link copied to the clipboard.")

    def _ask(self, question: str, verb: str, then: Callable[[], object]) -> None:
        self.app.push_screen(ConfirmDialog(question, verb), lambda yes: then() if yes else None)

    @on(Button.Pressed, "#invitation-rotate")
    def action_rotate(self) -> None:
        question = "Make a new link? The current link stops working for people who have not joined yet."
        self._ask(question, "Rotate", self.rotate_link)

    @work(exclusive=True, group="invitation")
    @reported("Cannot rotate the invitation link")
    async def rotate_link(self) -> None:
        self._show(await self.messenger.rotate_invitation(self.box_id))
        self.notify("New invitation link made; the old one no longer works.")

    @on(Button.Pressed, "#invitation-public")
    def action_make_public(self) -> None:
        if self.can_open_up:
            self._ask(make_public_question(self.box_title), "Make public", self.make_public)

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


def check_upload_path(raw: str) -> tuple[Path | None, str]:
    """(the file to upload, "") or (None, why it cannot be uploaded)."""
    if not raw.strip():
        return None, "Type the path of a file (Tab completes)."
    path = Path(raw.strip()).expanduser()
    shown = shown_name(raw.strip())
    try:
        if path.is_dir():
            return None, f"{shown} is a folder: upload a file (Tab lists what is in it)."
        if not path.exists():
            return None, f"No such file: {shown}"
        if not path.is_file():
            return None, f"{shown} is not a regular file (a device, a pipe or a socket)."
        if not os.access(path, os.R_OK):
            return None, f"{shown} cannot be read (permission denied)."
    except OSError as exc:
        return None, f"{shown}: {exc.strerror or exc}"
    return path, ""


class UploadDialog(Dialog):
    """Ask for a local file (Tab completes the path) and send it, with its progress,
    speed and time left; dismisses with the result. Escape or Cancel stops an upload
    under way: nothing is kept on the server."""

    def __init__(
        self, title: str, upload: UploadFunction, *, verb: str = "Upload", done: str = "Uploaded {name}.", placeholder: str = "Path of the file"
    ) -> None:
        super().__init__()
        self.dialog_title = title
        self.upload = upload
        self.verb = verb
        self.done_text = done
        self.placeholder = placeholder
        self.uploading: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(clean_text(self.dialog_title, single_line=True)), classes="dialog-title")
            yield PathInput(placeholder=f"{self.placeholder} (Tab completes)", id="upload-path")
            yield PathCandidates(id="upload-candidates")
            yield TransfersArea(id="upload-transfers")
            yield Static("", id="upload-error", classes="dialog-error", markup=False)
            yield _buttons(Button(self.verb, variant="primary", id="upload-ok"), Button("Cancel", id="upload-cancel"))

    @on(PathInput.Completed, "#upload-path")
    def _completed(self, event: PathInput.Completed) -> None:
        self.query_one(PathCandidates).show(event.completion)

    @on(Input.Changed, "#upload-path")
    def _typed(self) -> None:
        self.query_one("#upload-error", Static).update("")

    @on(Input.Submitted, "#upload-path")
    @on(Button.Pressed, "#upload-ok")
    def _start(self) -> None:
        if self.uploading is not None:
            return
        path, problem = check_upload_path(self.query_one("#upload-path", Input).value)
        self.query_one("#upload-error", Static).update(clean_text(problem))
        if path is None:
            return
        self.query_one(PathCandidates).show(None)
        self.query_one("#upload-ok", Button).disabled = True
        self.uploading = path
        self.run_upload(path)

    @work(exclusive=True, group="upload")
    async def run_upload(self, path: Path) -> None:
        transfers = self.query_one(TransfersArea)
        try:
            result = await transfers.run(f"↑ {path.name}", lambda progress: self.upload(path, progress), cancellable=False)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog and as a notification
            self.uploading = None
            self.query_one("#upload-error", Static).update(clean_text(describe_error(exc)))
            self.query_one("#upload-ok", Button).disabled = False
            notify_error(self, f"{self.verb} failed", exc)
            return
        self.uploading = None
        self.notify(self.done_text.format(name=path.name), markup=False)
        self.dismiss(result)

    @on(Button.Pressed, "#upload-cancel")
    def action_cancel(self) -> None:
        if self.uploading is not None:
            self.workers.cancel_group(self, "upload")
            self.notify(f"Cancelled: {self.uploading.name} was not sent.", markup=False)
        self.dismiss(None)


def save_path(raw: str, file_name: str) -> tuple[Path | None, str]:
    """Where a download goes, from what was typed: (a folder or a file path, "") or
    (None, why not). A path ending in ``/`` is a folder, created if missing."""
    if not raw.strip():
        return None, "Type a folder or a file path (Tab completes)."
    text = raw.strip()
    path = Path(text).expanduser()
    try:
        if path.is_dir():
            return path, ""  # the file keeps its name in there
        if text.endswith("/"):
            return path / safe_file_name(file_name), ""  # a folder to be made
        if path.exists() and not path.is_file():
            return None, f"{shown_name(str(path))} is not a regular file."
    except OSError as exc:
        return None, f"{shown_name(str(path))}: {exc.strerror or exc}"
    return path, ""


class SaveDialog(Dialog):
    """Ask where to save a download: the remembered folder and the file's name, editable
    (Tab completes). Dismisses with the path (a folder or a file) or None. An existing
    file is never replaced: ``name (1).ext`` is used instead."""

    def __init__(self, file_name: str, folder: Path) -> None:
        super().__init__()
        self.file_name = file_name
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(f"Save {shown_name(self.file_name)}"), classes="dialog-title")
            yield Static(
                "Where to save it: a folder, or a file path. Tab completes; an existing file is never replaced.",
                classes="dialog-help",
            )
            yield PathInput(_home_relative(self.folder / safe_file_name(self.file_name)), id="save-path")
            yield PathCandidates(id="save-candidates")
            yield Static("", id="save-error", classes="dialog-error", markup=False)
            yield _buttons(Button("Save", variant="primary", id="save-ok"), Button("Cancel", id="save-cancel"))

    @on(PathInput.Completed, "#save-path")
    def _completed(self, event: PathInput.Completed) -> None:
        self.query_one(PathCandidates).show(event.completion)

    @on(Input.Submitted, "#save-path")
    @on(Button.Pressed, "#save-ok")
    def _save(self) -> None:
        dest, problem = save_path(self.query_one("#save-path", Input).value, self.file_name)
        self.query_one("#save-error", Static).update(problem)
        if dest is not None:
            self.dismiss(dest)

    @on(Button.Pressed, "#save-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


def _home_relative(path: Path) -> str:
    """``~/Downloads/x`` rather than ``/home/ada/Downloads/x`` (shorter to read and edit)."""
    home = Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) and path != home else str(path)


def ask_where_to_save(screen: Screen, profile: Profile, file_name: str, then: Callable[[Path], Any]) -> None:
    """Ask where ``file_name`` goes (starting in the remembered download folder),
    remember the folder chosen, then call ``then(dest)``."""

    def chosen(dest: Path | None) -> None:
        if dest is None:
            return
        folder = dest if dest.is_dir() else dest.parent
        if str(folder) != profile.config.download_dir:
            profile.config.download_dir = str(folder)
            try:
                profile.save_config()
            except ProfileError as exc:
                screen.notify(f"The download folder is not remembered: {exc}", severity="warning", markup=False)
        then(dest)

    screen.app.push_screen(SaveDialog(file_name, profile.download_folder), chosen)


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
