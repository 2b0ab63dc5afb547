"""Accounts, one-time codes, login and sessions (PROTOCOL §2).

Passwords are Argon2id hashes (argon2-cffi, costs from the settings, computed in a
thread). Login codes are 6 digits, stored as a SHA-256 keyed by the code row id,
live ``code_ttl_seconds`` and die after ``code_max_attempts`` wrong tries; at most
``login_max_failures`` codes are sent per e-mail within the failure window. Every
failed login is recorded; once **more than** ``login_max_failures`` failures for one
(e-mail, client address), or more than ``login_max_failures_per_address`` from one
client address whatever the e-mails, fall within the window, logins answer 429
until the window has passed (a guesser cannot spread one guess over many accounts).

Signup may carry a login code for its e-mail (required with ``signup_requires_code``):
it is checked like a code login, so a wrong one counts as a failed login.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import logging
import secrets
import smtplib
from datetime import timedelta
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.ids import new_id
from boxtui.core.timefmt import as_utc, format_time, utcnow
from boxtui.server.auth import repository
from boxtui.server.auth.deps import Caller, hash_token
from boxtui.server.auth.models import AuthSessionRow, IdentityRow, LoginCodeRow, LoginFailureRow
from boxtui.server.errors import BadRequest, Conflict, ServiceUnavailable, TooManyRequests, Unauthorized
from boxtui.server.identities import repository as identities
from boxtui.server.identities.service import own_identity
from boxtui.server.mailer import send_login_code
from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server.auth")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def normalize_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[str, AfterValidator(normalize_email), WithJsonSchema({"type": "string", "format": "email", "maxLength": 320})]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignupBody(_Body):
    email: Email
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    display_name: str = Field(min_length=1, max_length=100)
    #: A login code for ``email``: proves the caller receives its mail.
    code: str | None = Field(default=None, max_length=32)


class CodeBody(_Body):
    email: Email


class LoginBody(_Body):
    email: Email
    password: str | None = Field(default=None, max_length=MAX_PASSWORD)
    code: str | None = Field(default=None, max_length=32)


def password_hasher(settings: ServerSettings) -> PasswordHasher:
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


def _code_hash(code_id: str, code: str) -> str:
    return hmac.new(code_id.encode(), code.encode(), hashlib.sha256).hexdigest()


async def signup(db: AsyncSession, settings: ServerSettings, body: SignupBody, client_addr: str) -> dict[str, Any]:
    display_name = body.display_name.strip()
    if not display_name:
        raise BadRequest("display_name cannot be empty", {"display_name": "invalid"}, origin="body")
    if body.code is None and settings.signup_requires_code:
        raise BadRequest(
            "this server signs up only with a code sent to the e-mail: ask one with POST /auth/code",
            {"code": "required"},
            origin="body",
        )
    row = await identities.by_email(db, body.email)
    if body.code is not None:
        await _refuse_when_limited(db, settings, body.email, client_addr)
        if not await _check_code(db, settings, row, body.code):
            raise await _fail(db, body.email, client_addr)
    password_hash = await asyncio.to_thread(password_hasher(settings).hash, body.password)
    if row is not None and row.password_hash is not None:
        raise Conflict("an account with this e-mail already exists", {"email": "conflict"}, origin="body")
    if row is None:
        # An identity without account (made by a code request) becomes an account.
        row = IdentityRow(id=new_id(), email=body.email, display_name=display_name, created_at=utcnow())
        db.add(row)
    row.display_name = display_name
    row.password_hash = password_hash
    try:
        await db.flush()  # the route commits, with its Idempotency-Key record (PROTOCOL §10.12)
    except IntegrityError:
        await db.rollback()
        raise Conflict("an account with this e-mail already exists", {"email": "conflict"}, origin="body") from None
    return own_identity(row)


async def ensure_identity(db: AsyncSession, email: str) -> IdentityRow:
    """The identity for ``email``, created without account when unknown."""
    row = await identities.by_email(db, email)
    if row is None:
        row = IdentityRow(id=new_id(), email=email, display_name=email.split("@", 1)[0][:100], created_at=utcnow())
        db.add(row)
        await db.flush()
    return row


async def request_code(db: AsyncSession, settings: ServerSettings, email: str) -> None:
    try:
        identity = await ensure_identity(db, email)
    except IntegrityError:  # created by a concurrent request
        await db.rollback()
        identity = await ensure_identity(db, email)
    now = utcnow()
    window_start = now - timedelta(seconds=settings.login_failure_window_seconds)
    if await repository.count_codes_since(db, identity.id, window_start) >= settings.login_max_failures:
        raise TooManyRequests("too many codes asked for this e-mail; try again later", {"email": "forbidden"}, origin="body")
    await repository.retire_codes(db, identity.id)
    code = f"{secrets.randbelow(10**6):06d}"
    row = LoginCodeRow(id=new_id(), identity_id=identity.id, created_at=now, expires_at=now + timedelta(seconds=settings.code_ttl_seconds), attempts=0, consumed=False)
    row.code_hash = _code_hash(row.id, code)
    db.add(row)
    await db.commit()
    try:
        await send_login_code(settings, email, code)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("could not send the login code to %s: %s", email, exc)
        raise ServiceUnavailable("the login code could not be sent (the mail server did not take it); try again later") from None


async def _fail(db: AsyncSession, email: str, client_addr: str, desc: str = "wrong e-mail or credentials") -> Unauthorized:
    db.add(LoginFailureRow(email=email, client_addr=client_addr, created_at=utcnow()))
    await db.commit()
    return Unauthorized(desc, origin="body")


async def _check_password(settings: ServerSettings, row: IdentityRow | None, password: str) -> bool:
    hasher = password_hasher(settings)
    if row is None or row.password_hash is None:
        # Same work for unknown e-mails, so timing does not tell who has an account.
        await asyncio.to_thread(hasher.hash, password)
        return False
    try:
        return await asyncio.to_thread(hasher.verify, row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _check_code(db: AsyncSession, settings: ServerSettings, row: IdentityRow | None, code: str) -> bool:
    if row is None:
        return False
    live = await repository.live_code(db, row.id)
    if live is None or as_utc(live.expires_at) <= utcnow() or live.attempts >= settings.code_max_attempts:
        return False
    if hmac.compare_digest(live.code_hash, _code_hash(live.id, code.strip())):
        live.consumed = True
        return True
    live.attempts += 1
    if live.attempts >= settings.code_max_attempts:
        live.consumed = True
    return False


async def _refuse_when_limited(db: AsyncSession, settings: ServerSettings, email: str, client_addr: str) -> None:
    """429 once ``email`` has failed too often from ``client_addr``, or ``client_addr``
    too often across e-mails, within the window (PROTOCOL §2, §10.14)."""
    window_start = utcnow() - timedelta(seconds=settings.login_failure_window_seconds)
    for_email, for_address = await repository.count_failures(db, email, client_addr, window_start)
    if for_email > settings.login_max_failures:
        raise TooManyRequests("too many failed logins; try again later", {"email": "forbidden"}, origin="body")
    if for_address > settings.login_max_failures_per_address:
        raise TooManyRequests("too many failed logins from this address; try again later", {"client": "forbidden"}, origin="headers")


async def login(db: AsyncSession, settings: ServerSettings, body: LoginBody, client_addr: str) -> dict[str, Any]:
    if (body.password is None) == (body.code is None):
        raise BadRequest("send either a password or a code", {"password": "required", "code": "required"}, origin="body")
    await _refuse_when_limited(db, settings, body.email, client_addr)
    now = utcnow()
    window_start = now - timedelta(seconds=settings.login_failure_window_seconds)
    row = await identities.by_email(db, body.email)
    if body.password is not None:
        ok, acr = await _check_password(settings, row, body.password), 2
    else:
        ok, acr = await _check_code(db, settings, row, body.code), 1
    if not ok:
        raise await _fail(db, body.email, client_addr)
    await repository.forget_failures_before(db, window_start)
    token = secrets.token_urlsafe(32)
    session = AuthSessionRow(
        id=new_id(),
        token_hash=hash_token(token),
        identity_id=row.id,
        acr=acr,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.token_ttl_seconds),
        revoked=False,
    )
    db.add(session)
    await db.commit()
    return {
        "access_token": token,
        "token_type": "bearer",
        "acr": acr,
        "expires_at": format_time(session.expires_at),
        "csrf_token": session.csrf_token,
        "identity": own_identity(row),
    }


async def logout(db: AsyncSession, caller: Caller) -> None:
    # An UPDATE, not the caller's row: that row may come from the read session (deps).
    await db.execute(update(AuthSessionRow).where(AuthSessionRow.id == caller.session.id).values(revoked=True))
    await db.commit()
    caller.session.revoked = True


def session_info(caller: Caller) -> dict[str, Any]:
    return {
        "identity": own_identity(caller.identity),
        "acr": caller.acr,
        "expires_at": format_time(caller.session.expires_at),
        "csrf_token": caller.session.csrf_token,
    }
