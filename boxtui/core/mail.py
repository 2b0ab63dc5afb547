"""Reading an RFC 822 e-mail into what becomes box messages (stdlib only).

Shared by the server's e-mail ingest (PROTOCOL §4.2) and the client-side
``boxtui import-email``, so a mail reads the same whichever way it came in: one text
(``From`` and ``Subject`` lines where present, a blank line, the body — text/plain, or
the visible text of text/html — clipped to fit a ``msg.text``) and every attachment
found anywhere in the MIME tree.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from html.parser import HTMLParser
from typing import Protocol

__all__ = [
    "Attachment", "BytesSink", "MailError", "MailReader", "MailSink", "ParsedEmail",
    "StreamedAttachment", "StreamedEmail", "parse_email", "read_email",
]  # fmt: skip


class MailError(ValueError):
    """The bytes are not a usable e-mail; ``reason`` is the protocol detail reason."""

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message)
        self.reason = reason


DEFAULT_ATTACHMENT_TYPE = "application/octet-stream"
#: Plaintext bytes kept in the ``msg.text``; sealed, that is well under 64 KiB.
MAX_TEXT_BYTES = 24 * 1024
TRUNCATED_NOTE = "The full message is attached as message.txt"


@dataclass(frozen=True)
class Attachment:
    file_name: str
    file_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedEmail:
    """What becomes messages: the text of the ``msg.text`` and the attachments."""

    text: str
    attachments: list[Attachment]


class _TextExtractor(HTMLParser):
    """Visible text of an HTML body, for mails without a text/plain part."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _is_attachment(part: EmailMessage) -> bool:
    """A leaf part that is not body text: declared as one, named, or not text at all."""
    if part.get_content_maintype() == "message":
        return True
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() != "text"


def _header_lines(message: EmailMessage) -> str:
    lines = []
    for name in ("From", "Subject"):
        value = str(message.get(name, "") or "").strip()
        if value:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


# --- the streaming reader ------------------------------------------------------------
#
# The message is read as it arrives: headers are parsed one block at a time (capped),
# multipart bodies are split on their boundary lines, and each leaf part's bytes are
# decoded (base64, quoted-printable) and handed on in pieces — attachments to a sink
# the caller provides (the server's encrypts them into a blob file), the body text to
# a collector that keeps only what the ``msg.text`` needs in memory. Memory stays
# bounded whatever the size of the mail.
#
# It reads a mail as the stdlib's ``EmailMessage.get_body(("plain", "html"))`` would
# choose its body: the first text/plain that is not an attachment (in a
# multipart/related, only its start part), else the first such text/html; every other
# leaf that is declared an attachment, is named, or is not text becomes an attachment;
# a message/* part is one attachment (its bytes as they came). One difference: in a
# multipart/related whose ``start`` names no part, no part is searched for the body.


class MailSink(Protocol):
    """Where an attachment's bytes go as they are decoded."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """All the bytes were written."""

    def discard(self) -> None:
        """The bytes are not wanted (the mail was refused, or this was not an attachment)."""


class BytesSink:
    """A :class:`MailSink` keeping the bytes in memory."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data

    def close(self) -> None:
        pass

    def discard(self) -> None:
        self.buffer = bytearray()


@dataclass
class StreamedAttachment:
    """An attachment whose bytes went to ``sink`` (``size`` of them)."""

    file_name: str
    file_type: str
    size: int
    sink: MailSink


@dataclass
class StreamedEmail:
    text: str
    attachments: list[StreamedAttachment]


#: Bytes of one part's header block kept in memory; more is a malformed mail.
MAX_HEADER_BYTES = 256 * 1024
#: multipart parts inside each other; deeper is a malformed mail.
MAX_DEPTH = 32
#: A line longer than this cannot be a boundary line (RFC 2046: boundaries ≤ 70 chars).
_LONG_LINE = 1024
_HEADER_LINE = re.compile(rb"^(From |[\041-\071\073-\176]*:|[\t ])")
_BOUNDARY_TAIL = re.compile(rb"^(--)?[ \t]*(\r\n|\r|\n)?$")
_BLANK = (b"\n", b"\r\n", b"\r")


