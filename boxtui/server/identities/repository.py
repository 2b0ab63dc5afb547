"""SQL for identities."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.server.auth.models import IdentityRow


async def get(db: AsyncSession, identity_id: str) -> IdentityRow | None:
    return await db.get(IdentityRow, identity_id)


async def by_email(db: AsyncSession, email: str) -> IdentityRow | None:
    return (await db.execute(select(IdentityRow).where(IdentityRow.email == email.lower()))).scalar_one_or_none()


async def many(db: AsyncSession, ids: Iterable[str]) -> dict[str, IdentityRow]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = (await db.execute(select(IdentityRow).where(IdentityRow.id.in_(wanted)))).scalars()
    return {row.id: row for row in rows}
