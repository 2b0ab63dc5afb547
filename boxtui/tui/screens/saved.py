"""Saved files: the user's own encrypted file vault (PROTOCOL §6; needs a password login)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.filesize import decimal
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static

from boxtui.core.timefmt import parse_time
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import SavedEntry

from ..widgets.transfers import TransferCancelled, TransfersArea
from .dialogs import ConfirmDialog, UploadDialog, ask_where_to_save
from .feedback import reported


class SavedFilesPanel(ModalScreen[None]):
    """Names, sizes and dates decrypted on this device; download, delete, upload."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="saved.close"),
        Binding("d", "download", "Download", id="saved.download"),
        Binding("delete,x", "delete", "Delete", id="saved.delete"),
        Binding("u", "upload", "Upload", id="saved.upload"),
    ]

    def __init__(self, messenger: Messenger) -> None:
        super().__init__()
        self.messenger = messenger
        self.entries: dict[str, SavedEntry] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="saved-dialog"):
            yield Label("Saved files", classes="dialog-title")
            yield Static("Loading…", id="saved-count", markup=False)
            yield DataTable(id="saved-table", cursor_type="row", zebra_stripes=True)
            yield TransfersArea(id="saved-transfers")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Download", variant="primary", id="saved-download")
                yield Button("Delete", variant="error", id="saved-delete")
                yield Button("Upload…", id="saved-upload")
                yield Button("Close", id="saved-close")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Size", "Saved")
        self.load()

    @work(exclusive=True, group="saved")
    @reported("Cannot list the saved files")
    async def load(self) -> None:
        entries = await self.messenger.list_saved()
        count = await self.messenger.count_saved()
        self.entries = {entry.saved.id: entry for entry in entries}
        table = self.query_one(DataTable)
        table.clear()
        for entry in entries:
            if entry.meta is not None:
                name, size = Text(entry.meta.file_name), decimal(entry.meta.file_size)
            else:
                name, size = Text(f"[{entry.error or 'cannot decrypt'}]", style="italic dim"), "?"
            when = parse_time(entry.saved.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
            table.add_row(name, size, when, key=entry.saved.id)
        self.query_one("#saved-count", Static).update(f"{count} saved file{'s' if count != 1 else ''}")
        table.focus()

    def _selected(self) -> SavedEntry | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            self.notify("No saved file selected.", severity="warning")
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.entries.get(key or "")

    @on(Button.Pressed, "#saved-download")
    def action_download(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        if entry.meta is None:
            self.notify("This file cannot be decrypted on this device.", severity="warning")
            return
        ask_where_to_save(self, self.messenger.profile, entry.meta.file_name, lambda dest: self.download(entry, dest))

    @work(group="saved-download")
    @reported("Download failed")
    async def download(self, entry: SavedEntry, dest: Path) -> None:
        assert entry.meta is not None
        try:
            saved = await self.query_one(TransfersArea).run(
                f"↓ {entry.meta.file_name}",
                lambda progress: self.messenger.download_saved(entry.saved.id, dest, progress=progress),
            )
        except TransferCancelled:
            self.notify(f"Download of {entry.meta.file_name} cancelled: nothing was saved.", markup=False)
            return
        self.notify(f"Downloaded to {saved}", markup=False)

    @on(Button.Pressed, "#saved-delete")
    def action_delete(self) -> None:
        entry = self._selected()
        if entry is None:
            return
        name = entry.meta.file_name if entry.meta else "this file"

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete(entry.saved.id)

        self.app.push_screen(ConfirmDialog(f"Remove {name} from your saved files?", "Delete"), answered)

    @work(group="saved-delete")
    @reported("Not deleted")
    async def delete(self, saved_id: str) -> None:
        await self.messenger.delete_saved(saved_id)
        self.notify("Removed from your saved files.")
        self.load()

    @on(Button.Pressed, "#saved-upload")
    def action_upload(self) -> None:
        async def upload(path: Path, progress: Any) -> Any:
            return await self.messenger.upload_saved(path, progress=progress)

        def done(result: Any) -> None:
            if result is not None:
                self.load()

        self.app.push_screen(UploadDialog("Add a file to your saved files", upload), done)

    @on(Button.Pressed, "#saved-close")
    def _close(self) -> None:
        self.dismiss(None)
