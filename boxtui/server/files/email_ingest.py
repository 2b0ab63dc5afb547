"""E-mail in (PROTOCOL §4.2): a raw RFC 822 message turned into box messages.

This is the one place the server sees plaintext, like an inbound mail gateway: it
parses the MIME message, seals a text (From, Subject, text body) and every
attachment to the **box public key**, and keeps only the ciphertexts. The server
imports ``boxtui.crypto`` for this alone (the PROTOCOL §8 formats must match what
clients write); it still never imports the client or the TUI.
"""

from __future__ import annotations

from dataclasses import dataclass

from boxtui.core.mail import Attachment, MailError, ParsedEmail
from boxtui.core.mail import parse_email as parse_mail
from boxtui.crypto import FileMetadata, encrypt_file, seal_file_metadata
from boxtui.server.errors import BadRequest


@dataclass(frozen=True)
class SealedAttachment:
    """An attachment ready to store: the blob and the ``msg_encrypted_content``."""

    blob: bytes
    encrypted_metadata: str


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse an RFC 822 message (:mod:`boxtui.core.mail`); ``400`` when it is not one."""
    try:
        return parse_mail(raw)
    except MailError as exc:
        raise BadRequest(str(exc), {"body": exc.reason}, origin="body") from None


def seal_attachment(attachment: Attachment, box_public_key: bytes) -> SealedAttachment:
    """Encrypt the bytes with a fresh file key and seal the metadata to the box key."""
    blob, key = encrypt_file(attachment.data)
    meta = FileMetadata(file_name=attachment.file_name, file_size=len(attachment.data), file_type=attachment.file_type, key=key)
    return SealedAttachment(blob=blob, encrypted_metadata=seal_file_metadata(meta, box_public_key))
