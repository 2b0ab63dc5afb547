"""Every key binding of the app, with its id (for remapping) and the keys now in force."""

from __future__ import annotations

from itertools import groupby

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from ..keymap import BindingRow
from ..widgets.table import BoxTable
from .modal import BoxModal


class HelpScreen(BoxModal[None]):
    """A table of keys, what they do and their binding ids, a heading row per place."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]

    def __init__(self, rows: list[BindingRow]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="help-dialog"):
            yield Label("Keys", classes="dialog-title")
            yield Static("ctrl+p opens the command palette: every action, and boxes by name.", classes="dialog-help")
            yield BoxTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Keys", "Does", "Id")
        for section, rows in groupby(self.rows, key=lambda row: row.section):
            table.add_row(Text(section, style="bold underline"), "", "")
            for row in rows:
                table.add_row(Text(row.keys), Text(row.description), Text(row.binding_id, style="dim"))
        table.focus()
