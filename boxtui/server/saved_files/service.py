"""Saved files (PROTOCOL §6): a person's own references to encrypted blobs.

Every route is self only: the ``identity_id`` named must be the caller's (else 403).
Saving or unsaving sends ``file.saved {encrypted_file_id, is_saved}`` to the owner's
sockets once the change is committed.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.timefmt import format_time
from boxtui.core.wire import SavedFile
from boxtui.server.auth.deps import require_uuid
from boxtui.server.errors import Conflict, Forbidden, NotFound
from boxtui.server.files import repository as files_repository
from boxtui.server.files.service import FileWrite, delete_orphan_blobs, require_non_empty
from boxtui.server.files.uploads import UploadForm
from boxtui.server.saved_files import repository
from boxtui.server.saved_files.models import SavedFileRow
from boxtui.server.saved_files.schemas import SavedFileCreate, SavedFileFields
from boxtui.server.settings import ServerSettings


def saved_file_view(row: SavedFileRow) -> SavedFile:
    return SavedFile(
        id=row.id,
        encrypted_file_id=row.encrypted_file_id,
        identity_id=row.identity_id,
        encrypted_metadata=row.encrypted_metadata,
        key_fingerprint=row.key_fingerprint,
        created_at=format_time(row.created_at),
    )


def require_self(caller_id: str, identity_id: str, origin: str) -> None:
    require_uuid(identity_id, "identity_id", origin)
    if identity_id != caller_id:
        raise Forbidden("saved files are only yours to see and change", {"identity_id": "forbidden"}, origin=origin)


def _duplicate() -> Conflict:
    return Conflict("this file is already in your saved files", {"encrypted_file_id": "conflict"}, origin="body")


async def save_file(db: AsyncSession, caller_id: str, body: SavedFileCreate) -> SavedFile:
    """``POST /saved-files``: keep a file seen in one of the caller's boxes (flushed, the route commits)."""
    require_self(caller_id, body.identity_id, "body")
    encrypted_file_id = body.encrypted_file_id
    require_uuid(encrypted_file_id, "encrypted_file_id", "body")
    # Locked so a concurrent orphan sweep cannot delete the file under the new row.
    if await files_repository.get_file(db, encrypted_file_id, for_update=True) is None:
        raise NotFound("no such file", {"encrypted_file_id": "not_found"}, origin="body")
    if not await files_repository.member_of_box_with_file(db, caller_id, encrypted_file_id):
        raise Forbidden("you can only save files of boxes you are in", {"encrypted_file_id": "forbidden"}, origin="body")
    if await repository.find_saved_file(db, caller_id, encrypted_file_id) is not None:
        raise _duplicate()
    try:
        row = await repository.add_saved_file(db, caller_id, encrypted_file_id, body.encrypted_metadata, body.key_fingerprint)
    except IntegrityError:
        await db.rollback()
        raise _duplicate() from None
    return saved_file_view(row)


async def upload_saved_file(db: AsyncSession, caller_id: str, form: UploadForm, body: SavedFileFields, write: FileWrite) -> SavedFile:
    """``POST /box-users/{id}/saved-files``: a direct upload into the caller's saved files.

    Blob and rows go through ``write``, which the caller commits (PROTOCOL §10.12).
    """
    require_non_empty(form.file, "encrypted_file")
    file_row = await write.add(caller_id, form.file)
    row = await repository.add_saved_file(db, caller_id, file_row.id, body.encrypted_metadata, body.key_fingerprint)
    return saved_file_view(row)


async def list_saved_files(db: AsyncSession, caller_id: str, identity_id: str, offset: int, limit: int) -> list[SavedFile]:
    require_self(caller_id, identity_id, "query")
    return [saved_file_view(row) for row in await repository.saved_files_of(db, identity_id, offset, limit)]


async def count_saved_files(db: AsyncSession, caller_id: str, identity_id: str) -> int:
    require_self(caller_id, identity_id, "query")
    return await repository.count_saved_files(db, identity_id)


async def unsave_file(db: AsyncSession, settings: ServerSettings, caller_id: str, saved_file_id: str) -> str:
    """``DELETE /saved-files/{id}``; returns the file id. The blob goes if nothing else holds it."""
    require_uuid(saved_file_id, "id", "path")
    row = await repository.get_saved_file(db, saved_file_id)
    if row is None:
        raise NotFound("no such saved file", {"id": "not_found"}, origin="path")
    if row.identity_id != caller_id:
        raise Forbidden("this saved file is someone else's", {"id": "forbidden"}, origin="path")
    file_id = row.encrypted_file_id
    await repository.delete_saved_file(db, row)
    await db.commit()
    await delete_orphan_blobs(db, settings, [file_id])
    return file_id


async def notify_file_saved(hub, identity_id: str, encrypted_file_id: str, is_saved: bool) -> None:
    """``file.saved`` to the owner's sockets (after the commit)."""
    if hub is None:
        return
    await hub.publish([identity_id], {"type": "file.saved", "object": {"encrypted_file_id": encrypted_file_id, "is_saved": is_saved}})
