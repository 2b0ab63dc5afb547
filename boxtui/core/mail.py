"""Reading an RFC 822 e-mail into what becomes box messages (stdlib only).

Shared by the server's e-mail ingest (PROTOCOL §4.2) and the client-side
``boxtui import-email``, so a mail reads the same whichever way it came in: one text
(``From`` and ``Subject`` lines where present, a blank line, the body — text/plain, or
the visible text of text/html — clipped to fit a ``msg.text``) and every attachment
found anywhere in the MIME tree.
"""

from __future__ import annotations

import email.errors
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

__all__ = ["Attachment", "MailError", "ParsedEmail", "parse_email"]


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


def _html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _part_text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError, email.errors.MessageError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _body_text(body: EmailMessage | None) -> str:
    if body is None:
        return ""
    text = _part_text(body)
    if body.get_content_subtype() == "html":
        text = _html_to_text(text)
    return text.strip()


def _attachment_bytes(part: EmailMessage) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return inner.as_bytes() if hasattr(inner, "as_bytes") else b""
    return part.get_payload(decode=True) or b""


def _is_attachment(part: EmailMessage) -> bool:
    """A leaf part that is not body text: declared as one, named, or not text at all."""
    if part.get_content_maintype() == "message":
        return True
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() != "text"


def _attachment_parts(part: EmailMessage, body: EmailMessage | None) -> list[EmailMessage]:
    """Attachments anywhere in the MIME tree (a forwarded message counts as one)."""
    if part is body:
        return []
    if part.get_content_maintype() == "message":
        return [part]
    if part.is_multipart():
        return [found for sub in part.iter_parts() for found in _attachment_parts(sub, body)]
    return [part] if _is_attachment(part) else []


def _attachments(message: EmailMessage, body: EmailMessage | None) -> list[Attachment]:
    if message.get_content_maintype() != "multipart":
        return []
    parts = [found for sub in message.iter_parts() for found in _attachment_parts(sub, body)]
    found = []
    for index, part in enumerate(parts, start=1):
        name = part.get_filename() or (f"forwarded-{index}.eml" if part.get_content_maintype() == "message" else f"attachment-{index}")
        found.append(Attachment(file_name=name, file_type=part.get_content_type() or DEFAULT_ATTACHMENT_TYPE, data=_attachment_bytes(part)))
    return found


def _clip_text(text: str) -> tuple[str, Attachment | None]:
    """Long mails keep their start in the message and travel whole as ``message.txt``.

    A ``msg.text`` stays under the 64 KiB ``encrypted`` limit clients expect.
    """
    data = text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return text, None
    head = data[:MAX_TEXT_BYTES].decode("utf-8", "ignore")
    return f"{head}\n\n[{TRUNCATED_NOTE}]", Attachment(file_name="message.txt", file_type="text/plain", data=data)


def _header_lines(message: EmailMessage) -> str:
    lines = []
    for name in ("From", "Subject"):
        value = str(message.get(name, "") or "").strip()
        if value:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse an RFC 822 message; :class:`MailError` when it is empty, has no headers or is broken."""
    if not raw.strip():
        raise MailError("the e-mail is empty", reason="required")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message.keys():
        raise MailError("this is not an e-mail message (no headers)")
    try:
        body = message.get_body(preferencelist=("plain", "html"))
        body_text = _body_text(body)
        text, full_text = _clip_text("\n\n".join(part for part in (_header_lines(message), body_text) if part))
        attachments = ([full_text] if full_text else []) + _attachments(message, body)
    # The stdlib parser is lenient but some broken MIME still raises deep inside it.
    except (email.errors.MessageError, LookupError, ValueError, TypeError, AttributeError, IndexError):
        raise MailError("the e-mail could not be parsed") from None
    return ParsedEmail(text=text or "(empty e-mail)", attachments=attachments)
