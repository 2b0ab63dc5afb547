"""Who is in a box: the creator (admin) first, then the members."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from boxtui.core.wire import BoxView
from boxtui.messenger.messenger import Messenger

from ..safe_text import clean_name, one_line
from ..widgets.table import BoxTable
from .feedback import reported
from .modal import BoxModal


class MembersScreen(BoxModal[None]):
    """A table of the box's members; e-mails are shown only where the server reveals them."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="members.close")]

    def __init__(self, messenger: Messenger, box: BoxView) -> None:
        super().__init__()
        self.messenger = messenger
        self.box = box

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text(f"Members of {clean_name(self.box.title)}"), classes="dialog-title")
            yield Static("Loading…", id="members-count", markup=False)
            yield BoxTable(id="members-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Name", "E-mail", "Role")
        self.load()

    @work(exclusive=True, group="members")
    @reported("Cannot list the members")
    async def load(self) -> None:
        members = await self.messenger.members(self.box.id)
        table = self.query_one(DataTable)
        table.clear()
        for member in members:
            role = "admin" if member.id == self.box.creator.id else "member"
            table.add_row(Text(clean_name(member.display_name)), Text(one_line(member.identifier_value or "") or "—"), role, key=member.id)
        count = len(members)
        self.query_one("#members-count", Static).update(f"{count} member{'s' if count != 1 else ''}")
        table.focus()
