"""One human line for an event that is not a message (shared by the timeline and the
CLI's store answers, so it imports nothing heavy)."""

from __future__ import annotations

from typing import Any

__all__ = ["describe_event", "describe", "summary_line"]


def summary_line(*, deleted: bool, error: str | None, file_name: str | None, text: str | None, system: str | None) -> str:
    """One line for an event: the text, ``[file] name``, a system line, or why it is hidden
    (the timeline's entries and the CLI's stored rows both say it this way)."""
    if deleted:
        return "[deleted]"
    if error:
        return f"[{error}]"
    if file_name is not None:
        return f"[file] {file_name}"
    if text is not None:
        return text
    return system or ""


def describe_event(event: Any) -> str:
    """A human line for an event that is not a message (never markup)."""
    return describe(event.type, event.sender.display_name, event.content)


def describe(type_: str, sender_name: str | None, content: dict[str, Any] | None) -> str:
    """:func:`describe_event` from the event's type, sender name and content."""
    who = sender_name or "someone"
    content = content or {}
    match type_:
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
            return f"[{type_}]"
