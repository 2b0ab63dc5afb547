"""SQL for saved files (seed 003)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.ids import new_id
from boxtui.core.timefmt import utcnow
from boxtui.server.saved_files.models import SavedFileRow


async def add_saved_file(
    db: AsyncSession, identity_id: str, encrypted_file_id: str, encrypted_metadata: str, key_fingerprint: str
) -> SavedFileRow:
    row = SavedFileRow(
        id=new_id(),
        identity_id=identity_id,
        encrypted_file_id=encrypted_file_id,
        encrypted_metadata=encrypted_metadata,
        key_fingerprint=key_fingerprint,
        created_at=utcnow(),
    )
    db.add(row)
    await db.flush()
    return row


async def get_saved_file(db: AsyncSession, saved_file_id: str) -> SavedFileRow | None:
    return await db.get(SavedFileRow, saved_file_id)


async def find_saved_file(db: AsyncSession, identity_id: str, encrypted_file_id: str) -> SavedFileRow | None:
    return await db.scalar(
        select(SavedFileRow).where(SavedFileRow.identity_id == identity_id, SavedFileRow.encrypted_file_id == encrypted_file_id)
    )


async def saved_files_of(db: AsyncSession, identity_id: str, offset: int, limit: int) -> list[SavedFileRow]:
    """Newest first."""
    rows = await db.scalars(
        select(SavedFileRow)
        .where(SavedFileRow.identity_id == identity_id)
        .order_by(SavedFileRow.created_at.desc(), SavedFileRow.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows)


async def count_saved_files(db: AsyncSession, identity_id: str) -> int:
    return int(await db.scalar(select(func.count()).select_from(SavedFileRow).where(SavedFileRow.identity_id == identity_id)) or 0)


async def delete_saved_file(db: AsyncSession, row: SavedFileRow) -> None:
    await db.delete(row)
    await db.flush()
