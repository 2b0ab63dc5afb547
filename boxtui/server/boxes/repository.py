"""SQL for boxes and memberships."""

from __future__ import annotations

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.server.boxes.models import BoxRow, MembershipRow
from boxtui.server.events.models import EventRow


async def get_box(db: AsyncSession, box_id: str) -> BoxRow | None:
    return await db.get(BoxRow, box_id)


async def lock_box(db: AsyncSession, box_id: str) -> BoxRow | None:
    """Lock the box row until the transaction ends and reload it.

    One box's writes then run one at a time on PostgreSQL (SQLite writers are serial
    anyway): rules are checked against fresh rows, and events commit in ``seq`` order.
    Pending changes are flushed first (autoflush), so reloading loses nothing.
    """
    query = select(BoxRow).where(BoxRow.id == box_id).with_for_update().execution_options(populate_existing=True)
    return (await db.execute(query)).scalar_one_or_none()


async def membership(db: AsyncSession, box_id: str, identity_id: str) -> MembershipRow | None:
    query = select(MembershipRow).where(MembershipRow.box_id == box_id, MembershipRow.identity_id == identity_id)
    return (await db.execute(query)).scalar_one_or_none()


async def active_memberships(db: AsyncSession, box_id: str) -> list[MembershipRow]:
    query = (
        select(MembershipRow)
        .where(MembershipRow.box_id == box_id, MembershipRow.active.is_(True))
        .order_by(MembershipRow.created_at, MembershipRow.id)
    )
    return list((await db.execute(query)).scalars())


async def active_member_ids(db: AsyncSession, box_id: str) -> list[str]:
    """The active members' ids, in membership order, as plain strings: the fan-out
    audience of every post, so no ORM object per member (17 % of a 1,000-member
    fan-out's CPU went into building them)."""
    query = (
        select(MembershipRow.identity_id)
        .where(MembershipRow.box_id == box_id, MembershipRow.active.is_(True))
        .order_by(MembershipRow.created_at, MembershipRow.id)
    )
    return list(await db.scalars(query))


async def bump_unread(db: AsyncSession, box_id: str, except_identity_id: str) -> None:
    await db.execute(
        update(MembershipRow)
        .where(MembershipRow.box_id == box_id, MembershipRow.active.is_(True), MembershipRow.identity_id != except_identity_id)
        .values(unread_count=MembershipRow.unread_count + 1)
    )


async def reset_unread(db: AsyncSession, box_id: str, identity_id: str) -> None:
    await db.execute(
        update(MembershipRow).where(MembershipRow.box_id == box_id, MembershipRow.identity_id == identity_id).values(unread_count=0)
    )


def _joined_query(identity_id: str):
    return (
        select(BoxRow, MembershipRow.unread_count)
        .join(MembershipRow, and_(MembershipRow.box_id == BoxRow.id, MembershipRow.identity_id == identity_id))
        .where(MembershipRow.active.is_(True))
    )


async def joined_boxes(db: AsyncSession, identity_id: str, offset: int, limit: int) -> list[tuple[BoxRow, int]]:
    query = (
        _joined_query(identity_id)
        .order_by(func.coalesce(BoxRow.last_event_seq, 0).desc(), BoxRow.created_at.desc())
        .offset(offset)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await db.execute(query)).all()]


async def count_joined(db: AsyncSession, identity_id: str) -> int:
    query = select(func.count()).select_from(MembershipRow).where(MembershipRow.identity_id == identity_id, MembershipRow.active.is_(True))
    return int((await db.execute(query)).scalar_one())


async def box_file_ids(db: AsyncSession, box_id: str) -> list[str]:
    query = select(EventRow.file_id).where(EventRow.box_id == box_id, EventRow.file_id.is_not(None)).distinct()
    return [row[0] for row in (await db.execute(query)).all()]


async def delete_box(db: AsyncSession, box_id: str) -> None:
    """The box and everything in it (events, memberships, shares, crypto actions)."""
    await db.execute(delete(EventRow).where(EventRow.box_id == box_id))
    await db.execute(delete(MembershipRow).where(MembershipRow.box_id == box_id))
    await db.execute(delete(BoxRow).where(BoxRow.id == box_id))
