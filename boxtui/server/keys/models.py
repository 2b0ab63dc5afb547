"""Key shares for invitation links, crypto actions, and the key backup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from boxtui.server.db import Base, BigIntPK


class BoxKeyShareRow(Base):
    """The server half of a box key split (PROTOCOL §7); one live row per box."""

    __tablename__ = "box_key_shares"

    other_share_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"), index=True)
    misakey_share: Mapped[str] = mapped_column(Text)
    encrypted_invitation_key_share: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CryptoActionRow(Base):
    __tablename__ = "crypto_actions"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"), index=True)
    encryption_public_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SecretStorageRow(Base):
    __tablename__ = "secret_storage"

    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
