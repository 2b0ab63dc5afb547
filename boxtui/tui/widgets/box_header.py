"""The line above the timeline: box title, members count, who may join (public or
limited), closed, and the connection state."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

#: Realtime link states (the client's subscription states, plus "offline" when it gave up).
CONNECTION_LABELS = {
    "connecting": ("◌ connecting", "yellow"),
    "connected": ("● live", "green"),
    "reconnecting": ("◌ reconnecting", "yellow"),
    "closed": ("○ offline", "red"),
    "offline": ("○ offline", "red"),
}


class BoxHeader(Static):
    """Shows the open box; the texts come from the server or other users, never markup."""

    DEFAULT_CSS = """
    BoxHeader { height: 1; padding: 0 1; background: $panel; }
    """

    title: reactive[str] = reactive("", layout=False)
    members: reactive[int | None] = reactive(None)
    lifecycle: reactive[str] = reactive("")
    #: "public" (anyone with the link may join) or "limited" (only the access rules).
    access_mode: reactive[str] = reactive("")
    connection: reactive[str] = reactive("connecting")

    def render(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if self.title:
            line.append(self.title, style="bold")
            if self.members is not None:
                line.append(f"  ·  {self.members} member{'s' if self.members != 1 else ''}", style="dim")
            if self.access_mode:
                line.append(f"  ·  {self.access_mode}", style="yellow" if self.access_mode == "public" else "dim")
            if self.lifecycle == "closed":
                line.append("  ·  closed", style="bold red")
        else:
            line.append("No box open", style="dim")
        label, colour = CONNECTION_LABELS.get(self.connection, (self.connection, "dim"))
        pad = max(1, self.size.width - line.cell_len - len(label) - 2)
        line.append(" " * pad)
        line.append(label, style=colour)
        return line

    def show_box(self, title: str, members: int | None, lifecycle: str, access_mode: str = "") -> None:
        self.title, self.members, self.lifecycle, self.access_mode = title, members, lifecycle, access_mode

    def clear_box(self) -> None:
        self.title, self.members, self.lifecycle, self.access_mode = "", None, "", ""
