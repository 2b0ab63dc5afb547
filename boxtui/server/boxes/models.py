"""Boxes and memberships."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from boxtui.server.db import Base


class BoxRow(Base):
    __tablename__ = "boxes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    public_key: Mapped[str] = mapped_column(String(64))
    lifecycle: Mapped[str] = mapped_column(String(8), default="open")
    access_mode: Mapped[str] = mapped_column(String(8), default="limited")
    creator_id: Mapped[str] = mapped_column(ForeignKey("identities.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: ``seq`` of the newest member-visible event: the box's "last activity".
    last_event_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)


class MembershipRow(Base):
    """One row per (box, identity) ever in the box; ``active`` while they are in.

    The creator has a row too (``join_event_id`` is NULL): they are the admin and
    can neither leave nor be kicked. ``unread_count`` is the caller's unread count.
    """

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("box_id", "identity_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    join_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
