"""The stored answer of a request made with an ``Idempotency-Key`` (PROTOCOL §10.12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from boxtui.server.db import Base


class IdempotencyKeyRow(Base):
    """One key of one scope (an identity, or ``signup:<e-mail>``) and the response it got.

    Written in the same transaction as whatever the request created, so the two
    exist together or not at all.
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(400), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: SHA-256 (hex) of the method, the path and the body (PROTOCOL §10.12).
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    #: The response body exactly as it was sent (JSON text).
    body: Mapped[str] = mapped_column(Text)
    #: Response headers a replay repeats (``ETag``), lower-case names.
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
