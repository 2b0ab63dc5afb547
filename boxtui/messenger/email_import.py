"""Reading an ``.eml`` file for the client-side e-mail import (stdlib only).

The text message is From, To, Date and Subject, then the body (text/plain, else the
visible text of text/html); every attachment becomes a file.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.message import EmailMessage
from html.parser import HTMLParser

from .downloads import safe_file_name
from .errors import MessengerError

__all__ = ["ParsedEmail", "parse_email"]


class ParsedEmail:
    def __init__(self, text: str, attachments: list[tuple[str, str, bytes]]):
        self.text = text
        self.attachments = attachments


def parse_email(raw: bytes) -> ParsedEmail:
    """From, Subject and body as one text, plus ``(name, type, data)`` per attachment."""
    if not raw.strip():
        raise MessengerError("the e-mail file is empty")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if not message.keys():
        raise MessengerError("this is not an e-mail message (no headers)")
    lines = []
    for header in ("From", "To", "Date", "Subject"):
        value = message.get(header)
        if value:
            lines.append(f"{header}: {value}")
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        try:
            body = body_part.get_content()
        except (LookupError, ValueError):
            payload = body_part.get_payload(decode=True) or b""
            body = payload.decode("utf-8", "replace")
        if body_part.get_content_type() == "text/html":
            body = _html_to_text(body)
    text = "\n".join(lines) + ("\n\n" + body.strip() if body.strip() else "")
    attachments = []
    for index, part in enumerate(message.iter_attachments(), 1):
        data = part.get_payload(decode=True) or b""
        name = part.get_filename() or f"attachment-{index}"
        attachments.append((safe_file_name(name), part.get_content_type(), data))
    return ParsedEmail(text or "(empty e-mail)", attachments)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", text)
