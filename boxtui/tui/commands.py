"""The command palette (ctrl+p): every action of the app, and boxes by name (fuzzy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from .safe_text import clean_name

#: (palette text, help, action name on the main screen)
MAIN_ACTIONS = [
    ("New box", "Create a box", "new_box"),
    ("Join a box", "Paste an invitation link", "join"),
    ("Invitation link", "Show, copy or rotate the open box's link", "invitation"),
    ("Members", "Who is in the open box", "members"),
    ("Access rules", "Who may join the open box (admin)", "access"),
    ("Upload a file", "Send a file to the open box", "upload"),
    ("Import an e-mail", "Post an .eml file to the open box, encrypted here", "import_email"),
    ("Cancel file transfers", "Stop the uploads and downloads under way (nothing is kept)", "cancel_transfers"),
    ("Saved files", "Your saved files", "saved_files"),
    ("Find a box", "Filter the box list", "filter"),
    ("Search all boxes", "Find stored messages in every box", "search_all"),
    ("Search this box", "Find stored messages in the open box (/)", "search_box"),
    ("Fetch the whole history", "Store all of the open box's older messages here, so search covers them", "backfill"),
    ("Close or reopen the box", "A closed box is read-only (admin)", "toggle_lifecycle"),
    ("Public or limited", "Let anyone with the link join, or only the access rules (admin)", "toggle_access_mode"),
    ("Leave the box", "Leave the open box", "leave_box"),
    ("Delete the box", "Delete the open box for everyone (admin)", "delete_box"),
]

#: (palette text, help, action name on the timeline), offered when it applies to the selected event
TIMELINE_ACTIONS = [
    ("Reply", "Reply to the selected message", "reply"),
    ("Edit message", "Edit the selected message (your own)", "edit"),
    ("Delete message", "Delete the selected message", "delete"),
    ("Download file", "Download and decrypt the selected file", "download"),
    ("Save file", "Keep the selected file in your saved files", "save"),
    ("Forward", "Share the selected message into other boxes", "forward"),
    ("Copy text", "Copy the selected message to the clipboard", "copy"),
    ("Read message", "The selected message full-screen: scroll, / search, y copy", "open"),
]

#: (palette text, help, action name on the app)
APP_ACTIONS = [
    ("Settings", "Server URL, theme, key overrides", "settings"),
    ("Help: keys", "Every key binding and its id", "help"),
    ("Log out", "End this session", "logout"),
]


class BoxCommands(Provider):
    """Actions and ``Open box: <title>`` hits for the main screen."""

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        from .screens.main import MainScreen

        screen = self.screen
        if isinstance(screen, MainScreen):
            for row in screen.box_list.rows:
                yield f"Open box: {clean_name(row.title)}", "Switch to this box", partial(screen.open_box, row.box_id)
            for text, help_text, action in MAIN_ACTIONS:
                yield text, help_text, getattr(screen, f"action_{action}")
            timeline = screen.timeline
            if screen.current_box_id:
                for text, help_text, action in TIMELINE_ACTIONS:
                    if timeline.check_action(action, ()):
                        yield text, help_text, getattr(timeline, f"action_{action}")
            yield from ((text, help_text, getattr(self.app, f"action_{action}")) for text, help_text, action in APP_ACTIONS)
        else:
            yield "Help: keys", "Every key binding and its id", self.app.action_help  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for text, help_text, callback in self._commands():
            yield DiscoveryHit(Content(text), callback, text=text, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)
