"""Saved files: a personal space of references to encrypted blobs (seed 003)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from boxtui.server.db import Base


class SavedFileRow(Base):
    __tablename__ = "saved_files"
    __table_args__ = (UniqueConstraint("identity_id", "encrypted_file_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    encrypted_file_id: Mapped[str] = mapped_column(ForeignKey("encrypted_files.id"), index=True)
    encrypted_metadata: Mapped[str] = mapped_column(Text)
    key_fingerprint: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
