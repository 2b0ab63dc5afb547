"""RFC 3339 timestamps as the protocol writes them: UTC, microseconds, ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(dt: datetime) -> datetime:
    """``dt`` in UTC; a naive time (as SQLite hands them back) is read as UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def format_time(dt: datetime) -> str:
    return as_utc(dt).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 (``Z`` or offset; any fraction length) into an aware datetime."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.11 accepts up to 6 fraction digits; the seeds show nanoseconds.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        s = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    return as_utc(datetime.fromisoformat(s))
