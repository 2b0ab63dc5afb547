"""Who is calling: bearer token or cookies (+ CSRF), and the ACR they reached (PROTOCOL §2)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.timefmt import utcnow
from boxtui.server.auth.models import AuthSessionRow, IdentityRow
from boxtui.server.db import get_db
from boxtui.server.errors import BadRequest, Forbidden, Unauthorized

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    identity: IdentityRow
    session: AuthSessionRow

    @property
    def id(self) -> str:
        return self.identity.id

    @property
    def acr(self) -> int:
        return self.session.acr


def _as_aware(dt):
    from datetime import timezone

    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def extract_token(headers, cookies, method: str) -> tuple[str, bool]:
    """Return (token, via_cookie). Raises 401/400 per PROTOCOL §2."""
    auth = headers.get("authorization")
    cookie_token = cookies.get("accesstoken")
    if auth and cookie_token:
        raise Unauthorized("send either a bearer token or the session cookies, not both", origin="headers")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("malformed Authorization header", {"authorization": "malformed"}, origin="headers")
        return token.strip(), False
    if cookie_token:
        if cookies.get("tokentype", "bearer").lower() != "bearer":
            raise Unauthorized("tokentype cookie must be bearer", {"tokentype": "invalid"}, origin="cookies")
        return cookie_token, True
    raise Unauthorized("authentication required", origin="headers")


async def resolve_token(db: AsyncSession, token: str) -> Caller:
    row = (
        await db.execute(
            select(AuthSessionRow, IdentityRow)
            .join(IdentityRow, IdentityRow.id == AuthSessionRow.identity_id)
            .where(AuthSessionRow.token_hash == hash_token(token))
        )
    ).first()
    if row is None or row[0].revoked or _as_aware(row[0].expires_at) <= utcnow():
        raise Unauthorized("invalid or expired token", origin="headers")
    return Caller(identity=row[1], session=row[0])


async def get_caller(request: Request, db: AsyncSession = Depends(get_db)) -> Caller:
    token, via_cookie = extract_token(request.headers, request.cookies, request.method)
    caller = await resolve_token(db, token)
    if via_cookie and request.method in UNSAFE_METHODS:
        csrf = request.headers.get("x-csrf-token")
        if not csrf:
            raise BadRequest("X-CSRF-Token header required", {"x-csrf-token": "required"}, origin="headers")
        if not hmac.compare_digest(csrf, caller.session.csrf_token):
            raise Forbidden("wrong CSRF token", {"x-csrf-token": "invalid"}, origin="headers")
    return caller


def require_acr(level: int):
    """Dependency factory: the caller, if their session reached ``level``."""

    async def _dep(caller: Caller = Depends(get_caller)) -> Caller:
        if caller.acr < level:
            raise Forbidden(
                f"this action needs ACR {level}: log in with your password",
                {"acr": "forbidden", "required_acr": str(level)},
                origin="acr",
            )
        return caller

    return _dep


acr1 = require_acr(1)
acr2 = require_acr(2)
