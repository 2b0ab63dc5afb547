"""Settings kept in the profile's ``config.toml``: server URL, theme, key overrides."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from boxtui.messenger.profile import Profile

from .feedback import notify_error
from .modal import BoxModal

KEYMAP_HELP = "One override per line: binding id = keys (comma-separated). The help screen (f1) lists the ids."


def parse_keymap(text: str) -> tuple[dict[str, str], list[str]]:
    """``id = keys`` lines into a mapping, and the lines that are not of that form."""
    keymap: dict[str, str] = {}
    bad: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        binding_id, sep, keys = line.partition("=")
        binding_id, keys = binding_id.strip().strip('"'), keys.strip().strip('"')
        if not sep or not binding_id or not keys:
            bad.append(line)
        else:
            keymap[binding_id] = keys
    return keymap, bad


def format_keymap(keymap: dict[str, str]) -> str:
    return "\n".join(f"{binding_id} = {keys}" for binding_id, keys in sorted(keymap.items()))


class SettingsScreen(BoxModal[bool]):
    """Edit and save the profile's config; dismisses with True when saved."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="settings.cancel"),
        Binding("ctrl+s", "save", "Save", id="settings.save", priority=True),
    ]

    def __init__(self, profile: Profile, known_ids: set[str], current_server: str) -> None:
        super().__init__()
        self.profile = profile
        self.known_ids = known_ids
        self.current_server = current_server

    def compose(self) -> ComposeResult:
        config = self.profile.config
        themes = sorted(self.app.available_themes)
        with Vertical(classes="dialog wide", id="settings-dialog"):
            yield Label("Settings", classes="dialog-title")
            yield Label("Server URL (empty: a local server on this machine)")
            yield Input(config.server_url or "", placeholder=f"now: {self.current_server}", id="settings-server")
            yield Label("Theme")
            yield Select([(name, name) for name in themes], value=self.app.theme if self.app.theme in themes else Select.BLANK, id="settings-theme")
            yield Label("Key overrides")
            yield Static(KEYMAP_HELP, classes="dialog-help")
            yield TextArea(format_keymap(config.keymap), id="settings-keymap", show_line_numbers=False)
            yield Static(Text(f"Saved in {self.profile.config_path}", style="dim"), id="settings-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="settings-save")
                yield Button("Cancel", id="settings-cancel")

    @on(Button.Pressed, "#settings-save")
    def action_save(self) -> None:
        server = self.query_one("#settings-server", Input).value.strip()
        if server and not server.startswith(("http://", "https://")):
            self.notify("The server URL starts with http:// or https://.", severity="warning")
            return
        keymap, bad = parse_keymap(self.query_one("#settings-keymap", TextArea).text)
        unknown = sorted(set(keymap) - self.known_ids)
        if bad or unknown:
            problems = [f"not “id = keys”: {line}" for line in bad] + [f"no binding has the id {i}" for i in unknown]
            self.notify("\n".join(problems), title="Key overrides", severity="warning", markup=False)
            return
        theme = self.query_one("#settings-theme", Select).value
        config = self.profile.config
        server_changed = (server or None) != config.server_url
        self.profile.server_url = server or None
        config.theme = theme if isinstance(theme, str) else None
        config.keymap = keymap
        try:
            self.profile.save_config()
        except Exception as exc:  # noqa: BLE001 - e.g. a read-only config folder
            notify_error(self, "Settings not saved", exc)
            return
        if config.theme:
            self.app.theme = config.theme
        self.app.set_keymap(keymap)
        message = "Settings saved."
        if server_changed:
            message += " The server change applies at the next start."
        self.notify(message)
        self.dismiss(True)

    @on(Button.Pressed, "#settings-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

