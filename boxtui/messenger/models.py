"""What the messenger hands to the TUI and the CLI: decrypted, ready-to-show records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from boxtui.core.wire import BoxView, EventView, IdentityView, SavedFile
from boxtui.crypto import FileMetadata

__all__ = [
    "AccessChange",
    "AccessRule",
    "BatchResult",
    "BoxSummary",
    "SavedEntry",
    "TimelineEntry",
    "describe_event",
    "CANNOT_DECRYPT",
]

#: The error of a message this device cannot open (wrong key, damaged ciphertext).
CANNOT_DECRYPT = "cannot decrypt"

RestrictionType = Literal["identifier", "email_domain"]


@dataclass(frozen=True)
class TimelineEntry:
    """One event as the user sees it.

    ``text`` is the decrypted text of a ``msg.text``; ``file`` the decrypted metadata
    of a ``msg.file``; ``error`` says why a message could not be opened. A deleted
    message has all three None and :attr:`deleted` True. Other events have
    :attr:`system_text`.
    """

    event: EventView
    text: str | None = None
    file: FileMetadata | None = None
    error: str | None = None

    @property
    def deleted(self) -> bool:
        return bool(self.event.content and "deleted" in self.event.content)

    @property
    def edited(self) -> bool:
        return self.event.last_edited_at is not None

    @property
    def is_message(self) -> bool:
        return self.event.type in ("msg.text", "msg.file")

    @property
    def system_text(self) -> str | None:
        """A line for a non-message event (join, leave, state change, …)."""
        return None if self.is_message else describe_event(self.event)

    @property
    def summary(self) -> str:
        """One line: the text, ``[file] name``, a system line, or the reason it is hidden."""
        if self.deleted:
            return "[deleted]"
        if self.error:
            return f"[{self.error}]"
        if self.file is not None:
            return f"[file] {self.file.file_name}"
        if self.text is not None:
            return self.text
        return self.system_text or ""


def describe_event(event: EventView) -> str:
    """A human line for an event that is not a message (never markup)."""
    who = event.sender.display_name or "someone"
    content = event.content or {}
    match event.type:
        case "create":
            return f"{who} created the box"
        case "member.join":
            return f"{who} joined"
        case "member.leave":
            return f"{who} left"
        case "member.kick":
            kicker = content.get("kicker") or {}
            by = kicker.get("display_name") if isinstance(kicker, dict) else None
            return f"{who} was removed" + (f" by {by}" if by else "")
        case "state.lifecycle":
            return f"{who} {'closed' if content.get('state') == 'closed' else 'reopened'} the box"
        case "state.access_mode":
            mode = "public (anyone with the link)" if content.get("value") == "public" else "limited"
            return f"{who} made the box {mode}"
        case "state.key_share":
            return f"{who} renewed the invitation link"
        case "access.add":
            return f"{who} allowed {content.get('value', '?')}"
        case "access.rm":
            return f"{who} removed an access rule"
        case "msg.edit":
            return f"{who} edited a message"
        case "msg.delete":
            return f"{who} deleted a message"
        case _:
            return f"[{event.type}]"


@dataclass(frozen=True)
class BoxSummary:
    """A box in the list: the box, a one-line preview of its last event, unread count."""

    box: BoxView
    preview: str
    unread: int


@dataclass(frozen=True)
class AccessRule:
    """An active ``access.add`` of a box (``id`` is that event's id: remove by it)."""

    id: str
    restriction_type: str
    value: str
    auto_invite: bool = False


@dataclass(frozen=True)
class AccessChange:
    """A rule to add in an access batch; ``auto_invite`` sends the box key to the invitee."""

    restriction_type: RestrictionType
    value: str
    auto_invite: bool = False


@dataclass(frozen=True)
class BatchResult:
    """What an access batch did: the events written, who was removed from the box,
    the e-mails asked to be auto-invited that have no account yet (their rule was
    added plainly: they join with the link once signed up), and whether the
    invitation link was renewed (it is, whenever a rule is removed)."""

    created: list[EventView] = field(default_factory=list)
    kicked: list[IdentityView] = field(default_factory=list)
    not_invited: list[str] = field(default_factory=list)
    link_rotated: bool = False


@dataclass(frozen=True)
class SavedEntry:
    """A saved file with its metadata opened (or the reason it could not be)."""

    saved: SavedFile
    meta: FileMetadata | None
    error: str | None = None
