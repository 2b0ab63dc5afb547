"""SQL for key shares, crypto actions and the key backup (PROTOCOL §7).

Functions flush but never commit: the calling service owns the transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.ids import new_id
from boxtui.core.timefmt import utcnow
from boxtui.server.errors import Conflict
from boxtui.server.keys.models import BoxKeyShareRow, CryptoActionRow, SecretStorageRow

CRYPTO_ACTION_TYPES = frozenset({"invitation", "set_box_key_share"})


async def replace_key_share(
    db: AsyncSession,
    box_id: str,
    misakey_share: str,
    other_share_hash: str,
    encrypted_invitation_key_share: str,
) -> BoxKeyShareRow:
    """Make this the box's only key share: earlier invitation links stop working.

    Used by ``POST /boxes`` (``key_share``) and ``state.key_share``. The caller has
    validated the three strings' shapes. A hash already held by *another* box is a
    ``409`` (it would make that box's link open this one).
    """
    holder = await db.scalar(select(BoxKeyShareRow.box_id).where(BoxKeyShareRow.other_share_hash == other_share_hash))
    if holder is not None and holder != box_id:
        raise Conflict("this invitation share is already used by another box", {"other_share_hash": "conflict"}, origin="body")
    await db.execute(delete(BoxKeyShareRow).where(BoxKeyShareRow.box_id == box_id))
    row = BoxKeyShareRow(
        other_share_hash=other_share_hash,
        box_id=box_id,
        misakey_share=misakey_share,
        encrypted_invitation_key_share=encrypted_invitation_key_share,
        created_at=utcnow(),
    )
    db.add(row)
    await db.flush()
    return row


async def key_share_by_hash(db: AsyncSession, other_share_hash: str) -> BoxKeyShareRow | None:
    return await db.get(BoxKeyShareRow, other_share_hash)


async def key_share_of_box(db: AsyncSession, box_id: str) -> BoxKeyShareRow | None:
    return await db.scalar(select(BoxKeyShareRow).where(BoxKeyShareRow.box_id == box_id))


async def add_crypto_action(
    db: AsyncSession,
    identity_id: str,
    type: str,
    box_id: str,
    encryption_public_key: str | None,
    encrypted: str,
) -> CryptoActionRow:
    """Queue a crypto action for ``identity_id``; ``row.id`` is the ``cryptoaction_id``.

    ``type`` is ``invitation`` (auto-invite) or ``set_box_key_share`` (link rotation).
    """
    if type not in CRYPTO_ACTION_TYPES:
        raise ValueError(f"unknown crypto action type {type!r}")
    row = CryptoActionRow(
        id=new_id(),
        identity_id=identity_id,
        type=type,
        box_id=box_id,
        encryption_public_key=encryption_public_key,
        encrypted=encrypted,
        created_at=utcnow(),
    )
    db.add(row)
    await db.flush()
    return row


async def crypto_actions_of(db: AsyncSession, identity_id: str, offset: int, limit: int) -> list[CryptoActionRow]:
    rows = await db.scalars(
        select(CryptoActionRow)
        .where(CryptoActionRow.identity_id == identity_id)
        .order_by(CryptoActionRow.seq)
        .offset(offset)
        .limit(limit)
    )
    return list(rows)


async def count_crypto_actions(db: AsyncSession, identity_id: str) -> int:
    return await db.scalar(
        select(func.count()).select_from(CryptoActionRow).where(CryptoActionRow.identity_id == identity_id)
    )


async def delete_crypto_action(db: AsyncSession, identity_id: str, action_id: str) -> bool:
    """Delete one of ``identity_id``'s actions; False when there is no such action of theirs."""
    result = await db.execute(
        delete(CryptoActionRow).where(CryptoActionRow.id == action_id, CryptoActionRow.identity_id == identity_id)
    )
    return result.rowcount > 0


async def secret_storage_of(db: AsyncSession, identity_id: str) -> SecretStorageRow | None:
    return await db.get(SecretStorageRow, identity_id)


async def create_secret_storage(db: AsyncSession, identity_id: str, data: str) -> SecretStorageRow:
    row = SecretStorageRow(identity_id=identity_id, version=1, data=data, updated_at=utcnow())
    db.add(row)
    await db.flush()
    return row


async def update_secret_storage(db: AsyncSession, identity_id: str, expected_version: int, data: str) -> int | None:
    """Compare-and-set: the new version, or None when ``expected_version`` is not current."""
    result = await db.execute(
        update(SecretStorageRow)
        .where(SecretStorageRow.identity_id == identity_id, SecretStorageRow.version == expected_version)
        .values(version=expected_version + 1, data=data, updated_at=utcnow())
    )
    return expected_version + 1 if result.rowcount == 1 else None
