"""What the messenger hands to the TUI and the CLI: decrypted, ready-to-show records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from boxtui.core.wire import BoxView, EventView, IdentityView, SavedFile
from boxtui.crypto import FileMetadata

from .describe import describe_event, summary_line

__all__ = [
    "AccessChange",
    "AccessRule",
    "BatchResult",
    "BoxSummary",
    "SavedEntry",
    "SearchResult",
    "TimelineEntry",
    "describe_event",
    "CANNOT_DECRYPT",
]

#: The error of a message this device cannot open (wrong key, damaged ciphertext).
CANNOT_DECRYPT = "cannot decrypt"

RestrictionType = Literal["identifier", "email_domain"]

_set_fields = object.__setattr__


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
    #: Queued in the outbox, not yet acknowledged by the server (``event.id`` is
    #: ``pending:<local id>``); :attr:`error` says why it is held, if it is.
    pending: bool = False

    def __init__(
        self,
        event: EventView,
        text: str | None = None,
        file: FileMetadata | None = None,
        error: str | None = None,
        pending: bool = False,
    ) -> None:
        # One entry per message of every page opened: the generated frozen __init__
        # sets each field through object.__setattr__, a third of the Python cost of
        # opening a message (the profile of ``benchmarks/client.py --only decrypt``).
        _set_fields(self, "__dict__", {"event": event, "text": text, "file": file, "error": error, "pending": pending})

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
        return summary_line(
            deleted=self.deleted,
            error=self.error,
            file_name=None if self.file is None else self.file.file_name,
            text=self.text,
            system=self.system_text,
        )


@dataclass(frozen=True)
class SearchResult:
    """A stored message matching a search: the entry, its box's title, and the snippet
    as ``[(text, is_match), …]`` (never markup)."""

    entry: TimelineEntry
    box_title: str
    snippet: list[tuple[str, bool]]


@dataclass(frozen=True)
class BoxSummary:
    """A box in the list: the box, a one-line preview of its last event, unread count."""

    box: BoxView
    preview: str
    unread: int
    #: False for a box this identity left or was removed from: its stored history is
    #: kept, read-only.
    member: bool = True


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
