"""Events: the one append-only log of each box.

``seq`` is the global order (chronological); ``id`` is the public UUID. Edits and
deletes are events of their own *and* are folded into the message row they refer
to (``edited_content``/``deleted_at``) so reads need no join. ``visible`` is false
for the types members never list (``access.*``, ``msg.edit``, ``msg.delete``).
``active`` means "still in force" for ``access.add`` (until removed) and
``member.join`` (until left or kicked). ``pos`` is a visible event's place in its
box's list (1, 2, …), so pages by position are index ranges at any depth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from boxtui.server.db import Base, BigIntPK


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_box_visible_seq", "box_id", "visible", "seq"),
        Index("ix_events_box_type_seq", "box_id", "type", "seq"),
        Index("ix_events_box_pos", "box_id", "pos", unique=True),
        # Only the events that have one (migration 0006): a query always compares them.
        Index("ix_events_file_id", "file_id", sqlite_where=text("file_id IS NOT NULL"), postgresql_where=text("file_id IS NOT NULL")),
        Index("ix_events_referrer_id", "referrer_id", sqlite_where=text("referrer_id IS NOT NULL"), postgresql_where=text("referrer_id IS NOT NULL")),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(ForeignKey("identities.id"))  # no index: no query by sender (migration 0007)
    referrer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: ``encrypted_file_id`` of a ``msg.file``, indexed for download checks.
    file_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    edited_content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_by_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: Place among the box's visible events (1, 2, …; NULL when hidden), fixed for good.
    pos: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
