"""SQL for accounts, sessions, login codes and login failures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.server.auth.models import AuthSessionRow, LoginCodeRow, LoginFailureRow


async def count_failures(db: AsyncSession, email: str, client_addr: str, since: datetime) -> tuple[int, int]:
    """Failures since ``since`` from ``client_addr``: (for ``email``, for any e-mail)."""
    for_email = func.count().filter(LoginFailureRow.email == email)
    query = select(for_email, func.count()).where(LoginFailureRow.client_addr == client_addr, LoginFailureRow.created_at > since)
    row = (await db.execute(query)).one()
    return int(row[0]), int(row[1])


async def forget_failures_before(db: AsyncSession, before: datetime) -> None:
    await db.execute(delete(LoginFailureRow).where(LoginFailureRow.created_at <= before))


async def retire_codes(db: AsyncSession, identity_id: str) -> None:
    await db.execute(update(LoginCodeRow).where(LoginCodeRow.identity_id == identity_id, LoginCodeRow.consumed.is_(False)).values(consumed=True))


async def live_code(db: AsyncSession, identity_id: str) -> LoginCodeRow | None:
    query = (
        select(LoginCodeRow)
        .where(LoginCodeRow.identity_id == identity_id, LoginCodeRow.consumed.is_(False))
        .order_by(LoginCodeRow.created_at.desc())
        .limit(1)
    )
    return (await db.execute(query)).scalar_one_or_none()


async def count_codes_since(db: AsyncSession, identity_id: str, since: datetime) -> int:
    query = select(func.count()).select_from(LoginCodeRow).where(LoginCodeRow.identity_id == identity_id, LoginCodeRow.created_at > since)
    return int((await db.execute(query)).scalar_one())


async def ended_sessions(db: AsyncSession, session_ids: Iterable[str], now: datetime) -> list[str]:
    """Those of ``session_ids`` that were revoked, expired, or no longer exist."""
    ids = sorted(set(session_ids))
    if not ids:
        return []
    live = select(AuthSessionRow.id).where(AuthSessionRow.id.in_(ids), AuthSessionRow.revoked.is_(False), AuthSessionRow.expires_at > now)
    alive = set(await db.scalars(live))
    return [session_id for session_id in ids if session_id not in alive]
