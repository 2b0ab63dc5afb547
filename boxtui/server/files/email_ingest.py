"""E-mail in (PROTOCOL §4.2, §10.5): a raw RFC 822 message turned into box messages.

This is the one place the server sees plaintext, like an inbound mail gateway. The
message is read as it arrives (:class:`boxtui.core.mail.MailReader`): each
attachment is encrypted with a fresh file key as it is decoded, straight into a
staged blob (:class:`EncryptedBlobSink`), so memory stays bounded whatever the size
of the mail; the text and each attachment's metadata are then sealed to the **box
public key**. The server imports ``boxtui.crypto`` for this alone (the PROTOCOL §8
formats must match what clients write); it still never imports the client or the TUI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from anyio import to_thread

from boxtui.core.mail import MailError, MailReader, StreamedEmail
from boxtui.crypto import FileKey, FileMetadata, seal_file_metadata
from boxtui.crypto.streaming import TAG_SIZE, FileEncryptor
from boxtui.server.errors import BadRequest
from boxtui.server.files.blobs import BlobStore, StagedBlob

#: Bytes of the request handed to the parser at a time (one worker-thread hop each).
FEED_BYTES = 1 << 20


class EncryptedBlobSink:
    """A :class:`boxtui.core.mail.MailSink` writing the §8 file format into a staged blob:
    a 16-byte placeholder, the ciphertext as it comes, then the tag in front."""

    def __init__(self, store: BlobStore):
        self.key = FileKey.generate()
        self._encryptor = FileEncryptor(self.key)
        self.staged: StagedBlob = store.stage_now()
        self.staged.write_now(bytes(TAG_SIZE))

    def write(self, data: bytes) -> None:
        self.staged.write_now(self._encryptor.update(data))

    def close(self) -> None:
        self.staged.overwrite_now(0, self._encryptor.finalize())

    def discard(self) -> None:
        self.staged.discard_now()


@dataclass(frozen=True)
class SealedAttachment:
    """An attachment ready to store: its staged blob and its ``msg_encrypted_content``."""

    staged: StagedBlob
    encrypted_metadata: str


async def read_email(chunks: AsyncIterator[bytes], store: BlobStore) -> StreamedEmail:
    """Read the mail from ``chunks``, attachments encrypted into staged blobs as they
    come (each attachment's ``sink`` is an :class:`EncryptedBlobSink`); ``400`` when it
    is not a mail. Nothing is left staged when this raises."""
    reader = MailReader(lambda: EncryptedBlobSink(store))
    pending = bytearray()
    try:
        async for chunk in chunks:
            pending += chunk
            if len(pending) >= FEED_BYTES:
                await to_thread.run_sync(reader.feed, bytes(pending))
                pending.clear()
        await to_thread.run_sync(reader.feed, bytes(pending))
        pending.clear()
        return await to_thread.run_sync(reader.finish)
    except MailError as exc:
        await to_thread.run_sync(reader.abort)
        raise BadRequest(str(exc), {"body": exc.reason}, origin="body") from None
    except BaseException:
        await to_thread.run_sync(reader.abort)
        raise


def staged_blobs(mail: StreamedEmail) -> list[StagedBlob]:
    return [attachment.sink.staged for attachment in mail.attachments]  # type: ignore[attr-defined]


def seal_attachments(mail: StreamedEmail, box_public_key: bytes) -> list[SealedAttachment]:
    """Each attachment's metadata (name, size, type, file key) sealed to the box key."""
    sealed = []
    for found in mail.attachments:
        sink: EncryptedBlobSink = found.sink  # type: ignore[assignment]
        meta = FileMetadata(file_name=found.file_name, file_size=found.size, file_type=found.file_type, key=sink.key)
        sealed.append(SealedAttachment(sink.staged, seal_file_metadata(meta, box_public_key)))
    return sealed
