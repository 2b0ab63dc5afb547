"""Who is calling: bearer token or cookies (+ CSRF), and the ACR they reached (PROTOCOL §2)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.ids import is_uuid
from boxtui.core.timefmt import as_utc, utcnow
from boxtui.server.auth.models import AuthSessionRow, IdentityRow
from boxtui.server.db import READ_METHODS, get_db
from boxtui.server.errors import BadRequest, Forbidden, TooLarge, Unauthorized, validation_details

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
    if row is None or row[0].revoked or as_utc(row[0].expires_at) <= utcnow():
        raise Unauthorized("invalid or expired token", origin="headers")
    return Caller(identity=row[1], session=row[0])


async def get_caller(request: Request, db: AsyncSession = Depends(get_db)) -> Caller:
    token, via_cookie = extract_token(request.headers, request.cookies, request.method)
    state = request.app.state
    read_sessions = getattr(state, "read_sessionmaker", None)
    if request.method in READ_METHODS or read_sessions in (None, state.sessionmaker):
        caller = await resolve_token(db, token)
    else:
        # A write on SQLite: who is calling is a read, so it does not take the writer
        # lock (the request's write session takes it at its first statement).
        async with read_sessions() as reader:
            caller = await resolve_token(reader, token)
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


# --- request parsing shared by every domain -------------------------------------------
#
# Routes read JSON bodies and path ids through these instead of FastAPI's own parsing
# so that every failure is the protocol's 400 (never 422), an oversized body is 413,
# and a malformed id is ``{"<field>": "malformed"}``.


def require_uuid(value: str, field: str, origin: str = "path") -> str:
    """``value`` if it is a lower-case UUID, else 400 ``{field: malformed}``."""
    if not is_uuid(value):
        raise BadRequest(f"{field} is not a valid id", {field: "malformed"}, origin=origin)
    return value


async def read_json(request: Request) -> Any:
    """The request body as JSON: 413 over ``settings.max_json_bytes``, 400 if not JSON."""
    limit = request.app.state.settings.max_json_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes", {"body": "too_large"}, origin="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes", {"body": "too_large"}, origin="body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest("a JSON body is required", {"body": "required"}, origin="body")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body is not valid JSON", {"body": "malformed"}, origin="body") from None
    if _has_unstorable_text(data):
        # No text column takes U+0000 (PostgreSQL refuses it) or a lone surrogate
        # (``"\ud83d"`` decodes to a str that is not UTF-8), and no field needs either.
        raise BadRequest("the body contains a NUL character or a lone surrogate", {"body": "invalid"}, origin="body")
    return data


def _unstorable(text: str) -> bool:
    if text.isascii():
        return "\x00" in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in text


def _has_unstorable_text(value: Any) -> bool:
    """Any string in the decoded JSON ``value`` (keys included) is :func:`_unstorable`.

    Iterative: as deep as ``json.loads`` went, whatever the stack left to this request.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _unstorable(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_model(model: type[ModelT], data: Any, origin: str = "body", prefix: tuple[str, ...] = ()) -> ModelT:
    """``model.model_validate(data)`` with failures as the protocol's 400.

    ``prefix`` names where ``data`` sits in the body (``("content",)`` → ``content.encrypted``).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _, details = validation_details([{**e, "loc": (origin, *prefix, *e["loc"])} for e in exc.errors()])
        raise BadRequest("the request body is not valid", details or {"body": "invalid"}, origin=origin) from None


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Read, size-check and validate a JSON body against ``model``."""
    return validate_model(model, await read_json(request))


DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def _query_int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"{name} must be a non-negative integer", {name: "malformed"}, origin="query")
    value = int(raw)
    if maximum is not None and value > maximum:
        raise BadRequest(f"{name} must be at most {maximum}", {name: "invalid"}, origin="query")
    return value


def get_page(request: Request) -> Page:
    """Dependency: ``offset`` (default 0) and ``limit`` (default 500, max 1000), PROTOCOL §1."""
    return Page(offset=_query_int(request, "offset", 0), limit=_query_int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT))

