"""Encrypted blobs. The bytes live under ``data_dir/blobs``; rows hold sizes for quotas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from boxtui.server.db import Base


class EncryptedFileRow(Base):
    __tablename__ = "encrypted_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    uploader_id: Mapped[str] = mapped_column(ForeignKey("identities.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
