"""Messages that travel between screens (widget messages are nested in their widgets)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class SessionStarted(Message):
    """Logged in (or resumed) and the key store is unlocked: show the boxes."""

    def __init__(self, messenger: Any) -> None:
        super().__init__()
        self.messenger = messenger


class SessionEnded(Message):
    """Logged out, or the server no longer accepts the session: back to the login."""

    def __init__(self, reason: str = "") -> None:
        super().__init__()
        self.reason = reason


class OpenBox(Message):
    """Show this box in the main screen (posted by scripts and other screens)."""

    def __init__(self, box_id: str) -> None:
        super().__init__()
        self.box_id = box_id