class _Decoder:
    """Content-Transfer-Encoding undone piece by piece."""

    def __init__(self, cte: str):
        self.cte = cte
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        if self.cte == "base64":
            chars = self._rest + data.translate(None, _B64_DELETE)
            usable = len(chars) - len(chars) % 4
            self._rest = chars[usable:]
            return _b64(chars[:usable])
        if self.cte == "quoted-printable":
            data = self._rest + data
            cut = data.rfind(b"\n") + 1
            self._rest = data[cut:]
            return binascii.a2b_qp(data[:cut]) if cut else b""
        return data

    def close(self) -> bytes:
        rest, self._rest = self._rest, b""
        if self.cte == "base64" and rest:
            rest = rest.rstrip(b"=")
            return _b64(rest + b"=" * (-len(rest) % 4)) if len(rest) % 4 != 1 else b""
        if self.cte == "quoted-printable" and rest:
            return binascii.a2b_qp(rest)
        return rest


_B64_DELETE = bytes(c for c in range(256) if c not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _b64(chars: bytes) -> bytes:
    if not chars:
        return b""
    try:
        return binascii.a2b_base64(chars)
    except binascii.Error:
        # Padding in the middle (several encoded pieces glued together): decode each.
        return b"".join(binascii.a2b_base64(q) for q in (chars[i : i + 4] for i in range(0, len(chars), 4)) if _valid_quad(q))


def _valid_quad(quad: bytes) -> bool:
    try:
        binascii.a2b_base64(quad)
    except binascii.Error:
        return False
    return True


class _TextCollector:
    """The body text: decoded from its charset, HTML turned into text, trimmed, and
    kept in memory only up to what the ``msg.text`` holds; past that it also goes,
    whole, to a sink (the ``message.txt`` attachment)."""

    def __init__(self, prefix: str, charset: str, html: bool, new_sink: Callable[[], MailSink]):
        try:
            self._decoder = codecs.getincrementaldecoder(charset)(errors="replace")
        except LookupError:
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._html = _IncrementalHtmlText() if html else None
        self._prefix = prefix
        self._new_sink = new_sink
        self._started = False  # a non-blank body character was seen
        self._pending_space = ""  # trailing whitespace, written only if more text follows
        self._head = bytearray()
        self._size = 0
        self.sink: MailSink | None = None

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if self._html is not None:
            text = self._html.feed(text, final)
        self._body(text)

    def _body(self, text: str) -> None:
        if not text:
            return
        if not self._started:
            text = text.lstrip()
            if not text:
                return
            self._started = True
            self._emit(f"{self._prefix}\n\n" if self._prefix else "")
        stripped = text.rstrip()
        if not stripped:
            self._pending_space += text
            return
        self._emit(self._pending_space + stripped)
        self._pending_space = text[len(stripped) :]

    def _emit(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        if not data:
            return
        self._size += len(data)
        if self.sink is None:
            self._head += data
            if len(self._head) > MAX_TEXT_BYTES:
                self.sink = self._new_sink()
                self.sink.write(bytes(self._head))
                del self._head[MAX_TEXT_BYTES:]
            return
        self.sink.write(data)

    def finish(self) -> tuple[str, StreamedAttachment | None]:
        """The ``msg.text`` and, for a long mail, the whole text as ``message.txt``."""
        self.feed(b"", final=True)
        if not self._started:
            self._emit(self._prefix)
        if self.sink is None:
            return self._head.decode("utf-8", "replace"), None
        self.sink.close()
        head = bytes(self._head[:MAX_TEXT_BYTES]).decode("utf-8", "ignore")
        return f"{head}\n\n[{TRUNCATED_NOTE}]", StreamedAttachment("message.txt", "text/plain", self._size, self.sink)

    def discard(self) -> None:
        if self.sink is not None:
            self.sink.discard()


class _IncrementalHtmlText:
    """:func:`_html_to_text` over pieces: complete lines are converted as they come."""

    def __init__(self) -> None:
        self._parser = _TextExtractor()
        self._line = ""
        self._first = True

    def feed(self, html: str, final: bool) -> str:
        if html:
            self._parser.feed(html)
        if final:
            self._parser.close()
        text = self._line + "".join(self._parser.parts)
        self._parser.parts.clear()
        lines = text.splitlines(keepends=True)
        self._line = "" if final or not lines or lines[-1] != lines[-1].rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") else lines.pop()
        out = []
        for line in lines:
            words = " ".join(line.split())
            if words:
                out.append(words if self._first else "\n" + words)
                self._first = False
        return "".join(out)


@dataclass
class _Part:
    parent: _Part | None
    depth: int
    eligible: bool  # may hold the body (get_body's search reaches it)
    index: int  # its place among its parent's parts
    raw_headers: bytearray = field(default_factory=bytearray)
    headers: EmailMessage | None = None
    # multipart
    boundary: bytes | None = None
    epilogue: bool = False
    children: int = 0
    is_digest: bool = False
    related_start: str | None = None
    related: bool = False
    # leaf
    decoder: _Decoder | None = None
    text: _TextCollector | None = None
    attachment: _Attachment | None = None


@dataclass
class _Attachment:
    name: str | None
    is_message: bool
    file_type: str
    sink: MailSink
    size: int = 0
    html_candidate: bool = False


class MailReader:
    """A push parser for one RFC 822 message: ``feed(chunk)``… then ``finish()``.

    ``new_sink()`` gives a fresh :class:`MailSink` for each attachment. On any error
    (a :class:`MailError`, or the caller giving up) call :meth:`abort`: every sink is
    discarded.
    """

    def __init__(self, new_sink: Callable[[], MailSink]):
        self._new_sink = new_sink
        self._buf = bytearray()
        self._root = _Part(parent=None, depth=0, eligible=True, index=0)
        self._current = self._root
        self._frames: list[_Part] = []  # open multiparts, outermost first
        self._mid_line = False  # the last content handed on ended inside a line
        self._held = b""  # a leaf's last line ending: dropped if a boundary follows
        self._attachments: list[_Attachment] = []
        self._plain: _TextCollector | None = None
        self._html: _TextCollector | None = None
        self._prefix = ""
        self._no_headers = False
        self._saw_text = False
        self._head_pos = 0

    # --- input ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if not self._saw_text and data.strip():
            self._saw_text = True
        self._buf += data
        self._run(final=False)

    def finish(self) -> StreamedEmail:
        """The mail read so far, complete: its text and attachments (sinks closed)."""
        self._run(final=True)
        if not self._saw_text:
            raise MailError("the e-mail is empty", reason="required")
        if self._no_headers:
            raise MailError("this is not an e-mail message (no headers)")
        while self._current is not None:
            self._end_current()
        body = self._plain or self._html
        for collector in (self._plain, self._html):
            if collector is not None and collector is not body:
                collector.discard()
        if body is None:
            body = _TextCollector(self._prefix, "utf-8", False, self._new_sink)
        text, full_text = body.finish()
        kept = [a for a in self._attachments if not (a.html_candidate and body is self._html)]
        for dropped in (a for a in self._attachments if a not in kept):
            dropped.sink.discard()
        attachments = [full_text] if full_text else []
        for index, found in enumerate(kept, start=1):
            found.sink.close()
            name = found.name or (f"forwarded-{index}.eml" if found.is_message else f"attachment-{index}")
            attachments.append(StreamedAttachment(name, found.file_type, found.size, found.sink))
        return StreamedEmail(text=text or "(empty e-mail)", attachments=attachments)

    def abort(self) -> None:
        """Discard every sink (the mail is refused)."""
        for found in self._attachments:
            found.sink.discard()
        for collector in (self._plain, self._html):
            if collector is not None:
                collector.discard()
        self._attachments.clear()

    # --- splitting lines and boundaries -----------------------------------------------

    def _run(self, final: bool) -> None:
        buf = self._buf
        pos = 0
        while True:
            part = self._current
            if part is not None and part.headers is None:
                if not self._head_step(buf, pos, final):
                    break
                pos = self._head_pos
                continue
            if not self._frames:
                self._content(buf[pos:])
                pos = len(buf)
                break
            end = buf.rfind(b"\n", pos) + 1
            if end <= pos:  # no complete line
                if final or len(buf) - pos > _LONG_LINE:
                    self._content(buf[pos:])
                    self._mid_line = pos < len(buf)
                    pos = len(buf)
                break
            found = self._next_boundary(buf, pos, end)
            if found is None:
                self._content(buf[pos:end])
                self._mid_line = False
                pos = end
                continue
            start, stop, frame, closing = found
            self._content(buf[pos:start])
            self._held = b""  # the line ending before a boundary belongs to it
            self._mid_line = False
            pos = stop
            self._boundary(frame, closing)
        del buf[:pos]

    def _next_boundary(self, buf: bytearray, pos: int, end: int) -> tuple[int, int, int, bool] | None:
        """The first boundary line in ``buf[pos:end]``: (start, end, frame index, closing)."""
        candidate = pos if not self._mid_line and buf.startswith(b"--", pos) else -1
        while True:
            if candidate < 0:
                newline = buf.find(b"\n--", pos, end)
                if newline < 0:
                    return None
                candidate = newline + 1
            line_end = buf.find(b"\n", candidate, end) + 1 or end
            if line_end - candidate <= _LONG_LINE:
                match = self._match_boundary(bytes(buf[candidate:line_end]))
                if match is not None:
                    return candidate, line_end, *match
            pos, candidate = line_end - 1, -1

    def _match_boundary(self, line: bytes) -> tuple[int, bool] | None:
        for index in range(len(self._frames) - 1, -1, -1):
            boundary = self._frames[index].boundary
            if boundary is not None and line.startswith(boundary):
                tail = _BOUNDARY_TAIL.match(line[len(boundary) :])
                if tail is not None:
                    return index, tail.group(1) is not None
        return None

    def _boundary(self, frame_index: int, closing: bool) -> None:
        frame = self._frames[frame_index]
        while self._current is not frame:
            self._end_current()
        if frame.epilogue:
            return  # its own boundary again, after the close: ignored, as the stdlib does
        if closing:
            frame.epilogue = True
            return
        eligible = frame.eligible and not (frame.headers is not None and frame.headers.get_content_disposition() == "attachment")
        child = _Part(parent=frame, depth=frame.depth + 1, eligible=eligible, index=frame.children)
        frame.children += 1
        self._current = child

    def _end_current(self) -> None:
        """End the innermost open part (and pop its frame when it is a multipart)."""
        part = self._current
        if part is None:
            return
        if part.headers is None:
            self._end_headers(part)
        self._end_part(part)
        if self._frames and self._frames[-1] is part:
            self._frames.pop()
        self._current = part.parent

    # --- headers ----------------------------------------------------------------------

    def _head_step(self, buf: bytearray, pos: int, final: bool) -> bool:
        """One header line of the current part; False when more bytes are needed."""
        part = self._current
        newline = buf.find(b"\n", pos)
        if newline < 0:
            if len(buf) - pos + len(part.raw_headers) > MAX_HEADER_BYTES:
                raise MailError("a header block of the e-mail is too large")
            if not final or pos >= len(buf):
                if final:
                    self._end_headers(part)
                    self._head_pos = pos
                    return True
                return False
            newline = len(buf) - 1
        line = bytes(buf[pos : newline + 1])
        if self._frames and line.startswith(b"--") and (match := self._match_boundary(line)) is not None:
            self._head_pos = newline + 1
            self._boundary(*match)
            return True
        if line in _BLANK:
            self._head_pos = newline + 1
            self._end_headers(part)
            return True
        if part is self._root and not part.raw_headers and line.startswith(b"From "):
            self._head_pos = newline + 1  # an mbox "From " line
            return True
        if _HEADER_LINE.match(line):
            part.raw_headers += line
            if len(part.raw_headers) > MAX_HEADER_BYTES:
                raise MailError("a header block of the e-mail is too large")
            self._head_pos = newline + 1
            return True
        # Not a header: the headers are over and this line is the first of the body.
        self._head_pos = pos
        self._end_headers(part)
        return True

    def _end_headers(self, part: _Part) -> None:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(bytes(part.raw_headers))
        part.raw_headers = bytearray()
        if part.parent is not None and part.parent.is_digest:
            headers.set_default_type("message/rfc822")
        part.headers = headers
        if part is self._root:
            if not headers.keys():
                self._no_headers = True
            self._prefix = _header_lines(headers)
        if part.parent is not None and part.parent.related:
            start = part.parent.related_start
            part.eligible = part.eligible and ((headers.get("content-id") == start) if start else part.index == 0)
        boundary = headers.get_boundary() if headers.get_content_maintype() == "multipart" else None
        if boundary:
            if part.depth >= MAX_DEPTH:
                raise MailError("the e-mail's parts are nested too deep")
            part.boundary = b"--" + boundary.encode("ascii", "surrogateescape")
            part.is_digest = headers.get_content_subtype() == "digest"
            part.related = headers.get_content_subtype() == "related"
            start = headers.get_param("start")
            part.related_start = start if isinstance(start, str) else None
            self._frames.append(part)
            return
        self._start_leaf(part, headers)

    def _start_leaf(self, part: _Part, headers: EmailMessage) -> None:
        part.decoder = _Decoder(headers.get("content-transfer-encoding", "").strip().lower())
        content_type = headers.get_content_type()
        candidate = part.eligible and headers.get_content_disposition() != "attachment"
        attach = part.parent is not None and _is_attachment(headers)
        if candidate and content_type == "text/plain" and self._plain is None:
            part.text = self._plain = self._collector(headers, html=False)
            return
        html = candidate and content_type == "text/html" and self._plain is None and self._html is None
        if html:
            part.text = self._html = self._collector(headers, html=True)
        if attach:
            name = headers.get_filename()
            part.attachment = _Attachment(
                name=name, is_message=headers.get_content_maintype() == "message",
                file_type=content_type or DEFAULT_ATTACHMENT_TYPE, sink=self._new_sink(), html_candidate=html,
            )  # fmt: skip
            self._attachments.append(part.attachment)

    def _collector(self, headers: EmailMessage, html: bool) -> _TextCollector:
        charset = headers.get_param("charset", "ascii")
        return _TextCollector(self._prefix, charset if isinstance(charset, str) else "ascii", html, self._new_sink)

    # --- leaf bytes -------------------------------------------------------------------

    def _content(self, data: bytes | bytearray) -> None:
        part = self._current
        if not data or part is None or part.decoder is None:
            return
        data = self._held + bytes(data)
        cut = len(data) - (2 if data.endswith(b"\r\n") else 1 if data.endswith((b"\n", b"\r")) else 0)
        self._held = data[cut:]
        if cut:
            self._deliver(part, part.decoder.feed(data[:cut]))

    def _deliver(self, part: _Part, decoded: bytes) -> None:
        if not decoded:
            return
        if part.text is not None:
            part.text.feed(decoded)
        if part.attachment is not None:
            part.attachment.sink.write(decoded)
            part.attachment.size += len(decoded)

    def _end_part(self, part: _Part) -> None:
        if part.decoder is None:
            return
        if self._held:  # the end of the mail, not a boundary: the last line ending is content
            self._deliver(part, part.decoder.feed(self._held))
        self._held = b""
        self._deliver(part, part.decoder.close())
        part.decoder = None


def read_email(chunks: Iterable[bytes], new_sink: Callable[[], MailSink]) -> StreamedEmail:
    """Read a whole mail from ``chunks`` with :class:`MailReader` (sinks discarded on error)."""
    reader = MailReader(new_sink)
    try:
        for chunk in chunks:
            reader.feed(chunk)
        return reader.finish()
    except BaseException:
        reader.abort()
        raise


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse an RFC 822 message in memory; :class:`MailError` when it is empty, has no headers or is broken."""
    streamed = read_email([raw], BytesSink)
    return ParsedEmail(
        text=streamed.text,
        attachments=[Attachment(a.file_name, a.file_type, bytes(a.sink.buffer)) for a in streamed.attachments],  # type: ignore[attr-defined]
    )
