"""Untrusted text made safe to draw, and pasted text made safe to insert: one place for both.

Everything the app shows that another person (or a server) wrote — message texts,
display names, box titles, file names, previews, access values, error texts — goes
through :func:`clean_text` before it becomes a ``rich.text.Text`` or a strip, so no byte
of it can drive the terminal (escape sequences, bell, cursor moves), reorder the line
(bidi overrides and isolates) or hide in it (zero-width spaces and marks). Nothing of it
is ever parsed as markup either: callers build ``Text``/``Content``, or pass
``markup=False``.

:func:`clean_paste` is the same idea for what the terminal pastes into a text field:
colour codes of a pasted build log are dropped, other control characters are made
visible (``␇``), and a single-line field keeps every line, joined with spaces.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "clean_name", "clean_paste", "one_line", "has_unsafe_characters"]

#: C0/C1 control characters (but not newline and tab, handled apart), the line and
#: paragraph separators, and the bidi embeddings, overrides and isolates: drawn as "�".
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Invisible characters that carry no meaning in a terminal line but can hide in a name
#: (zero-width space, word joiners, bidi marks, byte-order mark): dropped. The zero-width
#: non-joiner stays (several scripts need it; it joins nothing).
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u061c\u2060-\u2064\ufeff\u180e]")
#: Emoji a zero-width joiner may join (pictographs, symbols, dingbats; a variation
#: selector or skin tone may come between).
_EMOJI = "\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
#: A zero-width joiner anywhere but between two emoji: dropped. Rich counts "w‍e" as one
#: cell (a grapheme cluster) where terminals and tmux draw two, so the rest of the line
#: and the border after it would be pushed one column out of place. Between emoji (a
#: family, a profession) Rich and terminals agree on one double-width glyph.
_LONE_JOINER = re.compile(f"(?<![{_EMOJI}\ufe0f])\u200d|\u200d(?![{_EMOJI}])")
#: ANSI escape sequences as a pasted terminal log carries them: CSI (colours, cursor),
#: OSC (titles, links; ended by BEL or ST) and two-character escapes.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI … final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC … BEL | ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC … ST
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def clean_text(text: str, *, single_line: bool = False) -> str:
    """Untrusted text made safe to draw: terminal escape sequences (the colours of a
    piped build log) dropped, tabs expanded, other control characters replaced by "�",
    invisible ones dropped; ``single_line`` also turns line breaks into spaces."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").expandtabs(4)
    if single_line:
        text = text.replace("\n", " ")
    return _CONTROL.sub(REPLACEMENT, _LONE_JOINER.sub("", _INVISIBLE.sub("", text)))


def clean_name(text: str, fallback: str = "(no name)") -> str:
    """A display name or title on one line, never empty (a name of only invisible
    characters would otherwise show as nothing at all)."""
    cleaned = " ".join(clean_text(text, single_line=True).split())
    return cleaned or fallback


def one_line(text: str, width: int | None = None) -> str:
    """Untrusted text squeezed onto one line (runs of whitespace become one space), cut
    to ``width`` characters with "…" when given."""
    line = " ".join(clean_text(text, single_line=True).split())
    if width is not None and len(line) > width:
        return line[: max(0, width - 1)] + "…"
    return line


def clean_paste(text: str, *, multiline: bool) -> str:
    """Pasted text made safe to insert, whole and in order.

    Escape sequences (a coloured log) are dropped; carriage returns become line breaks;
    other control characters become their visible symbols (U+2400…), so nothing
    pasted is silently lost or acts on the terminal. A single-line field gets every
    line, joined by one space (trailing line breaks dropped)."""
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if multiline:
        keep = "\n\t"
    else:
        text = " ".join(line.strip() for line in text.strip("\n").split("\n"))
        text = text.replace("\t", " ")
        keep = ""
    return "".join(_visible_control(char) if _is_control(char) and char not in keep else char for char in text)


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or bool(_CONTROL.match(char))


def _visible_control(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return REPLACEMENT


def has_unsafe_characters(text: str) -> bool:
    """Whether ``text`` holds a character :func:`clean_text` would not let through."""
    return bool(
        _CONTROL.search(text.replace("\n", "")) or _INVISIBLE.search(text) or _LONE_JOINER.search(text) or "\t" in text
    )
