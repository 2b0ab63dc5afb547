"""SQL for events: the append-only log, its folded reads and access rules."""

from __future__ import annotations

from collections.abc import Iterable

import json
from datetime import datetime

from sqlalchemy import Select, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from boxtui.server.events.models import EventRow
from boxtui.server.saved_files.models import SavedFileRow

ACCESS_TYPES = ("access.add", "access.rm")


#: The time of a box's newest event, visible or not: two lookups on
#: ``ix_events_box_visible_seq`` for the newest seq of each kind, then their rows
#: (``visible`` compared with a value: a bare ``visible`` is no index key to SQLite).
NEWEST_TIME_SQL = (
    "SELECT max(e.created_at) FROM events e WHERE e.seq IN ("
    "(SELECT max(v.seq) FROM events v WHERE v.box_id = {box} AND v.visible = {true}),"
    " (SELECT max(h.seq) FROM events h WHERE h.box_id = {box} AND h.visible = {false}))"
)


async def newest_time(db: AsyncSession, box_id: str) -> datetime | None:
    """The time of ``box_id``'s newest event (None: it has none). Read under the box's
    lock, and in a statement of its own on PostgreSQL (a statement's snapshot is taken
    when it starts: one that waited for the lock would not see what the holder wrote)."""
    v, h = aliased(EventRow), aliased(EventRow)
    newest_visible = select(func.max(v.seq)).where(v.box_id == box_id, v.visible == True).scalar_subquery()  # noqa: E712
    newest_hidden = select(func.max(h.seq)).where(h.box_id == box_id, h.visible == False).scalar_subquery()  # noqa: E712
    query = select(func.max(EventRow.created_at)).where(EventRow.seq.in_([newest_visible, newest_hidden]))
    return (await db.execute(query)).scalar_one_or_none()


async def get(db: AsyncSession, event_id: str) -> EventRow | None:
    return (await db.execute(select(EventRow).where(EventRow.id == event_id))).scalar_one_or_none()


async def get_many(db: AsyncSession, event_ids: Iterable[str]) -> dict[str, EventRow]:
    wanted = set(event_ids)
    if not wanted:
        return {}
    rows = (await db.execute(select(EventRow).where(EventRow.id.in_(wanted)))).scalars()
    return {row.id: row for row in rows}


async def by_seqs(db: AsyncSession, seqs: Iterable[int]) -> dict[int, EventRow]:
    wanted = {s for s in seqs if s is not None}
    if not wanted:
        return {}
    rows = (await db.execute(select(EventRow).where(EventRow.seq.in_(wanted)))).scalars()
    return {row.seq: row for row in rows}


def visible_query(box_id: str) -> Select:
    return select(EventRow).where(EventRow.box_id == box_id, EventRow.visible.is_(True))


def files_query(box_id: str) -> Select:
    return select(EventRow).where(EventRow.box_id == box_id, EventRow.type == "msg.file", EventRow.deleted_at.is_(None))


async def count(db: AsyncSession, query: Select) -> int:
    return int((await db.execute(select(func.count()).select_from(query.subquery()))).scalar_one())


async def page(
    db: AsyncSession, query: Select, *, offset: int, limit: int, after_seq: int | None = None, before_seq: int | None = None, from_end: bool = False
) -> list[EventRow]:
    """A chronological page of ``query``: from the start, or (``from_end``) the last ``limit``."""
    if after_seq is not None:
        query = query.where(EventRow.seq > after_seq)
    if before_seq is not None:
        query = query.where(EventRow.seq < before_seq)
    order = EventRow.seq.desc() if from_end else EventRow.seq.asc()
    rows = list((await db.execute(query.order_by(order).offset(offset).limit(limit))).scalars())
    return rows[::-1] if from_end else rows


async def position_page(db: AsyncSession, box_id: str, *, offset: int, limit: int, total: int | None = None) -> list[EventRow]:
    """Visible events by position: from the start, or (``total`` given: the box's
    visible count) the last ``limit`` before the ``offset`` newest. Chronological."""
    if limit <= 0:
        return []
    if total is None:
        low, high = offset + 1, offset + limit
    else:
        high = total - offset
        low = max(1, high - limit + 1)
        if high < 1:
            return []
    query = select(EventRow).where(EventRow.box_id == box_id, EventRow.pos >= low, EventRow.pos <= high).order_by(EventRow.pos)
    return list((await db.execute(query)).scalars())


