"""Identity views (with the privacy rule of PROTOCOL §1) and profile updates (§2).

``identity_view(row, viewer_id, admin_id)`` is the one place that decides who sees an
e-mail: the identity itself and the admin of the box the view is shown in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.encoding import b64_decode_any
from boxtui.server.auth.deps import Caller
from boxtui.server.auth.models import IdentityRow
from boxtui.server.errors import BadRequest, Forbidden
from boxtui.server.identities import repository

KEY_BYTES = 32


def decode_b64u(value: str) -> bytes:
    """Decode b64u (URL-safe, unpadded: PROTOCOL §1); raises ``ValueError`` otherwise."""
    if "+" in value or "/" in value or "=" in value:
        raise ValueError("must be URL-safe base64 without padding")
    try:
        return b64_decode_any(value)
    except ValueError:
        raise ValueError("not base64") from None


def check_public_key(value: str) -> str:
    """A b64u X25519 public key (32 bytes); raises ``ValueError`` otherwise."""
    if len(decode_b64u(value)) != KEY_BYTES:
        raise ValueError("public_key must be 32 bytes")
    return value


def identity_view(row: IdentityRow, viewer_id: str | None, admin_id: str | None = None) -> dict[str, Any]:
    """The identity view; the e-mail only for the identity itself and the box admin."""
    shown = viewer_id is not None and viewer_id in (row.id, admin_id)
    return {
        "id": row.id,
        "display_name": row.display_name,
        "avatar_url": row.avatar_url,
        "identifier_value": row.email if shown else "",
        "identifier_kind": "email" if shown else "",
    }


def own_identity(row: IdentityRow) -> dict[str, Any]:
    """The caller's own identity (wire model ``Identity``)."""
    return {
        **identity_view(row, row.id),
        "public_key": row.public_key,
        "has_account": row.password_hash is not None,
    }


class IdentityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    avatar_url: str | None = Field(default=None, max_length=2048)
    public_key: str | None = None

    @field_validator("avatar_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("avatar_url must be an http(s) URL")
        return value

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else check_public_key(value)


async def update_identity(db: AsyncSession, caller: Caller, identity_id: str, patch: IdentityPatch) -> dict[str, Any]:
    if identity_id != caller.id:
        raise Forbidden("you can only change your own identity", {"id": "forbidden"}, origin="path")
    row = await repository.get(db, caller.id)
    fields = patch.model_fields_set
    if "display_name" in fields:
        if patch.display_name is None or not patch.display_name.strip():
            raise BadRequest("display_name cannot be empty", {"display_name": "invalid"}, origin="body")
        row.display_name = patch.display_name.strip()
    if "avatar_url" in fields:
        row.avatar_url = patch.avatar_url
    if "public_key" in fields:
        row.public_key = patch.public_key
    await db.commit()
    return own_identity(row)


async def public_keys_for(db: AsyncSession, email: str) -> list[str]:
    row = await repository.by_email(db, email)
    return [row.public_key] if row is not None and row.public_key else []
