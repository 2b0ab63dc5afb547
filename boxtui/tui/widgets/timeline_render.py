"""What each timeline event says, as styled spans, and how those spans wrap.

Pure functions, no widget state: :class:`~boxtui.tui.widgets.timeline.BoxTimeline`
calls :func:`describe_entry` and :func:`wrap_spans` once per (event version, width)
and caches the result. Sentences of non-message events are the messenger's
(``TimelineEntry.system_text``). Everything shown comes from untrusted input
(message texts, display names, file names), so it only ever becomes plain span text:
control characters are replaced and nothing is parsed as markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from rich.cells import cell_len, get_character_cell_size
from rich.filesize import decimal

from boxtui.messenger.models import CANNOT_DECRYPT, TimelineEntry

from ..safe_text import clean_text

__all__ = [
    "Span",
    "clean_text",
    "describe_entry",
    "entry_snippet",
    "wrap_spans",
    "line_breaks",
    "highlight",
    "truncate_spans",
]

# Component class names (``BoxTimeline.COMPONENT_CLASSES``).
BODY = "timeline--body"
SYSTEM = "timeline--system"
UNDECRYPTABLE = "timeline--undecryptable"
DELETED = "timeline--deleted"
EDITED = "timeline--edited"
FILE = "timeline--file"
FILE_DETAILS = "timeline--file-details"
SAVED = "timeline--saved"
REPLY = "timeline--reply"
MENTION = "timeline--mention"

EDITED_MARK = "(edited)"
PENDING_MARK = "◷ sending…"
DELETED_TEXT = "message deleted"
SAVED_MARK = "★ saved"


class Span(NamedTuple):
    """A run of plain text and the component class that styles it."""

    text: str
    style: str


def entry_snippet(entry: TimelineEntry) -> str:
    """A one-line summary of a message, for reply quotes."""
    if entry.deleted:
        return DELETED_TEXT
    if entry.error is not None:
        return "message that cannot be decrypted"
    if entry.file is not None:
        return clean_text(entry.file.file_name, single_line=True)
    return " ".join(clean_text(entry.summary, single_line=True).split())


def describe_entry(entry: TimelineEntry, mention: re.Pattern[str] | None = None) -> list[Span]:
    """The body of an event as spans (may contain newlines; wrapped later); what
    ``mention`` matches in a message's text (the reader's ``@name``) stands out."""
    if entry.pending:  # in the outbox: what was written, and where it stands
        body = _describe_file(entry) if entry.file is not None else [Span(clean_text(entry.text or ""), BODY)]
        state = f"(not sent: {clean_text(entry.error, single_line=True)})" if entry.error else PENDING_MARK
        return [*body, Span(" " + state, EDITED)]
    kind = entry.event.type
    if entry.is_message:
        if entry.deleted:
            return [Span(DELETED_TEXT, DELETED)]
        if entry.error is not None:
            what = "file" if kind == "msg.file" else "message"
            reason = "" if entry.error == CANNOT_DECRYPT else f" ({clean_text(entry.error, single_line=True)})"
            return [Span(f"cannot decrypt this {what}{reason}", UNDECRYPTABLE)]
        if kind == "msg.file":
            return _describe_file(entry)
        spans = highlight(clean_text(entry.text or ""), mention)
        if entry.edited:
            spans.append(Span(" " + EDITED_MARK, EDITED))
        return spans
    return [Span(clean_text(entry.system_text or ""), SYSTEM)]


def highlight(text: str, pattern: re.Pattern[str] | None, style: str = BODY, found: str = MENTION) -> list[Span]:
    """``text`` as spans, what ``pattern`` matches styled ``found``."""
    if pattern is None:
        return [Span(text, style)]
    spans: list[Span] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            spans.append(Span(text[pos : match.start()], style))
        if match.end() > match.start():
            spans.append(Span(match.group(), found))
        pos = max(pos, match.end())
    if pos < len(text) or not spans:
        spans.append(Span(text[pos:], style))
    return spans


def _describe_file(entry: TimelineEntry) -> list[Span]:
    meta = entry.file
    if meta is None:
        return [Span("file (metadata not available)", UNDECRYPTABLE)]
    details = f"  {decimal(max(0, int(meta.file_size)))}"
    if meta.file_type:
        details += f" · {clean_text(meta.file_type, single_line=True)}"
    spans = [Span("▤ " + clean_text(meta.file_name, single_line=True), FILE), Span(details, FILE_DETAILS)]
    if entry.event.is_saved:
        spans.append(Span("  " + SAVED_MARK, SAVED))
    return spans


def line_breaks(text: str, width: int) -> list[tuple[int, int]]:
    """Greedy word wrap of ``text`` into ``(start, end)`` offsets of each display line.

    Explicit newlines always break; a word longer than ``width`` is folded; spaces at
    a soft break are dropped. Widths are terminal cells (wide characters count 2).
    """
    width = max(1, width)
    lines: list[tuple[int, int]] = []
    pos = 0
    for paragraph in text.split("\n"):
        start = pos
        end = pos + len(paragraph)
        if cell_len(paragraph) <= width:
            lines.append((start, end))
            pos = end + 1
            continue
        line_start = start
        line_cells = 0
        line_end = start  # end of the last word placed on the line (no trailing space)
        for match in re.finditer(r"\S+|\s+", paragraph):
            word = match.group()
            w_start, w_end = start + match.start(), start + match.end()
            cells = cell_len(word)
            if word[0].isspace():
                line_cells += cells
                continue
            if line_cells + cells <= width:
                line_cells += cells
                line_end = w_end
                continue
            if line_end > line_start:  # break before the word
                lines.append((line_start, line_end))
            line_start, line_cells, line_end = w_start, 0, w_start
            if cells <= width:
                line_cells, line_end = cells, w_end
                continue
            # fold a word wider than the line
            for offset, char in enumerate(word, w_start):
                size = get_character_cell_size(char)
                if line_cells + size > width and offset > line_start:
                    lines.append((line_start, offset))
                    line_start, line_cells = offset, 0
                line_cells += size
            line_end = w_end
        lines.append((line_start, max(line_end, line_start)))
        pos = end + 1
    return lines


def wrap_spans(spans: Sequence[Span], width: int) -> list[list[Span]]:
    """Wrap styled spans to ``width`` cells: one list of spans per display line."""
    text = "".join(span.text for span in spans)
    bounds: list[tuple[int, int, str]] = []
    offset = 0
    for span in spans:
        bounds.append((offset, offset + len(span.text), span.style))
        offset += len(span.text)
    rows: list[list[Span]] = []
    for start, end in line_breaks(text, width):
        row = [
            Span(text[max(start, s) : min(end, e)], style)
            for s, e, style in bounds
            if s < end and e > start
        ]
        rows.append([span for span in row if span.text] or [Span("", BODY)])
    return rows or [[Span("", BODY)]]


def truncate_spans(spans: Sequence[Span], width: int) -> list[Span]:
    """Cut spans to one line of at most ``width`` cells, ending with "…" when cut."""
    out: list[Span] = []
    used = 0
    for text, style in spans:
        size = cell_len(text)
        if used + size <= width:
            out.append(Span(text, style))
            used += size
            continue
        room = width - used - 1
        kept = ""
        for char in text:
            char_size = get_character_cell_size(char)
            if room - char_size < 0:
                break
            kept += char
            room -= char_size
        out.append(Span(kept + "…", style))
        break
    return out
