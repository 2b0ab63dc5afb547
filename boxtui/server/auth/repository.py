"""SQL for accounts, sessions, login codes and login failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.server.auth.models import LoginCodeRow, LoginFailureRow


async def count_failures(db: AsyncSession, email: str, client_addr: str, since: datetime) -> int:
    query = select(func.count()).select_from(LoginFailureRow).where(
        LoginFailureRow.email == email, LoginFailureRow.client_addr == client_addr, LoginFailureRow.created_at > since
    )
    return int((await db.execute(query)).scalar_one())


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
