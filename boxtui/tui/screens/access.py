"""The admin's access manager: stage rule additions and removals, apply them as one batch.

The server applies a batch all or nothing (PROTOCOL §4.1) and kicks every member who
no longer matches a rule; the screen then lists who was removed.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from boxtui.core.wire import BoxView
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import AccessChange, AccessRule, BatchResult

from ..safe_text import clean_name, one_line
from ..widgets.table import BoxTable
from .feedback import reported
from .modal import BoxModal

KINDS = [("E-mail address", "identifier"), ("E-mail domain", "email_domain")]
KIND_LABEL = {"identifier": "e-mail", "email_domain": "domain"}


class RuleValueField(Input):
    """The rule value field: ``ctrl+a`` applies the batch here too (an ``Input`` would
    take it as "start of line", and Apply would do nothing while the field has focus),
    and the footer says so (a hidden binding here would hide the dialog's ``^a Apply``).
    ``home`` still goes to the start."""

    BINDINGS = [Binding("ctrl+a", "screen.apply", "Apply", id="access.apply")]


class RulesTable(BoxTable):
    """The rules; ``x`` (or Delete) marks the rule under the cursor for removal."""

    BINDINGS = [Binding("x,delete", "screen.toggle_remove", "Remove/keep", id="access.toggle_remove")]


class AccessManagerScreen(BoxModal[BatchResult | None]):
    """Current rules, staged changes, and the batch that applies them."""

    BINDINGS = [
        Binding("ctrl+a", "apply", "Apply", id="access.apply"),
        Binding("escape", "close", "Close", id="access.close"),
    ]

    def __init__(self, messenger: Messenger, box: BoxView) -> None:
        super().__init__()
        self.messenger = messenger
        self.box = box
        self.rules: list[AccessRule] = []
        self.staged_adds: list[AccessChange] = []
        self.staged_removals: set[str] = set()
        self.last_result: BatchResult | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="access-dialog"):
            yield Label(Text(f"Who may join {clean_name(self.box.title)}"), classes="dialog-title")
            yield Static(
                "Stage additions and removals, then apply them as one batch. "
                "Members no rule matches are removed.",
                classes="dialog-help",
            )
            yield RulesTable(id="access-rules", cursor_type="row")
            with Horizontal(id="access-add-row"):
                yield Select(KINDS, value="identifier", allow_blank=False, id="access-kind")
                yield RuleValueField(placeholder="alice@example.com or example.com", id="access-value")
            with Horizontal(id="access-options-row"):
                yield Checkbox("auto-invite", id="access-auto-invite")
                yield Button("Stage", id="access-stage")
            yield Static("", id="access-pending", markup=False)
            yield Static("", id="access-result", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="access-apply")
                yield Button("Close", id="access-close")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Kind", "Value", "Auto-invite", "Change")
        self.load()

    @work(exclusive=True, group="access")
    @reported("Cannot list the access rules")
    async def load(self) -> None:
        await self._fetch_rules()

    async def _fetch_rules(self) -> None:
        self.rules = await self.messenger.accesses(self.box.id)
        self._redraw()

    def _redraw(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for rule in self.rules:
            change = "remove" if rule.id in self.staged_removals else ""
            style = "strike dim" if change else ""
            table.add_row(
                KIND_LABEL.get(rule.restriction_type, rule.restriction_type),
                Text(one_line(rule.value), style=style),
                "yes" if rule.auto_invite else "",
                Text(change, style="bold red"),
                key=rule.id,
            )
        for index, change in enumerate(self.staged_adds):
            table.add_row(
                KIND_LABEL[change.restriction_type],
                Text(one_line(change.value)),
                "yes" if change.auto_invite else "",
                Text("add", style="bold green"),
                key=f"staged-{index}",
            )
        pending = len(self.staged_adds) + len(self.staged_removals)
        if pending:
            status = f"{pending} change{'s' if pending != 1 else ''} staged; Apply sends them as one batch."
        elif not self.rules:
            status = "No access rules yet. No changes staged."
        else:
            status = "No changes staged."
        self.query_one("#access-pending", Static).update(status)
        self.query_one("#access-apply", Button).disabled = not pending

    @on(Input.Submitted, "#access-value")
    @on(Button.Pressed, "#access-stage")
    def stage_add(self) -> bool:
        """Stage the rule in the form; False (and a warning) when it cannot be."""
        value = self.query_one("#access-value", Input).value.strip().lower()
        kind = str(self.query_one("#access-kind", Select).value)
        auto_invite = self.query_one("#access-auto-invite", Checkbox).value
        problem = _check_value(kind, value, auto_invite)
        if problem:
            self.notify(problem, severity="warning", markup=False)
            return False
        if any(r.restriction_type == kind and r.value == value and r.id not in self.staged_removals for r in self.rules) or any(
            c.restriction_type == kind and c.value == value for c in self.staged_adds
        ):
            self.notify(f"{value} is already allowed.", severity="warning", markup=False)
            return False
        self.staged_adds.append(AccessChange(kind, value, auto_invite))  # type: ignore[arg-type]
        self.query_one("#access-value", Input).value = ""
        self.query_one("#access-auto-invite", Checkbox).value = False
        self._redraw()
        return True

    def action_toggle_remove(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is None:
            return
        if key.startswith("staged-"):
            del self.staged_adds[int(key.removeprefix("staged-"))]
        elif key in self.staged_removals:
            self.staged_removals.discard(key)
        else:
            self.staged_removals.add(key)
        row = table.cursor_row
        self._redraw()
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    @on(Button.Pressed, "#access-apply")
    def action_apply(self) -> None:
        """Apply the staged changes; a value typed but not staged yet is staged first
        (ctrl+a from the value field must not leave it out)."""
        if self.query_one("#access-value", Input).value.strip() and not self.stage_add():
            return
        if self.staged_adds or self.staged_removals:
            self.query_one("#access-apply", Button).disabled = True
            self.apply_batch()
        else:
            self.notify("Nothing to apply: stage a rule (Enter) or mark one for removal (x) first.", markup=False)

    @work(exclusive=True, group="access")
    @reported("The access rules were not changed")
    async def apply_batch(self) -> None:
        try:
            result = await self.messenger.apply_access_batch(
                self.box.id, add=list(self.staged_adds), remove=sorted(self.staged_removals)
            )
        finally:
            self.query_one("#access-apply", Button).disabled = False
        self.last_result = result
        self.staged_adds.clear()
        self.staged_removals.clear()
        summary = batch_summary(result)
        self.query_one("#access-result", Static).update(summary)
        self.notify(summary, markup=False)
        await self._fetch_rules()

    @on(Button.Pressed, "#access-close")
    def action_close(self) -> None:
        self.dismiss(self.last_result)


def batch_summary(result: BatchResult) -> str:
    """What an applied batch did, in a sentence or three."""
    kicked = ", ".join(clean_name(person.display_name) for person in result.kicked)
    parts = [f"Applied. Removed from the box: {kicked}." if kicked else "Applied. Nobody was removed."]
    if result.not_invited:
        parts.append(
            f"No account yet for {', '.join(one_line(who) for who in result.not_invited)}: "
            "their rule lets them join with the link once they sign up."
        )
    if result.link_rotated:
        parts.append("The invitation link was renewed: the old one no longer works.")
    return " ".join(parts)


def _check_value(kind: str, value: str, auto_invite: bool) -> str | None:
    if not value:
        return "Enter an e-mail address or a domain."
    if kind == "identifier" and ("@" not in value or value.startswith("@") or value.endswith("@")):
        return "That does not look like an e-mail address."
    if kind == "email_domain":
        if "@" in value or "." not in value:
            return "Enter a domain such as example.com."
        if auto_invite:
            return "Auto-invite needs one e-mail address, not a domain."
    return None
