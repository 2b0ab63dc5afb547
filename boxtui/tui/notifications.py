"""Telling the user about new messages in a terminal, over SSH and through tmux.

No desktop library is involved: everything is bytes the terminal understands, which
travel over SSH like the rest of the screen.

- the bell (``BEL``): every terminal, and tmux marks the window (``monitor-bell``);
- a desktop notification through ``OSC 777;notify;title;body`` (foot, ghostty, WezTerm,
  rxvt-unicode, VTE terminals such as GNOME Terminal and Tilix) and ``OSC 9;text``
  (iTerm2, Windows Terminal, WezTerm, kitty). A terminal that knows neither ignores them.
- Inside tmux (``$TMUX`` set) the OSC sequences are wrapped in tmux's passthrough
  (``ESC P tmux; … ESC \\``, every ESC doubled); tmux forwards them only with
  ``set -g allow-passthrough on`` (README). The bell needs no wrapping: tmux passes it
  on by itself (``bell-action``).

Names and texts come from other people: :func:`safe_field` keeps only printable
characters (no ESC, BEL or other control that could end the sequence early and drive
the terminal), no ``;`` (the field separator of OSC 777) and a bounded length.

Levels, per box, kept in the profile's ``config.toml`` (``[notifications]``):
``all`` (every message from someone else), ``mentions`` (only messages naming you with
``@name``), ``none``. One's own messages never notify.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping

from .safe_text import clean_text

__all__ = [
    "LEVELS",
    "DEFAULT_LEVEL",
    "TerminalNotifier",
    "desktop_notification",
    "mention_pattern",
    "safe_field",
    "should_notify",
    "tmux_passthrough",
]

LEVELS = ("all", "mentions", "none")
DEFAULT_LEVEL = "all"
LEVEL_HELP = {
    "all": "every new message from someone else",
    "mentions": "only messages that mention you (@name)",
    "none": "never (the unread badge still counts)",
}
MESSAGE_TYPES = frozenset({"msg.text", "msg.file"})

BEL = "\a"
ESC = "\x1b"
ST = ESC + "\\"


def safe_field(text: str, limit: int) -> str:
    """Untrusted text fit for one field of an OSC sequence: one line, printable only,
    no ``;``, at most ``limit`` characters (cut with "…")."""
    line = " ".join(clean_text(text, single_line=True).split()).replace(";", ",")
    line = "".join(char for char in line if char.isprintable())
    return line if len(line) <= limit else line[: max(0, limit - 1)] + "…"


def tmux_passthrough(sequence: str) -> str:
    """``sequence`` wrapped so tmux hands it to the terminal it runs in."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"


def desktop_notification(title: str, body: str, *, tmux: bool = False) -> str:
    """The bytes asking the terminal for a desktop notification (OSC 777 and OSC 9)."""
    title, body = safe_field(title, 80), safe_field(body, 200)
    sequences = [f"{ESC}]777;notify;{title};{body}{BEL}", f"{ESC}]9;{title}: {body}{BEL}"]
    if tmux:
        sequences = [tmux_passthrough(sequence) for sequence in sequences]
    return "".join(sequences)


def mention_pattern(display_name: str) -> re.Pattern[str] | None:
    """What counts as mentioning this person: ``@`` and their name (as shown, without
    its spaces, or its first word), any case, not inside a longer word."""
    name = " ".join(clean_text(display_name, single_line=True).split())
    if not name:
        return None
    forms = sorted({name, name.replace(" ", ""), name.split()[0]}, key=len, reverse=True)
    names = "|".join(re.escape(form) for form in forms)
    return re.compile(rf"(?<![\w@])@(?:{names})(?![\w])", re.IGNORECASE)


def level_of(levels: Mapping[str, str], box_id: str) -> str:
    level = levels.get(box_id, DEFAULT_LEVEL)
    return level if level in LEVELS else DEFAULT_LEVEL


def should_notify(*, event_type: str, own: bool, level: str, mentioned: bool, seen: bool) -> bool:
    """A new event deserves the bell and a desktop notification: a message from someone
    else, allowed by the box's level, that the user is not looking at (``seen``: its
    box is on screen in a focused terminal)."""
    if own or seen or event_type not in MESSAGE_TYPES:
        return False
    return level == "all" or (level == "mentions" and mentioned)


class TerminalNotifier:
    """Rings the bell and asks for a desktop notification through ``write`` (the
    terminal driver's), at most once per ``interval`` seconds (a burst of messages,
    such as a catch-up after a reconnection, rings once)."""

    def __init__(
        self,
        write: Callable[[str], object],
        *,
        tmux: bool | None = None,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.tmux = bool(os.environ.get("TMUX")) if tmux is None else tmux
        self.interval = interval
        self.clock = clock
        self._last: float | None = None

    def notify(self, title: str, body: str) -> bool:
        """Bell and notification now, unless one went out less than ``interval`` ago."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        self.write(BEL + desktop_notification(title, body, tmux=self.tmux))
        return True