async def active_rules(db: AsyncSession, box_id: str) -> list[EventRow]:
    """Active ``access.add`` events, newest first."""
    query = (
        select(EventRow)
        .where(EventRow.box_id == box_id, EventRow.type == "access.add", EventRow.active.is_(True))
        .order_by(EventRow.seq.desc())
    )
    return list((await db.execute(query)).scalars())


async def saved_file_ids(db: AsyncSession, identity_id: str, file_ids: Iterable[str]) -> set[str]:
    wanted = {f for f in file_ids if f}
    if not wanted:
        return set()
    query = select(SavedFileRow.encrypted_file_id).where(SavedFileRow.identity_id == identity_id, SavedFileRow.encrypted_file_id.in_(wanted))
    return {row[0] for row in (await db.execute(query)).all()}


#: PostgreSQL, ``msg.text``: take the box row lock and allocate the event's ``seq`` and
#: position under it, moving the box's counters, in one statement. No row back: the box
#: is closed (or gone).
_PLACE_MESSAGE_PG = text(
    """
    UPDATE boxes
    SET last_event_seq = nextval(pg_get_serial_sequence('events', 'seq')),
        visible_count = visible_count + 1,
        unread_seq = unread_seq + 1
    WHERE id = :box_id AND lifecycle = 'open'
    RETURNING last_event_seq, visible_count
    """
)
#: Then the event itself and its sender's unread base, in one statement, at the app's
#: time or the box's newest event's if that is later (a statement after the lock's:
#: its snapshot holds every event committed before the lock was ours).
_INSERT_MESSAGE_PG = text(
    """
    WITH m AS (
        UPDATE memberships SET unread_base = unread_base + 1 WHERE box_id = :box_id AND identity_id = :sender_id
    )
    INSERT INTO events (seq, id, box_id, type, sender_id, referrer_id, content, created_at, visible, active, pos)
    VALUES (:seq, :id, :box_id, :type, :sender_id, :referrer_id, CAST(:content AS JSON),
            greatest(CAST(:created_at AS timestamptz), (%s)), true, true, :pos)
    RETURNING created_at
    """
    % NEWEST_TIME_SQL.format(box=":box_id", true="true", false="false")
)


async def place_message_pg(db: AsyncSession, box_id: str) -> tuple[int, int] | None:
    """Lock the box, give a new visible unread-type event its (seq, pos); None: closed."""
    row = (await db.execute(_PLACE_MESSAGE_PG, {"box_id": box_id})).first()
    return None if row is None else (row[0], row[1])


async def insert_message_pg(db: AsyncSession, row: EventRow) -> None:
    """Insert ``row`` (placed by :func:`place_message_pg`) and move its sender's unread
    base; ``row.created_at`` becomes the time written (never before the box's newest)."""
    params = dict(
        seq=row.seq, pos=row.pos, id=row.id, box_id=row.box_id, type=row.type, sender_id=row.sender_id,
        referrer_id=row.referrer_id, content=json.dumps(row.content), created_at=row.created_at,
    )  # fmt: skip
    row.created_at = (await db.execute(_INSERT_MESSAGE_PG, params)).scalar_one()


_EVENTS = EventRow.__table__


async def insert_message_sqlite(db: AsyncSession, row: EventRow) -> int:
    """SQLite: insert a placed (``pos``) visible event as one Core statement; its seq.

    Core, not the ORM's unit of work: a post is one INSERT whatever the session holds.
    """
    values = {c.name: getattr(row, c.key) for c in _EVENTS.columns if c.name != "seq"}
    return (await db.execute(insert(_EVENTS).values(**values).returning(_EVENTS.c.seq))).scalar_one()


async def count_message_sqlite(db: AsyncSession, box_id: str, seq: int, pos: int) -> None:
    """SQLite: the box's counters after a visible unread-type event (the write lock is held)."""
    from boxtui.server.boxes.models import BoxRow

    boxes = BoxRow.__table__
    await db.execute(update(boxes).where(boxes.c.id == box_id).values(last_event_seq=seq, visible_count=pos, unread_seq=boxes.c.unread_seq + 1))
