"""Keys between people (PROTOCOL §7): invitation key shares, crypto actions, key backup.

The server stores these opaque strings and checks who may read them; it can decrypt
none of them.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.encoding import b64_decode_any
from boxtui.core.timefmt import format_time
from boxtui.core.wire import CryptoAction, KeyShare, PublicBox, SecretStorage
from boxtui.server.auth.deps import Caller, require_uuid
from boxtui.server.boxes import repository as boxes_repo
from boxtui.server.boxes import service as boxes_service
from boxtui.server.boxes.schemas import INVITATION_SHARE_HASH, SHA512_BYTES
from boxtui.server.errors import BadRequest, Forbidden, NotFound, PreconditionFailed
from boxtui.server.identities import repository as identities
from boxtui.server.identities.service import identity_view
from boxtui.server.keys import repository
from boxtui.server.keys.models import CryptoActionRow

_IF_MATCH_RE = re.compile(r'^(?:W/)?"(\d{1,9})"$')


def require_share_hash(value: str | None, origin: str) -> str:
    """``400`` unless ``value`` is a base64 SHA-512 digest (required or malformed).

    Either alphabet is read, as when the share is stored (clients send b64u).
    """
    if not value:
        raise BadRequest("other_share_hash is required", {"other_share_hash": "required"}, origin=origin)
    try:
        digest = b64_decode_any(value) if len(value) <= 128 else b""
    except ValueError:
        digest = b""
    if len(digest) != SHA512_BYTES:
        raise BadRequest("other_share_hash is not a base64 SHA-512 hash", {"other_share_hash": "malformed"}, origin=origin)
    return value


def crypto_action_view(row: CryptoActionRow) -> CryptoAction:
    return CryptoAction(
        id=row.id,
        type=row.type,
        box_id=row.box_id,
        encryption_public_key=row.encryption_public_key,
        encrypted=row.encrypted,
        created_at=format_time(row.created_at),
    )


async def key_share_by_hash(db: AsyncSession, caller: Caller, other_share_hash: str) -> KeyShare:
    """``GET /box-key-shares/{hash}``: the server share, for members of its box.

    Unknown hash → 404 (a SHA-512 cannot be guessed, so this is no oracle); a box the
    caller is not in → 403.
    """
    require_share_hash(other_share_hash, "path")
    row = await repository.key_share_by_hash(db, other_share_hash)
    if row is None:
        raise NotFound("no key share with this hash", {"other_share_hash": "not_found"}, origin="path")
    await boxes_service.require_member(db, row.box_id, caller)
    # Both generations of names (PROTOCOL §10.13): the seeds' and the later reference's.
    return KeyShare(
        other_share_hash=row.other_share_hash,
        invitation_share_hash=row.other_share_hash,
        share=row.misakey_share,
        misakey_share=row.misakey_share,
        box_id=row.box_id,
    )


async def encrypted_invitation_key_share(db: AsyncSession, caller: Caller, box_id: str | None) -> str | None:
    """The current link share sealed to the box key (None when the box has no link)."""
    if not box_id:
        raise BadRequest("box_id is required", {"box_id": "required"}, origin="query")
    require_uuid(box_id, "box_id", "query")
    await boxes_service.require_member(db, box_id, caller)
    row = await repository.key_share_of_box(db, box_id)
    return row.encrypted_invitation_key_share if row is not None else None


def share_hash_query(query) -> str | None:
    """The link hash of a query: ``other_share_hash`` or ``invitation_share_hash`` (PROTOCOL §10.13).

    Both may be given if they are equal; two different values → 400 ``invalid``.
    """
    ours, theirs = query.get("other_share_hash"), query.get(INVITATION_SHARE_HASH)
    if ours is not None and theirs is not None and ours != theirs:
        raise BadRequest(
            "other_share_hash and invitation_share_hash name the same hash: send one, or the same value twice",
            {INVITATION_SHARE_HASH: "invalid"},
            origin="query",
        )
    return ours if ours is not None else theirs


async def public_box(db: AsyncSession, box_id: str, other_share_hash: str | None) -> PublicBox:
    """``GET /boxes/{id}/public``: title and creator for whoever holds an invitation link.

    Missing or malformed hash → 400; unknown hash → 404; a hash of another box → 403.
    """
    require_uuid(box_id, "box_id", "path")
    require_share_hash(other_share_hash, "query")
    row = await repository.key_share_by_hash(db, other_share_hash)
    if row is None:
        raise NotFound("this invitation link is unknown or has been replaced", {"other_share_hash": "not_found"}, origin="query")
    if row.box_id != box_id:
        raise Forbidden("this invitation link is for another box", {"other_share_hash": "forbidden"}, origin="query")
    box = await boxes_repo.get_box(db, box_id)
    creator = await identities.get(db, box.creator_id)
    return PublicBox(title=box.title, creator=identity_view(creator, None))


async def list_crypto_actions(db: AsyncSession, caller_id: str, offset: int, limit: int) -> list[CryptoAction]:
    rows = await repository.crypto_actions_of(db, caller_id, offset, limit)
    return [crypto_action_view(row) for row in rows]


async def count_crypto_actions(db: AsyncSession, caller_id: str) -> int:
    return await repository.count_crypto_actions(db, caller_id)


async def delete_crypto_action(db: AsyncSession, caller_id: str, action_id: str) -> None:
    """Someone else's action answers 404 like an unknown one (no existence oracle)."""
    require_uuid(action_id, "id", "path")
    if not await repository.delete_crypto_action(db, caller_id, action_id):
        raise NotFound("no such crypto action", {"id": "not_found"}, origin="path")
    await db.commit()


async def get_secret_storage(db: AsyncSession, caller_id: str) -> SecretStorage:
    row = await repository.secret_storage_of(db, caller_id)
    if row is None:
        raise NotFound("no key backup stored yet", {"secret_storage": "not_found"})
    return SecretStorage(version=row.version, data=row.data)


def _if_match_required() -> PreconditionFailed:
    return PreconditionFailed("a key backup exists: send If-Match with its current version", {"if-match": "required"}, origin="headers")


def etag(version: int) -> str:
    return f'"{version}"'


async def put_secret_storage(db: AsyncSession, caller_id: str, data: str, if_match: str | None) -> int:
    """Store a new version: the first without ``If-Match``, later ones with the current ETag.

    Missing or stale ``If-Match`` on an existing backup → 412; ``If-Match`` when there is
    none yet → 412; an unparsable one → 400. Returns the new version; the route commits.
    """
    if if_match is None:
        if await repository.secret_storage_of(db, caller_id) is not None:
            raise _if_match_required()
        try:
            row = await repository.create_secret_storage(db, caller_id, data)
        except IntegrityError:
            await db.rollback()
            raise _if_match_required() from None
        return row.version
    match = _IF_MATCH_RE.match(if_match.strip())
    if match is None:
        raise BadRequest('If-Match must be "<version>"', {"if-match": "malformed"}, origin="headers")
    version = await repository.update_secret_storage(db, caller_id, int(match.group(1)), data)
    if version is None:
        raise PreconditionFailed("the key backup changed since you read it", {"if-match": "invalid"}, origin="headers")
    return version
