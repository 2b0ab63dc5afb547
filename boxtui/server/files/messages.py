"""File messages: ``msg.file`` uploads (PROTOCOL §5) and e-mail in (§4.2)."""

from __future__ import annotations

from anyio import to_thread
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.encoding import b64_decode_any
from boxtui.crypto import seal_text
from boxtui.server.auth.deps import Caller, require_uuid
from boxtui.server.boxes import service as boxes_service
from boxtui.server.boxes.schemas import B64, PublicKey, StrictBody
from boxtui.server.errors import Forbidden
from boxtui.server.events.models import EventRow
from boxtui.server.events.schemas import MAX_ENCRYPTED
from boxtui.server.events.service import append_event, check_reply_target, ensure_open
from boxtui.core.mail import StreamedEmail
from boxtui.server.files.email_ingest import seal_attachments
from boxtui.server.files.service import FileWrite, require_non_empty
from boxtui.server.files.uploads import UploadForm
from boxtui.server.settings import ServerSettings


class FileMessageFields(StrictBody):
    """The text parts of ``POST /boxes/{id}/encrypted-files``."""

    msg_encrypted_content: B64 = Field(min_length=1, max_length=MAX_ENCRYPTED)
    msg_public_key: PublicKey
    referrer_id: str | None = None


async def check_box_before_upload(db: AsyncSession, caller: Caller, box_id: str) -> None:
    """Membership and lifecycle, checked before a byte of the body is read.

    Ends the transaction so no lock is held while the body streams in.
    """
    require_uuid(box_id, "box_id", "path")
    ensure_open(await boxes_service.require_member(db, box_id, caller))
    await db.commit()


async def post_file_message(
    db: AsyncSession, caller: Caller, box_id: str, form: UploadForm, fields: FileMessageFields, write: FileWrite
) -> EventRow:
    """Place the uploaded blob and write its ``msg.file`` event through ``write``.

    The caller opened ``write`` (``FileWrite(db, settings, [form.file])``) and commits it
    once the answer is recorded (PROTOCOL §10.12).
    """
    require_non_empty(form.file, "encrypted_file")
    # Checked again: membership or lifecycle may have changed during the upload.
    box = await boxes_service.require_member(db, box_id, caller)
    ensure_open(box)
    if fields.referrer_id is not None:
        await check_reply_target(db, box, fields.referrer_id)
    file_row = await write.add(caller.id, form.file)
    content = {"encrypted": fields.msg_encrypted_content, "public_key": fields.msg_public_key, "encrypted_file_id": file_row.id}
    return await append_event(db, box, "msg.file", caller.id, content=content, referrer_id=fields.referrer_id, file_id=file_row.id)


def require_email_ingest(settings: ServerSettings) -> None:
    if not settings.email_ingest:
        raise Forbidden("e-mail import is turned off on this server", {"email_ingest": "forbidden"})


async def ingest_email(db: AsyncSession, caller: Caller, box_id: str, mail: StreamedEmail, write: FileWrite) -> list[EventRow]:
    """``POST /boxes/{id}/email``: a ``msg.text`` and one ``msg.file`` per attachment.

    ``mail`` was read by :func:`~boxtui.server.files.email_ingest.read_email`, its
    attachments already encrypted into staged blobs; here the text and each
    attachment's metadata are sealed to the box public key. Blobs and rows go through
    ``write`` (built over the staged blobs), which the caller commits once the answer
    is recorded (PROTOCOL §10.12).
    """
    # Checked again: membership or lifecycle may have changed while the mail came in.
    box = await boxes_service.require_member(db, box_id, caller)
    ensure_open(box)
    box_key = b64_decode_any(box.public_key)
    text = await to_thread.run_sync(seal_text, mail.text, box_key)
    sealed = await to_thread.run_sync(seal_attachments, mail, box_key)
    rows = [await append_event(db, box, "msg.text", caller.id, content={"encrypted": text, "public_key": box.public_key})]
    for attachment in sealed:
        file_row = await write.add(caller.id, attachment.staged)
        content = {"encrypted": attachment.encrypted_metadata, "public_key": box.public_key, "encrypted_file_id": file_row.id}
        rows.append(await append_event(db, box, "msg.file", caller.id, content=content, file_id=file_row.id))
    return rows
