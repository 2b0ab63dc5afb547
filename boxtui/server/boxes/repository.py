"""SQL for boxes and memberships."""

from __future__ import annotations

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.server.boxes.models import BoxRow, MembershipRow
from boxtui.server.db import LOCKED_BOXES
from boxtui.server.events.models import EventRow


async def get_box(db: AsyncSession, box_id: str) -> BoxRow | None:
    return await db.get(BoxRow, box_id)


def _locked(db: AsyncSession) -> dict[str, BoxRow]:
    """The boxes locked (and loaded fresh) in the current transaction; cleared at its end."""
    return db.info.setdefault(LOCKED_BOXES, {})


async def lock_box(db: AsyncSession, box_id: str) -> BoxRow | None:
    """Lock the box row until the transaction ends and reload it (once per transaction).

    One box's writes then run one at a time on PostgreSQL (SQLite writers are serial
    anyway): rules are checked against fresh rows, and events commit in ``seq`` order.
    Pending changes are flushed first (autoflush), so reloading loses nothing.
    """
    if (box := _locked(db).get(box_id)) is not None:
        return box
    query = select(BoxRow).where(BoxRow.id == box_id).with_for_update().execution_options(populate_existing=True)
    box = (await db.execute(query)).scalar_one_or_none()
    if box is not None:
        _locked(db)[box_id] = box
    return box


async def box_and_membership(db: AsyncSession, box_id: str, identity_id: str, *, lock: bool = False) -> tuple[BoxRow | None, MembershipRow | None]:
    """The box and ``identity_id``'s membership row in it, in one statement.

    ``lock``: the box row is also locked and reloaded, as :func:`lock_box` does.
    """
    if lock and (box := _locked(db).get(box_id)) is not None:
        return box, await membership(db, box_id, identity_id)
    query = (
        select(BoxRow, MembershipRow)
        .outerjoin(MembershipRow, and_(MembershipRow.box_id == BoxRow.id, MembershipRow.identity_id == identity_id))
        .where(BoxRow.id == box_id)
    )
    if lock:
        query = query.with_for_update(of=BoxRow).execution_options(populate_existing=True)
    row = (await db.execute(query)).first()
    if row is None:
        return None, None
    if lock:
        _locked(db)[box_id] = row[0]
    return row[0], row[1]


async def boxes_where_active_member(db: AsyncSession, box_ids: set[str], identity_id: str) -> dict[str, BoxRow]:
    """Of ``box_ids``, the boxes ``identity_id`` is an active member of, in one statement."""
    if not box_ids:
        return {}
    query = (
        select(BoxRow)
        .join(MembershipRow, and_(MembershipRow.box_id == BoxRow.id, MembershipRow.identity_id == identity_id))
        .where(BoxRow.id.in_(box_ids), MembershipRow.active.is_(True))
    )
    return {box.id: box for box in (await db.execute(query)).scalars()}


async def membership(db: AsyncSession, box_id: str, identity_id: str) -> MembershipRow | None:
    query = select(MembershipRow).where(MembershipRow.box_id == box_id, MembershipRow.identity_id == identity_id)
    return (await db.execute(query)).scalar_one_or_none()


async def active_member_id_set(db: AsyncSession, box_id: str) -> set[str]:
    """The identity ids of the box's active members (one column, no ORM rows)."""
    query = select(MembershipRow.identity_id).where(MembershipRow.box_id == box_id, MembershipRow.active.is_(True))
    return set((await db.execute(query)).scalars())


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


async def bump_own_unread_base(db: AsyncSession, box_id: str, sender_id: str) -> None:
    """A post by ``sender_id`` is not unread for them: move their base with the box's counter.

    One row, whatever the member count (the other members' counts move with
    ``boxes.unread_seq``).
    """
    await db.execute(
        update(MembershipRow)
        .where(MembershipRow.box_id == box_id, MembershipRow.identity_id == sender_id)
        .values(unread_base=MembershipRow.unread_base + 1)
        .execution_options(synchronize_session=False)
    )


async def reset_unread(db: AsyncSession, box_id: str, identity_id: str) -> None:
    box_counter = select(BoxRow.unread_seq).where(BoxRow.id == box_id).scalar_subquery()
    await db.execute(
        update(MembershipRow)
        .where(MembershipRow.box_id == box_id, MembershipRow.identity_id == identity_id)
        .values(unread_base=box_counter)
        .execution_options(synchronize_session=False)
    )


def _joined_query(identity_id: str):
    return (
        select(BoxRow, (BoxRow.unread_seq - MembershipRow.unread_base).label("unread"))
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
    return [(row[0], max(0, row[1])) for row in (await db.execute(query)).all()]


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
