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
    #: How many member-visible events the box holds (``HEAD …/events``), kept by each post.
    visible_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: How many unread-type events (``UNREAD_TYPES``) were ever posted to the box.
    unread_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class MembershipRow(Base):
    """One row per (box, identity) ever in the box; ``active`` while they are in.

    The creator has a row too (``join_event_id`` is NULL): they are the admin and
    can neither leave nor be kicked. The member's unread count is
    ``box.unread_seq - unread_base`` (:func:`unread`): a post moves the box's counter
    and its sender's base, never the other members' rows; an ack sets the base to the
    box's counter. ``unread_count`` is the pre-0003 column, no longer maintained.
    """

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("box_id", "identity_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    join_event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    unread_base: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def unread(box: BoxRow, membership: MembershipRow | None) -> int:
    """``membership``'s unread count in ``box`` (0 when not an active member)."""
    if membership is None or not membership.active:
        return 0
    return max(0, box.unread_seq - membership.unread_base)
