"""Exactly-once creation with the ``Idempotency-Key`` header (PROTOCOL §10.12).

A creating route builds one :class:`Idempotency` per request and uses it like this::

    idem = idempotency(request, db, scope=caller.id, fingerprint=json_fingerprint(request, body))
    async with idem.guard():
        thing = await service.create(db, ...)          # flushes, does not commit
        response = await idem.record(201, view(thing))  # the key row, same transaction
        await db.commit()                               # both, or neither
    return response

- No key: ``record`` only renders the response; nothing else happens.
- A new key: ``record`` inserts the key row with the response in the transaction
  that creates the thing (one ``INSERT … ON CONFLICT DO UPDATE … WHERE expired``).
- The key is already recorded (a retry, or a request that was in flight at the same
  time and committed first): the insert finds a live row, the transaction is rolled
  back (nothing is created twice), and the stored response is replayed, or, if the
  fingerprint differs, :class:`KeyReused` (409) is raised.
- The request fails with a protocol error (e.g. "already a member", "box closed" on a
  retry): ``guard`` looks the key up and replays the stored response if there is one.

Replays are raised as :class:`Replay`, which the app answers with the stored response.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Row, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boxtui.core.timefmt import utcnow
from boxtui.server.errors import ApiError, BadRequest, Conflict
from boxtui.server.idempotency.models import IdempotencyKeyRow

log = logging.getLogger("boxtui.server")

HEADER = "Idempotency-Key"
#: Set to ``true`` on a response replayed from the stored one.
REPLAYED_HEADER = "Idempotent-Replayed"
#: Response headers stored and replayed with the body.
KEPT_HEADERS = ("etag",)
MAX_KEY_LENGTH = 255
#: RFC 8941 sf-string: ``"…"`` with ``\"`` and ``\\`` escapes, printable ASCII inside.
_SF_STRING = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$')
#: The unquoted form many clients send: printable ASCII without space, ``"``, ``,`` or ``\``.
_BARE = re.compile(r"^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$")
#: Where :class:`BodyDigestMiddleware` leaves the running digest of a request body.
_DIGEST_SCOPE_KEY = "boxtui.body_digest"


class Replay(Exception):
    """Answer with the response stored for this key (handled by the app)."""

    def __init__(self, response: Response):
        super().__init__("idempotent replay")
        self.response = response


class KeyReused(Conflict):
    """The key was recorded for a different request (another body, path or method)."""

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used for a different request: send a new key for a new request",
            {"idempotency-key": "conflict"},
            origin="headers",
        )


def parse_key(values: list[str]) -> str | None:
    """The key of an ``Idempotency-Key`` header (``None`` when absent), else 400.

    Accepts the draft's sf-string (``"8e03978e-…"``) and the bare value
    (``8e03978e-…``): both name the same key.
    """
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("send one Idempotency-Key header", {"idempotency-key": "malformed"}, origin="headers")
    raw = values[0].strip()
    if match := _SF_STRING.match(raw):
        key = re.sub(r"\\(.)", r"\1", match.group(1))
    elif _BARE.match(raw):
        key = raw
    else:
        key = ""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(
            f'Idempotency-Key must be a quoted string ("…") or a token of 1 to {MAX_KEY_LENGTH} printable ASCII characters',
            {"idempotency-key": "malformed"},
            origin="headers",
        )
    return key


# --- fingerprints ---------------------------------------------------------------------


def _fingerprint(request: Request, payload: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(payload)
    return digest.hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def json_fingerprint(request: Request, body: BaseModel | Any, exclude: Iterable[str] = (), **extra: Any) -> str:
    """Fingerprint of a JSON body: its canonical form (sorted keys, no spaces).

    ``exclude`` leaves top-level fields out (secrets never stored even as a hash);
    ``extra`` adds request parts that change its meaning (``If-Match``).
    """
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else jsonable_encoder(body)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in set(exclude)}
    return _fingerprint(request, canonical_json({"body": data, **extra}))


def form_fingerprint(request: Request, fields: dict[str, str], file_field: str, file_sha256: str) -> str:
    """Fingerprint of a multipart upload: its fields and the SHA-256 of its file part.

    The multipart framing (boundary, part order, headers) is left out, so a client
    that rebuilds the body for a retry gets the same fingerprint.
    """
    return _fingerprint(request, canonical_json({**fields, file_field: f"sha256:{file_sha256}"}))


def body_fingerprint(request: Request) -> str | None:
    """Fingerprint of a raw body (``message/rfc822``), hashed as it streamed in.

    ``None`` for a request without ``Idempotency-Key`` (its body is not hashed).
    """
    digest = request.scope.get(_DIGEST_SCOPE_KEY)
    if digest is None:
        return None
    if not digest.complete:
        raise RuntimeError("the request body was not read to the end")
    return _fingerprint(request, digest.hexdigest().encode())


class _BodyDigest:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.complete = False

    def update(self, chunk: bytes, more: bool) -> None:
        self._hash.update(chunk)
        self.complete = not more

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class BodyDigestMiddleware:
    """Hashes the body of requests that carry ``Idempotency-Key`` as it streams in.

    Pure ASGI: the body is never buffered, whoever reads it (PROTOCOL §10.12).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not any(name == b"idempotency-key" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        digest = scope[_DIGEST_SCOPE_KEY] = _BodyDigest()

        async def hashing_receive():
            message = await receive()
            if message["type"] == "http.request":
                digest.update(message.get("body", b""), message.get("more_body", False))
            return message

        await self.app(scope, hashing_receive, send)


# --- the key's life ---------------------------------------------------------------------


def render_json(status: int, content: Any, headers: dict[str, str] | None = None) -> Response:
    """The JSON response as FastAPI would send it, built once so a replay is byte-identical."""
    return JSONResponse(jsonable_encoder(content), status_code=status, headers=headers)


class Idempotency:
    """The ``Idempotency-Key`` of one request and what to do with it (see the module doc)."""

    def __init__(self, db: AsyncSession, key: str | None, scope: str, ttl_seconds: int, fingerprint: str | None = None):
        self.db = db
        self.key = key
        self.scope = scope
        self.ttl_seconds = ttl_seconds
        #: Set before ``record`` (uploads know it only once the body is in).
        self.fingerprint = fingerprint

    async def _live_row(self) -> Row | None:
        """The live record as plain values (they outlive the rollback that follows)."""
        result = await self.db.execute(
            select(IdempotencyKeyRow.fingerprint, IdempotencyKeyRow.status, IdempotencyKeyRow.body, IdempotencyKeyRow.headers).where(
                IdempotencyKeyRow.scope == self.scope,
                IdempotencyKeyRow.key == self.key,
                IdempotencyKeyRow.expires_at > utcnow(),
            )
        )
        return result.first()

    def _answer(self, row: Row) -> Exception:
        if row.fingerprint != self.fingerprint:
            return KeyReused()
        headers = {**row.headers, REPLAYED_HEADER: "true"}
        return Replay(Response(row.body.encode(), status_code=row.status, media_type="application/json", headers=headers))

    async def recorded(self) -> bool:
        """Whether the key already has a live record (for routes that must know before the body).

        Leaves the read transaction open: the caller ends it before reading a long body.
        """
        if self.key is None:
            return False
        return await self._live_row() is not None

    async def replay(self) -> None:
        """Raise the stored answer (``Replay`` or ``KeyReused``); the fingerprint must be set."""
        row = await self._live_row()
        await self.db.rollback()
        if row is None:
            raise Conflict("the request with this Idempotency-Key is gone: send it again", {"idempotency-key": "conflict"}, origin="headers")
        raise self._answer(row)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Turn a protocol error of a request whose key is already recorded into the replay."""
        try:
            yield
        except KeyReused:
            raise
        except ApiError:
            if self.key is None or self.fingerprint is None:
                raise
            await self.db.rollback()
            row = await self._live_row()
            await self.db.rollback()
            if row is None:
                raise
            raise self._answer(row) from None

    async def record(self, status: int, content: Any, headers: dict[str, str] | None = None) -> Response:
        """Render the response and, with a key, add its record to the open transaction.

        The caller commits. A live record for the key already there means another
        request with this key committed first: this transaction is rolled back and that
        request's response is replayed (or ``KeyReused`` raised).
        """
        response = render_json(status, content, headers)
        if self.key is None:
            return response
        if self.fingerprint is None:
            raise RuntimeError("Idempotency.record before the fingerprint is known")
        now = utcnow()
        values = dict(
            scope=self.scope,
            key=self.key,
            fingerprint=self.fingerprint,
            status=status,
            body=bytes(response.body).decode(),
            headers={k.lower(): v for k, v in (headers or {}).items() if k.lower() in KEPT_HEADERS},
            created_at=now,
            expires_at=now + timedelta(seconds=self.ttl_seconds),
        )
        dialect = postgresql if self.db.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(IdempotencyKeyRow).values(**values)
        # One statement: insert; or take over an expired record; or (live) do nothing.
        statement = statement.on_conflict_do_update(
            index_elements=[IdempotencyKeyRow.scope, IdempotencyKeyRow.key],
            set_={name: statement.excluded[name] for name in values if name not in ("scope", "key")},
            where=IdempotencyKeyRow.expires_at <= now,
        ).returning(IdempotencyKeyRow.scope)
        if (await self.db.execute(statement)).first() is None:
            await self.db.rollback()
            await self.replay()
        return response

    async def commit(self, status: int, content: Any, headers: dict[str, str] | None = None) -> Response:
        """``record``, then commit the session."""
        response = await self.record(status, content, headers)
        await self.db.commit()
        return response


def idempotency(request: Request, db: AsyncSession, scope: str, fingerprint: str | None = None) -> Idempotency:
    """The :class:`Idempotency` of this request (400 for a malformed key)."""
    key = parse_key(request.headers.getlist(HEADER))
    return Idempotency(db, key, scope, request.app.state.settings.idempotency_ttl_seconds, fingerprint)


async def purge_expired(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Delete expired key records; returns how many went."""
    async with sessionmaker() as db:
        result = await db.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at <= utcnow()))
        await db.commit()
        return result.rowcount or 0
