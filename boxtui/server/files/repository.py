"""SQL for encrypted-file rows and the references that keep them alive.

A file is referenced by every non-deleted ``msg.file`` event carrying its id (events
go with their box) and by every saved file pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.timefmt import utcnow
from boxtui.server.boxes.models import MembershipRow
from boxtui.server.events.models import EventRow
from boxtui.server.files.models import EncryptedFileRow
from boxtui.server.saved_files.models import SavedFileRow


async def add_file(db: AsyncSession, file_id: str, size: int, uploader_id: str) -> EncryptedFileRow:
    row = EncryptedFileRow(id=file_id, size=size, uploader_id=uploader_id, created_at=utcnow())
    db.add(row)
    await db.flush()
    return row


async def get_file(db: AsyncSession, file_id: str, *, for_update: bool = False) -> EncryptedFileRow | None:
    """The row, optionally locked (PostgreSQL) against a concurrent orphan sweep."""
    query = select(EncryptedFileRow).where(EncryptedFileRow.id == file_id)
    if for_update:
        query = query.with_for_update()
    return await db.scalar(query)


async def bytes_uploaded_by(db: AsyncSession, identity_id: str) -> int:
    """Sum of the sizes of the blobs ``identity_id`` uploaded that still exist (the quota)."""
    total = await db.scalar(select(func.coalesce(func.sum(EncryptedFileRow.size), 0)).where(EncryptedFileRow.uploader_id == identity_id))
    return int(total or 0)


def _live_file_events(file_id):
    return select(EventRow.box_id).where(
        EventRow.file_id == file_id, EventRow.type == "msg.file", EventRow.deleted_at.is_(None)
    )


async def member_of_box_with_file(db: AsyncSession, identity_id: str, file_id: str) -> bool:
    """True when ``identity_id`` is an active member of a box with a live ``msg.file`` of it."""
    query = select(
        exists().where(
            MembershipRow.identity_id == identity_id,
            MembershipRow.active.is_(True),
            MembershipRow.box_id.in_(_live_file_events(file_id)),
        )
    )
    return bool(await db.scalar(query))


async def has_saved_copy(db: AsyncSession, identity_id: str, file_id: str) -> bool:
    query = select(exists().where(SavedFileRow.identity_id == identity_id, SavedFileRow.encrypted_file_id == file_id))
    return bool(await db.scalar(query))


async def unreferenced_files(db: AsyncSession, file_ids: Iterable[str]) -> list[str]:
    """Those of ``file_ids`` that exist and that nothing refers to any more (rows locked)."""
    ids = sorted(set(file_ids))
    if not ids:
        return []
    live_event = exists().where(
        EventRow.file_id == EncryptedFileRow.id, EventRow.type == "msg.file", EventRow.deleted_at.is_(None)
    )
    saved = exists().where(SavedFileRow.encrypted_file_id == EncryptedFileRow.id)
    query = (
        select(EncryptedFileRow.id)
        .where(EncryptedFileRow.id.in_(ids), ~live_event, ~saved)
        .with_for_update()
    )
    return list(await db.scalars(query))


async def delete_files(db: AsyncSession, file_ids: list[str]) -> None:
    if file_ids:
        await db.execute(delete(EncryptedFileRow).where(EncryptedFileRow.id.in_(file_ids)))


async def existing_file_ids(db: AsyncSession, file_ids: Iterable[str]) -> set[str]:
    """Those of ``file_ids`` that have a row."""
    return set(await db.scalars(select(EncryptedFileRow.id).where(EncryptedFileRow.id.in_(list(file_ids)))))
