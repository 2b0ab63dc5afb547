"""Reading an ``.eml`` file for the client-side e-mail import.

The parsing is :mod:`boxtui.core.mail`, shared with the server's ingest route; this
module only turns its errors into :class:`MessengerError` and file names into safe ones.
"""

from __future__ import annotations

from boxtui.core.mail import Attachment, MailError, ParsedEmail
from boxtui.core.mail import parse_email as parse_mail

from .downloads import safe_file_name
from .errors import MessengerError

__all__ = ["parse_email"]


def parse_email(raw: bytes) -> ParsedEmail:
    """The mail's text and its attachments (with names safe to write to disk)."""
    try:
        parsed = parse_mail(raw)
    except MailError as exc:
        raise MessengerError(str(exc)) from None
    return ParsedEmail(
        text=parsed.text,
        attachments=[
            Attachment(safe_file_name(a.file_name), a.file_type, a.data) for a in parsed.attachments
        ],
    )
