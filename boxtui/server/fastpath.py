"""The hottest routes without the framework around them (issue 8, PROFILE.md).

``POST /boxes/{id}/events`` with a ``msg.text`` body, the page lists of
``GET /boxes/{id}/events`` (no ``after``/``before`` cursor: the newest page, offset
pages) and the box list ``GET /boxes/joined`` are answered here, by
:class:`FastPathMiddleware`, a pure ASGI layer inside the security-headers middleware
and in front of everything FastAPI does per request (dependency solving, the request
object, SQLAlchemy statements and ORM rows, pydantic models). The SQL is written by
hand on raw driver connections: on SQLite one writer and one reader ``sqlite3``
connection whose statements run inline on the event loop (as
:mod:`boxtui.server.sqlite_driver` does for the engine's own), on PostgreSQL a small
asyncpg pool.

The rule that keeps the protocol as it is: the fast path answers only the happy path it
can prove valid — a bearer token of a live session of ACR ≥ 1, an active member of an
open box, a well-formed ``msg.text`` body (no reply, no ``extra``) within the limits, a
well-formed ``Idempotency-Key`` or none, no cookies — and hands **everything** else to
the FastAPI app untouched (a body it read is given back to the app as it came), so every
error, replay and edge case is the route's own. What it answers is byte for byte what
the route answers (``tests/server/test_fast_path.py`` compares the two, the setting
``fast_path = false`` turns this layer off): the same rows written in the same
transaction (the event, the box's counters, the sender's unread base, the idempotency
record), under the same locks (SQLite: this process's writer lock then ``BEGIN
IMMEDIATE``; PostgreSQL: the box row, taken by the call that places the event),
committed before the answer, then the same realtime envelopes.

Posts share transactions (group commit): the posts that arrive while the previous
transaction runs are written by the next one together, each answered once it is
committed. On SQLite that is one transaction (a post its checks or its Idempotency-Key
refuse has written nothing by then, so none needs a savepoint). On PostgreSQL
it is one call of ``boxtui_post_texts`` (migrations 0005, 0008) for posts to any boxes, sent
outside a transaction so that it is one: the function locks the boxes' rows in byte
order (the share route's order, so calls sharing boxes never deadlock), places and
writes the posts and commits, and the locks are held only while the database works,
never across a client round trip. The answers are rendered before the call, from a read
of the boxes' creators and the senders and with the app's time; the call places only
the posts whose box, membership and creator still hold (a post whose do not gets one
more call after a fresh read, then the route), at the app's time or, when their box's
newest event is later (another process's clock ahead, or this one's set back), at that
event's time: the answer is sent in two parts around its time, and the call writes the
Idempotency-Key record with the time it placed, as the routes do
(``events.service.event_time``). SQLite reads the box's newest time in its transaction.

Who is calling is cached per token (:class:`TokenCache`): a session is looked up once,
then kept for at most ``TOKEN_CACHE_SECONDS``. A logout clears its token at once in the
process that handled it, and in the others as soon as the realtime bus carries the
logout (the hub's end-of-session frame; a bus that is down or missed a frame clears the
whole cache, and while it is down nothing is cached). The TTL is the backstop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy import DateTime, engine as sa_engine

from boxtui.core.encoding import b64_decode_any
from boxtui.core.ids import is_uuid, new_id
from boxtui.core.timefmt import as_utc, format_time, utcnow
from boxtui.server.auth.deps import DEFAULT_LIMIT, MAX_LIMIT, _has_unstorable_text, _reject_constant, hash_token
from boxtui.server.events.repository import NEWEST_TIME_SQL
from boxtui.server.events.schemas import MAX_ENCRYPTED
from boxtui.server.events.service import _people, _RenderContext, _view, event_time, split_audience
from boxtui.server.identities.service import check_public_key
from boxtui.server.idempotency.service import HEADER as IDEMPOTENCY_HEADER
from boxtui.server.idempotency.service import canonical_json, parse_key

log = logging.getLogger("boxtui.server")

#: How long a looked-up session is trusted without asking the database again.
TOKEN_CACHE_SECONDS = 5.0
#: Sessions kept at most (the cache starts afresh beyond it).
TOKEN_CACHE_SIZE = 20_000
#: PostgreSQL connections of the fast path's own pool, per process.
PG_POOL_SIZE = 8
#: PostgreSQL: group-commit calls in flight (the next waits for the box locks).
PG_TRANSACTIONS = 2
#: PostgreSQL: calls a post gets before it goes to the routes (its box, creator or
#: sender changed since the read its answer was rendered from: read again, sent again).
PG_TRIES = 2
#: SQLite, ``--workers``: how often a process waiting for the writers' lock file tries it.
LOCK_POLL_SECONDS = 0.001
#: SQLite, ``--workers``: how long a batch waits for the lock file before the routes take it.
LOCK_WAIT_SECONDS = 10.0
#: SQLite: commits between two passive WAL checkpoints run off the event loop.
CHECKPOINT_EVERY = 200

_IDEMPOTENCY_HEADER = IDEMPOTENCY_HEADER.lower().encode()
_JSON_HEADERS = b"application/json"


# --- who is calling ---------------------------------------------------------------------


class Session:
    __slots__ = ("id", "identity_id", "acr", "expires_at", "cached_at")

    def __init__(self, id: str, identity_id: str, acr: int, expires_at: datetime, cached_at: float) -> None:
        self.id, self.identity_id, self.acr, self.expires_at, self.cached_at = id, identity_id, acr, expires_at, cached_at


def _live(session: Session | None, now: datetime) -> Session | None:
    """``session`` if it may act (not expired, ACR ≥ 1), else None."""
    return session if session is not None and session.expires_at > now and session.acr >= 1 else None


class TokenCache:
    """Live sessions by token hash, kept ``TOKEN_CACHE_SECONDS`` at most.

    :meth:`forget` (wired to the realtime hub's end-of-session, see the module doc)
    drops sessions; ``forget(None)`` drops them all. A lookup that started before a
    ``forget`` does not store its (possibly revoked) session: ``generation`` moved.
    """

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self.generation = 0
        self._by_hash: dict[str, Session] = {}

    def get(self, token_hash: str) -> Session | None:
        session = self._by_hash.get(token_hash)
        if session is None:
            return None
        if time.monotonic() - session.cached_at > self.ttl:
            del self._by_hash[token_hash]
            return None
        return session

    def put(self, token_hash: str, session: Session, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._by_hash) >= TOKEN_CACHE_SIZE:
            self._by_hash.clear()
        self._by_hash[token_hash] = session

    def forget(self, session_ids) -> None:
        self.generation += 1
        if session_ids is None:
            self._by_hash.clear()
            return
        ended = set(session_ids)
        for token_hash in [h for h, s in self._by_hash.items() if s.id in ended]:
            del self._by_hash[token_hash]


# --- small row objects the shared renderer reads ---------------------------------------


class _Identity:
    __slots__ = ("id", "display_name", "avatar_url", "email")

    def __init__(self, id: str, display_name: str, avatar_url: str | None, email: str) -> None:
        self.id, self.display_name, self.avatar_url, self.email = id, display_name, avatar_url, email


class _Event:
    """The columns of ``events`` that :func:`boxtui.server.events.service._view` reads."""

    __slots__ = ("id", "box_id", "type", "sender_id", "referrer_id", "content", "extra", "created_at", "file_id", "edited_content", "last_edited_at", "deleted_at", "deleted_by_id", "stamp")

    def __init__(self, id, box_id, type, sender_id, referrer_id, content, extra, created_at, file_id, edited_content, last_edited_at, deleted_at, deleted_by_id, stamp=None) -> None:  # noqa: A002
        self.id, self.box_id, self.type, self.sender_id, self.referrer_id = id, box_id, type, sender_id, referrer_id
        self.content, self.extra, self.created_at, self.file_id = content, extra, created_at, file_id
        self.edited_content, self.last_edited_at, self.deleted_at, self.deleted_by_id = edited_content, last_edited_at, deleted_at, deleted_by_id
        #: ``server_event_created_at`` already formatted (None: from ``created_at``).
        self.stamp = stamp


#: Types whose view is their row as it is (no fold, no kicker, no ``is_saved``, no
#: ``extra``) while neither edited nor deleted: :meth:`FastPath._render_page` writes
#: those views itself, the rest with ``events.service._view``.
_PLAIN_TYPES = frozenset({"msg.text", "create", "member.join", "member.leave", "state.access_mode", "state.lifecycle"})


def _sqlite_stamp(text) -> str | None:
    """``format_time`` of a time SQLAlchemy stored in SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``,
    UTC), straight from the text; None for any other shape (then it is parsed)."""
    if type(text) is str and len(text) == 26 and text[10] == " " and text[19] == ".":
        return f"{text[:10]}T{text[11:]}Z"
    return None


def _json_body(content: Any) -> bytes:
    """The bytes FastAPI's ``JSONResponse`` sends for ``content``."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


def _orjson_body(content: Any) -> bytes:
    """:func:`_json_body` for views without floats or integers past 64 bits, as orjson
    writes them: the same bytes, an order of magnitude sooner (tested against ``json``
    in ``tests/server/test_fast_path.py``). Floats differ (``1e+16`` there, ``1e16``
    here): callers check what came from clients with :func:`_orjson_safe`."""
    return orjson.dumps(content)


def _orjson_safe(value: Any) -> bool:
    """Whether orjson writes ``value`` as ``json`` does: strings, booleans, nulls,
    integers within 64 bits, and lists and string-keyed objects of those."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is dict:
        return all(type(k) is str and _orjson_safe(v) for k, v in value.items())
    if kind is int:
        return -(2**63) <= value < 2**64
    if kind is list:
        return all(map(_orjson_safe, value))
    return False


# --- the request ------------------------------------------------------------------------


class _Text:
    """A ``msg.text`` POST the fast path can answer: what it needs from the request."""

    __slots__ = ("token_hash", "key", "content", "fingerprint", "stored")

    def __init__(self, token_hash: str, key: str | None, content: dict[str, Any], fingerprint: str) -> None:
        self.token_hash, self.key, self.content, self.fingerprint = token_hash, key, content, fingerprint
        #: The content column's text (as the app's JSON type writes it), made before any lock.
        self.stored = json.dumps(content)


def _bearer(scope) -> tuple[str | None, list[str], int | None, bool]:
    """(authorization, Idempotency-Key values, content-length, usable) from the headers."""
    authorization = None
    keys: list[str] = []
    length = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"cookie":
            return None, keys, None, False  # cookie sessions (CSRF, the cookie rules): the app
        elif name == _IDEMPOTENCY_HEADER:
            keys.append(value.decode("latin-1"))
        elif name == b"content-length":
            text = value.decode("latin-1")
            if not text.isdigit() or length is not None:
                return None, keys, None, False
            length = int(text)
    return authorization, keys, length, True


def _token_hash(authorization: str | None) -> str | None:
    """As ``auth.deps.extract_token`` reads a bearer header; None: leave it to the app."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hash_token(token.strip())


def _text_content(data: Any) -> dict[str, Any] | None:
    """The stored ``content`` of a valid ``msg.text`` body without reply or extra, else None.

    The checks of ``EventBody`` + ``TextContent`` (strict types, no unknown keys, base64,
    lengths, the public key), and the content as ``model_dump(exclude_none=True)`` gives it.
    """
    if type(data) is not dict or data.get("type") != "msg.text":
        return None
    for name, value in data.items():
        if name not in ("type", "content", "referrer_id", "extra"):
            return None
        if name in ("referrer_id", "extra") and value is not None:
            return None
    content = data.get("content")
    if type(content) is not dict:
        return None
    encrypted = content.get("encrypted")
    public_key = content.get("public_key")
    if type(encrypted) is not str or not 1 <= len(encrypted) <= MAX_ENCRYPTED:
        return None
    if len(content) != (2 if "public_key" in content else 1) or ("public_key" in content and type(public_key) is not str):
        return None
    try:
        b64_decode_any(encrypted)
        if public_key is not None:
            check_public_key(public_key)
    except ValueError:
        return None
    if _has_unstorable_text(data):
        return None
    return {"encrypted": encrypted} if public_key is None else {"encrypted": encrypted, "public_key": public_key}


def _fingerprint(path: str, data: dict[str, Any]) -> str:
    """``idempotency.service.json_fingerprint`` of an ``EventBody`` (its model_dump)."""
    body = {"type": data["type"], "content": data["content"], "referrer_id": None, "extra": None}
    digest = hashlib.sha256()
    digest.update(f"POST {path}\n".encode())
    digest.update(canonical_json({"body": body}))
    return digest.hexdigest()


def _query(query_string: bytes) -> dict[str, str]:
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)) if query_string else {}


def _offset_limit(params: dict[str, str]) -> tuple[int, int] | None:
    """(offset, limit) as ``get_page`` reads them; None for what it would refuse."""
    values = []
    for name, default, maximum in (("offset", 0, None), ("limit", DEFAULT_LIMIT, MAX_LIMIT)):
        raw = params.get(name)
        if raw is None:
            values.append(default)
            continue
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            return None
        value = int(raw)
        if maximum is not None and value > maximum:
            return None
        values.append(value)
    return values[0], values[1]


def _page_query(query_string: bytes) -> tuple[int, int, bool] | None:
    """(offset, limit, tail) as ``get_page`` and ``events.router._cursor`` read them; None
    when there is a cursor or anything the route would refuse (it answers that)."""
    params = _query(query_string)
    if "after" in params or "before" in params:
        return None
    window = _offset_limit(params)
    tail = params.get("tail", "false").lower()
    if window is None or tail not in ("true", "false", "1", "0"):
        return None
    return window[0], window[1], tail in ("true", "1")


def _range(offset: int, limit: int, tail: bool, total: int) -> tuple[int, int] | None:
    """``events.repository.position_page``'s positions; None: an empty page."""
    if limit <= 0:
        return None
    if not tail:
        return offset + 1, offset + limit
    high = total - offset
    if high < 1:
        return None
    return max(1, high - limit + 1), high


class _Post:
    """A ``msg.text`` post waiting for its transaction (group commit)."""

    __slots__ = ("box_id", "caller_id", "text", "future")

    def __init__(self, box_id: str, caller_id: str, text: _Text, future: asyncio.Future) -> None:
        self.box_id, self.caller_id, self.text, self.future = box_id, caller_id, text, future


class _Fallback(Exception):
    """Hand the request to the app (nothing was written)."""


# --- the middleware ----------------------------------------------------------------------


class FastPathMiddleware:
    """Answers the hot routes when ``app.state.fast_path`` is set (see the module doc)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if len(path) == 50 and path.startswith("/boxes/") and path.endswith("/events") and not scope.get("root_path"):
                fast = getattr(scope["app"].state, "fast_path", None)
                if fast is not None:
                    box_id = path[7:43]
                    method = scope["method"]
                    if method == "POST" and is_uuid(box_id):
                        receive = await fast.post(scope, receive, send, box_id)
                        if receive is None:
                            return
                    elif method == "GET" and is_uuid(box_id):
                        if await fast.page(scope, send, box_id):
                            return
            elif path == "/boxes/joined" and scope["method"] == "GET" and not scope.get("root_path"):
                fast = getattr(scope["app"].state, "fast_path", None)
                if fast is not None and await fast.joined(scope, send):
                    return
        await self.app(scope, receive, send)


class FastPath:
    """The fast path of one server process; :func:`open_fast_path` builds the right one."""

    def __init__(self, app_state, settings) -> None:
        self.state = app_state
        self.max_json_bytes = settings.max_json_bytes
        self.ttl = timedelta(seconds=settings.idempotency_ttl_seconds)
        self.tokens = TokenCache()
        #: Requests answered here (the rest went to the app).
        self.answered = 0

    # -- the hooks the hub calls
    def sessions_ended(self, session_ids) -> None:
        self.tokens.forget(session_ids)

    def _cacheable(self) -> bool:
        hub = getattr(self.state, "hub", None)
        return hub is not None and hub.available

    def _cached(self, token_hash: str) -> Session | None:
        """The session of ``token_hash`` as cached (None: look it up)."""
        return self.tokens.get(token_hash) if self._cacheable() else None

    def _looked_up(self, token_hash: str, row, expires_at: datetime, generation: int) -> Session | None:
        """The session of an ``auth_sessions`` row (id, identity, acr, expires, revoked),
        cached unless a ``forget`` came since ``generation``; None if revoked or absent."""
        if row is None or row[4]:
            return None
        session = Session(row[0], row[1], row[2], expires_at, time.monotonic())
        if self._cacheable():
            self.tokens.put(token_hash, session, generation)
        return session

    async def close(self) -> None:  # pragma: no cover - overridden
        pass

    # -- POST
    async def post(self, scope, receive, send, box_id: str):
        """Answer a ``msg.text`` post and return None, or return the ``receive`` the app
        must use (the body already read, given back as it came)."""
        authorization, keys, length, usable = _bearer(scope)
        token_hash = _token_hash(authorization) if usable else None
        if token_hash is None or length is None or length > self.max_json_bytes or scope.get("query_string"):
            return receive
        messages = []
        chunks = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return _replay(messages, receive)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        text = self._parse_text(scope, raw, token_hash, keys)
        if text is None:
            return _replay(messages, receive)
        try:
            answer = await self._post_text(box_id, text)
        except _Fallback:
            return _replay(messages, receive)
        body, context = answer
        hub = getattr(self.state, "hub", None)
        if hub is not None:
            await hub.publish_many(self._publication(context))
        self.answered += 1
        await _send_json(send, 201, body)
        return None

    def _parse_text(self, scope, raw: bytes, token_hash: str, keys: list[str]) -> _Text | None:
        if len(raw) > self.max_json_bytes or not raw.strip():
            return None
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        content = _text_content(data)
        if content is None:
            return None
        try:
            key = parse_key(keys)
        except Exception:  # noqa: BLE001 - a malformed key: the app answers it
            return None
        return _Text(token_hash, key, content, _fingerprint(scope["path"], data))

    def _post_answer(self, box_id: str, caller: _Identity, creator_id: str, audience, text: _Text, event_id: str, created_at: datetime):
        """The answer's bytes of a placed ``msg.text``, and what :meth:`_publication`
        renders once it is committed (outside the write lock: the others wait for it)."""
        row = _Event(event_id, box_id, "msg.text", caller.id, None, text.content, None, created_at, None, None, None, None, None)
        people, admins = {caller.id: caller}, {box_id: creator_id}
        view = _view(row, _RenderContext(viewer_id=caller.id, identities=people, admins=admins))
        return _orjson_body(view), (row, people, admins, audience)  # (a text's content: strings, checked on the way in)

    @staticmethod
    def _publication(context) -> list[tuple[list[str], dict[str, Any]]]:
        """The realtime envelopes of a post, as ``events.service.prepare_publication``."""
        row, people, admins, audience = context

        def render(viewer_id):
            return _view(row, _RenderContext(viewer_id=viewer_id, identities=people, admins=admins))

        personal, others = split_audience(row, admins[row.box_id], set(audience) | {row.sender_id})
        publication = [([recipient], {"type": "event.new", "object": render(recipient)}) for recipient in personal]
        if others:
            publication.append((others, {"type": "event.new", "object": render(None)}))
        return publication

    async def _post_text(self, box_id: str, text: _Text):  # pragma: no cover - overridden
        raise NotImplementedError

    # -- GET
    async def page(self, scope, send, box_id: str) -> bool:
        """Answer a page of ``GET /boxes/{id}/events`` and return True, or return False
        for the app to answer."""
        query = _page_query(scope.get("query_string", b""))
        return query is not None and await self._answer_read(scope, send, lambda token_hash: self._page(box_id, token_hash, *query))

    async def _answer_read(self, scope, send, read) -> bool:
        """Answer with the views of ``await read(token_hash)`` (and whether they are
        :func:`_orjson_safe`) and return True; False when there is no bearer token or
        ``read`` raised ``_Fallback``."""
        authorization, _, _, usable = _bearer(scope)
        token_hash = _token_hash(authorization) if usable else None
        if token_hash is None:
            return False
        try:
            views, safe = await read(token_hash)
        except _Fallback:
            return False
        self.answered += 1
        await _send_json(send, 200, _orjson_body(views) if safe else _json_body(views))
        return True

    async def _page(self, box_id: str, token_hash: str, offset: int, limit: int, tail: bool):  # pragma: no cover - overridden
        raise NotImplementedError

    async def joined(self, scope, send) -> bool:
        """Answer ``GET /boxes/joined`` (the caller's boxes, each with its last event and
        unread count) and return True, or return False for the app to answer."""
        window = _offset_limit(_query(scope.get("query_string", b"")))
        return window is not None and await self._answer_read(scope, send, lambda token_hash: self._joined(token_hash, *window))

    async def _joined(self, token_hash: str, offset: int, limit: int):  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def _render_joined(cls, boxes: list, last: dict[int, _Event], viewer_id: str, people: dict[str, _Identity], saved: set[str]) -> tuple[list[dict[str, Any]], bool]:
        """``boxes.service.box_views`` of the rows of :data:`_JOINED` (box id,
        created, public key, title, lifecycle, access mode, creator, last event's seq,
        unread) and their last events by seq."""
        admins = {box[0]: box[6] for box in boxes}
        seqs = [box[7] for box in boxes if box[7] in last]
        events, safe = cls._render_events([last[seq] for seq in seqs], viewer_id, admins, people, saved)
        last_views = dict(zip(seqs, events))
        ctx = _RenderContext(viewer_id=viewer_id, identities=people, admins=admins)
        views = []
        for box_id, created_at, public_key, title, lifecycle, access_mode, creator_id, last_seq, unread in boxes:
            if creator_id not in people:
                raise _Fallback  # (identities are never deleted: the route answers as it does)
            views.append({
                "id": box_id, "server_created_at": format_time(created_at), "public_key": public_key, "title": title, "lifecycle": lifecycle,
                "access_mode": access_mode, "creator": ctx.person(creator_id, box_id), "last_event": last_views.get(last_seq), "events_count": max(0, unread),
            })  # fmt: skip
        return views, safe

    @classmethod
    def _render_page(cls, rows: list[_Event], viewer_id: str, creator_id: str, people: dict[str, _Identity], saved: set[str]) -> tuple[list[dict[str, Any]], bool]:
        return cls._render_events(rows, viewer_id, {rows[0].box_id: creator_id} if rows else {}, people, saved)

    @staticmethod
    def _render_events(rows: list[_Event], viewer_id: str, admins: dict[str, str], people: dict[str, _Identity], saved: set[str]) -> tuple[list[dict[str, Any]], bool]:
        """The views, and whether what clients wrote in them is :func:`_orjson_safe`
        (then :func:`_orjson_body` writes them)."""
        ctx = _RenderContext(viewer_id=viewer_id, identities=people, admins=admins, saved=saved)
        senders: dict[str, dict[str, Any]] = {}
        views = []
        safe = True
        for row in rows:
            if safe and not (_orjson_safe(row.content) and _orjson_safe(row.extra) and _orjson_safe(row.edited_content)):
                safe = False
            if row.type in _PLAIN_TYPES and row.deleted_at is None and row.edited_content is None:
                sender = senders.get(row.sender_id)
                if sender is None:
                    sender = senders[row.sender_id] = ctx.person(row.sender_id, row.box_id)
                stamp = row.stamp or format_time(row.created_at)
                views.append({"id": row.id, "type": row.type, "box_id": row.box_id, "server_event_created_at": stamp, "referrer_id": row.referrer_id, "sender": sender, "content": row.content})
            else:
                if row.created_at is None:
                    raise RuntimeError("a row without its time")  # pragma: no cover - _page parses it for these
                views.append(_view(row, ctx))
        return views, safe


def _replay(messages: list[dict], receive):
    """A ``receive`` that hands ``messages`` out again, then asks ``receive``."""
    pending = list(messages)

    async def replay():
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _send_json(send, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode("latin-1")), (b"content-type", _JSON_HEADERS)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- SQLite -------------------------------------------------------------------------------

_SQLITE_RECORD_KEY = (
    "INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, headers, created_at, expires_at) VALUES (?, ?, ?, 201, ?, '{}', ?, ?)"
)
#: Appended to ``_SQLITE_RECORD_KEY``: a record that has expired is the new request's.
_SQLITE_TAKE_OVER_KEY = (
    " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body,"
    " headers = excluded.headers, created_at = excluded.created_at, expires_at = excluded.expires_at"
    " WHERE idempotency_keys.expires_at <= ? RETURNING scope"
)
_SQLITE_NEWEST_TIME = NEWEST_TIME_SQL.format(box="?", true=1, false=0)
_SQLITE_EVENT_COLUMNS = "e.id, e.box_id, e.type, e.sender_id, e.referrer_id, e.content, e.extra, e.created_at, e.file_id, e.edited_content, e.last_edited_at, e.deleted_at, e.deleted_by_id"
#: ``boxes.repository.joined_boxes``: the caller's boxes, the latest first.
_JOINED = (
    "SELECT b.id, b.created_at, b.public_key, b.title, b.lifecycle, b.access_mode, b.creator_id, b.last_event_seq, b.unread_seq - m.unread_base"
    " FROM boxes b JOIN memberships m ON m.box_id = b.id AND m.identity_id = {viewer} WHERE m.active"
    " ORDER BY coalesce(b.last_event_seq, 0) DESC, b.created_at DESC LIMIT {limit} OFFSET {offset}"
)
_SQLITE_JOINED = _JOINED.format(viewer="?", limit="?", offset="?")


class SQLiteFastPath(FastPath):
    """Two ``sqlite3`` connections whose statements run inline on the event loop.

    The writer takes this process's writer lock (the one the engine's write sessions
    take), then ``BEGIN IMMEDIATE`` with no busy wait; only when another process holds
    the write lock does it wait for it on a thread (the busy handler sleeps). ``COMMIT``
    is inline too: this connection never checkpoints on commit (``wal_autocheckpoint``
    off); a passive checkpoint runs on a thread of its own every ``CHECKPOINT_EVERY``
    commits, as the engine's connections also still do on theirs.
    """

    def __init__(self, app_state, settings, path: str, writer_lock: asyncio.Lock, dialect) -> None:
        super().__init__(app_state, settings)
        self.path = path
        self.writer_lock = writer_lock
        self.writer = self._connect(read_only=False)
        self.reader = self._connect(read_only=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="boxtui-fast-sqlite")
        self._commits = 0
        self._checkpointing = threading.Event()
        self._queue: list[_Post] = []
        self._runner: asyncio.Task | None = None
        self._lock_fd = os.open(f"{path}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        kind = DateTime(timezone=True).dialect_impl(dialect)
        self._time_in = kind.bind_processor(dialect)
        self._time_out = kind.result_processor(dialect, None)

    def _connect(self, *, read_only: bool) -> sqlite3.Connection:
        from boxtui.server.db import READ_BUSY_TIMEOUT_MS, SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES

        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", f"cache_size=-{SQLITE_CACHE_KIB}", f"mmap_size={SQLITE_MMAP_BYTES}"):
            conn.execute(f"PRAGMA {pragma}").close()
        if read_only:
            conn.execute("PRAGMA query_only=1").close()
            conn.execute(f"PRAGMA busy_timeout={READ_BUSY_TIMEOUT_MS}").close()
        else:
            conn.execute("PRAGMA busy_timeout=0").close()
            conn.execute("PRAGMA wal_autocheckpoint=0").close()
        return conn

    async def close(self) -> None:
        if self._runner is not None:
            await asyncio.wait({self._runner}, timeout=30)
        self._thread.shutdown(wait=True)
        os.close(self._lock_fd)
        self.writer.close()
        self.reader.close()

    def _time(self, value):
        return None if value is None else self._time_out(value)

    # -- who is calling (inline on the reader)
    def _session(self, token_hash: str, now: datetime) -> Session | None:
        session = self._cached(token_hash)
        if session is None:
            row = self.reader.execute(
                "SELECT s.id, s.identity_id, s.acr, s.expires_at, s.revoked FROM auth_sessions s JOIN identities i ON i.id = s.identity_id WHERE s.token_hash = ?",
                (token_hash,),
            ).fetchone()
            session = self._looked_up(token_hash, row, row and as_utc(self._time_out(row[3])), self.tokens.generation)
        return _live(session, now)

    # -- POST
    async def _lock_file(self) -> None:
        """The writers' lock file shared by the processes of ``boxtui serve --workers``,
        taken inline when free. While another process holds it, it is tried again from
        the event loop every ``LOCK_POLL_SECONDS``: a thread blocked in ``flock`` would
        take it the moment it is freed and then hold it, idle, until this process's busy
        loop came round to its batch, while the others' posts waited (SQLite's own busy
        handler sleeps and polls far slower). Held longer than ``LOCK_WAIT_SECONDS`` (a
        stopped process): the batch goes to the routes, which wait on SQLite's own lock
        and answer 503 if it stays taken."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("the SQLite writers' lock file has been held for %g s: posts go through the routes", LOCK_WAIT_SECONDS)
                    raise _Fallback() from None
                await asyncio.sleep(LOCK_POLL_SECONDS)

    async def _begin(self) -> None:
        try:
            self.writer.execute("BEGIN IMMEDIATE").close()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            # Another process writes: wait for its lock on a thread (the busy handler sleeps).
            await asyncio.get_running_loop().run_in_executor(self._thread, self._begin_waiting)

    def _begin_waiting(self) -> None:
        self.writer.execute("PRAGMA busy_timeout=30000").close()
        try:
            self.writer.execute("BEGIN IMMEDIATE").close()
        finally:
            self.writer.execute("PRAGMA busy_timeout=0").close()

    async def _post_text(self, box_id: str, text: _Text):
        try:
            session = self._session(text.token_hash, utcnow())
        except sqlite3.Error:
            raise _Fallback from None
        if session is None:
            raise _Fallback
        post = _Post(box_id, session.identity_id, text, asyncio.get_running_loop().create_future())
        self._queue.append(post)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_batches(), name="boxtui-fast-commits")
        return await post.future

    async def _run_batches(self) -> None:
        """Group commit: the posts that arrived while the previous transaction ran (or in
        the same turn of the event loop) are written by one transaction
        (:meth:`_write_posts`), and answered once it is committed."""
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    await self._write_batch(batch)
                except BaseException as exc:  # noqa: BLE001 - each waiting request gets it (never left hanging)
                    for post in batch:
                        if not post.future.done():
                            post.future.set_exception(exc if isinstance(exc, Exception) else _Fallback())
                    if not isinstance(exc, Exception):
                        raise
                await asyncio.sleep(0)  # another process waiting for the lock file gets it
        finally:
            self._runner = None

    async def _write_batch(self, batch: list[_Post]) -> None:
        results: list[Any] = []
        failure: BaseException | None = None
        await self.writer_lock.acquire()
        try:
            await self._lock_file()
            try:
                await self._begin()
            except sqlite3.Error as exc:
                log.debug("fast path handed posts to the app: %r", exc)
                failure = _Fallback()
            else:
                try:
                    results = self._write_posts(batch)
                    # Inline: the write lock is held, and this connection never checkpoints here.
                    self.writer.execute("COMMIT").close()
                except BaseException as exc:
                    _rollback(self.writer)
                    # Nothing committed: the app does each again, and answers.
                    failure = _Fallback() if isinstance(exc, sqlite3.Error) else exc
                    if isinstance(exc, sqlite3.Error):
                        log.debug("fast path handed posts to the app: %r", exc)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self.writer_lock.release()
        for index, post in enumerate(batch):
            if post.future.done():
                continue
            outcome = failure if failure is not None else results[index]
            if isinstance(outcome, BaseException):
                post.future.set_exception(outcome)
            else:
                post.future.set_result(outcome)
        if failure is None:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self._checkpoint()

    def _write_posts(self, batch: list[_Post]) -> list[Any]:
        """Inside ``BEGIN IMMEDIATE``: each post's answer, or ``_Fallback()`` when the app
        must answer it (nothing of it written). A post is checked and its idempotency
        record written first, so a post refused at either step has written nothing and
        needs no savepoint; its event follows, and the box's and its sender's counters
        are moved once per batch, after the last post. Any other error propagates: the
        whole transaction is rolled back and the app does every post again."""
        db = self.writer
        boxes: dict[str, list[Any]] = {}  # box → [visible_count, last seq, posts placed, audience, newest time]
        senders: dict[tuple[str, str], int] = {}  # (box, sender) → posts placed
        results: list[Any] = []
        for post in batch:
            box_id, caller_id, text = post.box_id, post.caller_id, post.text
            found = db.execute(
                "SELECT b.lifecycle, b.creator_id, b.visible_count, m.active, i.display_name, i.avatar_url, i.email"
                " FROM boxes b LEFT JOIN memberships m ON m.box_id = b.id AND m.identity_id = ? LEFT JOIN identities i ON i.id = ? WHERE b.id = ?",
                (caller_id, caller_id, box_id),
            ).fetchone()
            if found is None or not found[3] or found[0] != "open" or found[4] is None:
                results.append(_Fallback())
                continue
            _, creator_id, visible_count, _, display_name, avatar_url, email = found
            box = boxes.get(box_id)
            if box is None:
                # A post changes no membership: the audience holds until the commit.
                audience = [r[0] for r in db.execute("SELECT identity_id FROM memberships WHERE box_id = ? AND active = 1", (box_id,))]
                newest = db.execute(_SQLITE_NEWEST_TIME, (box_id, box_id)).fetchone()[0]
                box = boxes[box_id] = [visible_count, None, 0, audience, None if newest is None else self._time_out(newest)]
            event_id, pos = new_id(), box[0] + 1
            created_at = box[4] = event_time(box[4])  # never before the box's newest event
            stamp = self._time_in(created_at)
            caller = _Identity(caller_id, display_name, avatar_url, email)
            body, context = self._post_answer(box_id, caller, creator_id, box[3], text, event_id, created_at)
            if text.key is not None and not self._record_key(caller_id, text, body, created_at, stamp):
                results.append(_Fallback())  # the key is taken: the app replays (or refuses) it
                continue
            box[1] = db.execute(
                "INSERT INTO events (id, box_id, type, sender_id, referrer_id, content, extra, created_at, visible, active, file_id, edited_content, last_edited_at, deleted_at, deleted_by_id, pos)"
                " VALUES (?, ?, 'msg.text', ?, NULL, ?, 'null', ?, 1, 1, NULL, 'null', NULL, NULL, NULL, ?)",
                (event_id, box_id, caller_id, text.stored, stamp, pos),
            ).lastrowid  # ``seq`` is the rowid
            box[0] = pos
            box[2] += 1
            senders[(box_id, caller_id)] = senders.get((box_id, caller_id), 0) + 1
            results.append((body, context))
        for box_id, (visible_count, seq, placed, _, _) in boxes.items():
            if placed:
                db.execute("UPDATE boxes SET last_event_seq = ?, visible_count = ?, unread_seq = unread_seq + ? WHERE id = ?", (seq, visible_count, placed, box_id)).close()
        for (box_id, caller_id), placed in senders.items():
            db.execute("UPDATE memberships SET unread_base = unread_base + ? WHERE box_id = ? AND identity_id = ?", (placed, box_id, caller_id)).close()
        return results

    def _record_key(self, caller_id: str, text: _Text, body: bytes, created_at: datetime, stamp) -> bool:
        """The post's idempotency record; False when the key is recorded, and live, already."""
        db = self.writer
        expires = self._time_in(created_at + self.ttl)
        values = (caller_id, text.key, text.fingerprint, body.decode(), stamp, expires)
        try:
            db.execute(_SQLITE_RECORD_KEY, values).close()
            return True
        except sqlite3.IntegrityError:  # recorded before: replaced only once it has expired
            pass
        return db.execute(_SQLITE_RECORD_KEY + _SQLITE_TAKE_OVER_KEY, (*values, stamp)).fetchone() is not None

    def _checkpoint(self) -> None:
        if self._checkpointing.is_set():
            return
        self._checkpointing.set()
        path = self.path

        def run() -> None:
            try:
                conn = sqlite3.connect(path, timeout=5, isolation_level=None)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
                finally:
                    conn.close()
            except sqlite3.Error as exc:  # pragma: no cover - the next one tries again
                log.debug("passive WAL checkpoint failed: %s", exc)
            finally:
                self._checkpointing.clear()

        threading.Thread(target=run, name="boxtui-wal-checkpoint", daemon=True).start()

    # -- GET
    def _read(self, what: str, read, *args):
        """``read(*args)``; a ``sqlite3`` error (a reader that stayed busy) hands ``what``
        to the route, which does it again and answers."""
        try:
            return read(*args)
        except sqlite3.Error as exc:
            _rollback(self.reader)
            log.debug("fast path handed %s to the app: %r", what, exc)
            raise _Fallback from None

    @contextlib.contextmanager
    def _snapshot(self, token_hash: str):
        """The reader in one read transaction, and who is calling (else ``_Fallback``)."""
        db = self.reader
        db.execute("BEGIN").close()
        try:
            session = self._session(token_hash, utcnow())
            if session is None:
                raise _Fallback
            yield db, session.identity_id
        finally:
            db.execute("COMMIT").close()

    async def _page(self, box_id: str, token_hash: str, offset: int, limit: int, tail: bool):
        return self._read("a page", self._read_page, box_id, token_hash, offset, limit, tail)

    def _read_page(self, box_id: str, token_hash: str, offset: int, limit: int, tail: bool):
        with self._snapshot(token_hash) as (db, viewer):
            found = db.execute(
                "SELECT b.visible_count, b.creator_id, m.active FROM boxes b LEFT JOIN memberships m ON m.box_id = b.id AND m.identity_id = ? WHERE b.id = ?",
                (viewer, box_id),
            ).fetchone()
            if found is None or not found[2]:
                raise _Fallback
            span = _range(offset, limit, tail, found[0])
            rows: list[_Event] = []
            if span is not None:
                rows = [
                    self._event(r)
                    for r in db.execute(f"SELECT {_SQLITE_EVENT_COLUMNS} FROM events e WHERE e.box_id = ? AND e.pos >= ? AND e.pos <= ? ORDER BY e.pos", (box_id, *span))
                ]
            people, saved = self._people_saved(rows, viewer, ())
        return self._render_page(rows, viewer, found[1], people, saved)

    def _event(self, r) -> _Event:
        """An :class:`_Event` of a row of ``_SQLITE_EVENT_COLUMNS``."""
        out = self._time
        edited = _load(r[9])
        stamp = _sqlite_stamp(r[7]) if r[2] in _PLAIN_TYPES and r[11] is None and edited is None else None
        created = None if stamp is not None else out(r[7])
        return _Event(r[0], r[1], r[2], r[3], r[4], _load(r[5]), _load(r[6]), created, r[8], edited, out(r[10]), out(r[11]), r[12], stamp)

    def _people_saved(self, rows: list[_Event], viewer: str, more) -> tuple[dict[str, _Identity], set[str]]:
        """The identities ``rows`` show (and ``more``, and the viewer), and which of their
        files the viewer saved (inside the reader's transaction)."""
        db = self.reader
        wanted = set().union(*map(_people, rows)) | {viewer, *more}
        people = {r[0]: _Identity(*r) for r in db.execute(f"SELECT id, display_name, avatar_url, email FROM identities WHERE id IN ({','.join('?' * len(wanted))})", tuple(wanted))}
        files = {r.file_id for r in rows if r.type == "msg.file" and r.file_id}
        saved = set()
        if files:
            saved = {
                r[0]
                for r in db.execute(f"SELECT encrypted_file_id FROM saved_files WHERE identity_id = ? AND encrypted_file_id IN ({','.join('?' * len(files))})", (viewer, *files))
            }
        return people, saved

    # -- GET /boxes/joined
    async def _joined(self, token_hash: str, offset: int, limit: int):
        return self._read("a box list", self._read_joined, token_hash, offset, limit)

    def _read_joined(self, token_hash: str, offset: int, limit: int):
        with self._snapshot(token_hash) as (db, viewer):
            out = self._time
            boxes = [(*r[:1], out(r[1]), *r[2:]) for r in db.execute(_SQLITE_JOINED, (viewer, limit, offset))]
            seqs = [box[7] for box in boxes if box[7] is not None]
            last = {}
            if seqs:
                for r in db.execute(f"SELECT {_SQLITE_EVENT_COLUMNS}, e.seq FROM events e WHERE e.seq IN ({','.join('?' * len(seqs))})", seqs):
                    last[r[13]] = self._event(r)
            people, saved = self._people_saved(list(last.values()), viewer, (box[6] for box in boxes))
        return self._render_joined(boxes, last, viewer, people, saved)


def _rollback(conn: sqlite3.Connection) -> None:
    """End ``conn``'s transaction, if it still has one (a connection gone bad stays as it is)."""
    try:
        if conn.in_transaction:
            conn.rollback()
    except sqlite3.Error:
        pass


def _pool_timeout() -> float:
    from boxtui.server import db

    return db.POOL_TIMEOUT


def _load(text):
    """A JSON column's value (``'null'``: SQLAlchemy's JSON None, as ``json.loads`` reads it)."""
    if text is None or text == "null":
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what json reads and orjson does not (NaN, integers past 64 bits)
        return json.loads(text)


# --- PostgreSQL --------------------------------------------------------------------------

_PG_SESSION = (
    "SELECT s.id, s.identity_id, s.acr, s.expires_at, s.revoked FROM auth_sessions s JOIN identities i ON i.id = s.identity_id WHERE s.token_hash = $1"
)
#: Before the call, no lock: the open boxes' creators and the senders' identities (what
#: a post's answer shows), and which senders are active members (the others' posts go
#: to the route at once; the call checks again under the lock).
_PG_PREPARE = """
SELECT 'box', b.id, b.creator_id, NULL, NULL FROM boxes b WHERE b.id = ANY($1::varchar[]) AND b.lifecycle = 'open'
UNION ALL
SELECT 'identity', i.id, i.display_name, i.avatar_url, i.email FROM identities i WHERE i.id = ANY($2::varchar[])
UNION ALL
SELECT 'member', m.box_id, m.identity_id, NULL, NULL FROM memberships m
JOIN unnest($3::varchar[], $4::varchar[]) AS q(box_id, identity_id) ON m.box_id = q.box_id AND m.identity_id = q.identity_id
WHERE m.active
"""
#: The group commit (migration 0008): rows (post's ordinal, seq, pos, box, NULL, time) for
#: the posts placed, and (NULL, NULL, NULL, box, audience, NULL) for each of their boxes.
_PG_POST_TEXTS = (
    "SELECT * FROM boxtui_post_texts($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::varchar[],"
    " $7::varchar[], $8::text[], $9::timestamptz[], $10::varchar[], $11::varchar[], $12::text[], $13::text[], $14::timestamptz[])"
)
#: Where a post's answer holds its time (what the call may move to its box's newest).
_TIME_FIELD = b'"server_event_created_at":"'
#: What ``boxtui_post_texts`` raises when an Idempotency-Key was recorded first.
_PG_KEY_TAKEN = "boxtui: an Idempotency-Key is already recorded"
_PG_MEMBER = "SELECT b.visible_count, b.creator_id, m.active FROM boxes b LEFT JOIN memberships m ON m.box_id = b.id AND m.identity_id = $2 WHERE b.id = $1"
_PG_PAGE = f"""
SELECT {_SQLITE_EVENT_COLUMNS}, i.id, i.display_name, i.avatar_url, i.email,
       to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM events e LEFT JOIN identities i ON i.id = e.sender_id
WHERE e.box_id = $1 AND e.pos >= $2 AND e.pos <= $3 ORDER BY e.pos
"""
_PG_PEOPLE = "SELECT id, display_name, avatar_url, email FROM identities WHERE id = ANY($1::varchar[])"
_PG_JOINED = _JOINED.format(viewer="$1", limit="$2", offset="$3")
_PG_LAST_EVENTS = f"""
SELECT {_SQLITE_EVENT_COLUMNS}, i.id, i.display_name, i.avatar_url, i.email,
       to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), e.seq
FROM events e LEFT JOIN identities i ON i.id = e.sender_id
WHERE e.seq = ANY($1::bigint[])
"""
_PG_SAVED = "SELECT encrypted_file_id FROM saved_files WHERE identity_id = $1 AND encrypted_file_id = ANY($2::varchar[])"


class PostgresFastPath(FastPath):
    """An asyncpg pool of its own (``PG_POOL_SIZE`` connections per process).

    Pages, session look-ups and group-commit calls wait for a connection in turn, at
    :attr:`turns` (an ``asyncio.Semaphore``: first come, first served), never in the
    pool's own queue. That queue is an ``asyncio.Queue``: a connection given back goes
    to whichever request asks next, even one that has just arrived, while the waiter
    woken for it finds it gone and goes back to the end of the line. With every
    connection busy (200 clients posting and reading) some pages then waited ten times
    the median, and the load's p99 was twice what it is in turn."""

    def __init__(self, app_state, settings, pool) -> None:
        super().__init__(app_state, settings)
        self.pool = pool
        self.turns = asyncio.Semaphore(PG_POOL_SIZE)
        self._queue: list[_Post] = []
        self._runner: asyncio.Task | None = None
        #: (box, sender) → (until, the box's creator, the sender): what a post's answer
        #: shows, read once and kept ``TOKEN_CACHE_SECONDS``; the call checks it under the
        #: lock, and a post it does not place goes again with all of it read afresh.
        self._known: dict[tuple[str, str], tuple[float, str, _Identity]] = {}

    async def close(self) -> None:
        if self._runner is not None:
            await asyncio.wait({self._runner}, timeout=30)
        await self.pool.close()

    async def _session(self, conn, token_hash: str, now: datetime) -> Session | None:
        session = self._cached(token_hash)
        if session is None:
            generation = self.tokens.generation  # (a forget during the await below wins)
            row = await conn.fetchrow(_PG_SESSION, token_hash)
            session = self._looked_up(token_hash, row, row and as_utc(row[3]), generation)
        return _live(session, now)

    async def _post_text(self, box_id: str, text: _Text):
        session = _live(self._cached(text.token_hash), utcnow())
        if session is None:
            try:
                async with self._connection() as conn:
                    session = await self._session(conn, text.token_hash, utcnow())
            except Exception as exc:  # noqa: BLE001 - the app answers (its own pool, its 503)
                log.debug("fast path handed a post to the app: %r", exc)
                raise _Fallback from None
        if session is None:
            raise _Fallback
        post = _Post(box_id, session.identity_id, text, asyncio.get_running_loop().create_future())
        self._queue.append(post)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="boxtui-fast-commits")
        return await post.future

    async def _run(self) -> None:
        """Group commit: the posts that arrived while the previous calls ran are written
        by the next one together, whatever their boxes, so they share its round trips and
        its commit. ``PG_TRANSACTIONS`` calls run at once: the next one waits in the
        database for the box locks the previous one holds, and gets them without a round
        trip between."""
        inflight: set[asyncio.Task] = set()
        try:
            while True:
                if self._queue and len(inflight) < PG_TRANSACTIONS:  # (_write_batch answers every post, whatever happens)
                    batch, self._queue = self._queue, []
                    inflight.add(asyncio.create_task(self._write_batch(batch)))
                    await asyncio.sleep(0)
                elif inflight:
                    _, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                else:
                    break
        finally:
            if inflight:
                await asyncio.wait(inflight)
            self._runner = None

    async def _write_batch(self, batch: list[_Post]) -> None:
        outcomes: dict[int, Any] = {}
        try:
            conn = await self._acquire()
        except Exception as exc:  # noqa: BLE001 - the app answers (its own pool, its 503)
            log.debug("fast path handed posts to the app: %r", exc)
            conn = None
        try:
            todo, tries = list(range(len(batch))), 0
            while conn is not None and todo and tries < PG_TRIES:
                tries += 1
                try:
                    written, again = await self._write_posts(conn, [batch[i] for i in todo], fresh=tries > 1)
                except Exception as exc:  # noqa: BLE001 - nothing committed: the app does each again, and answers
                    log.debug("fast path handed posts to the app: %r", exc)
                    break
                for position, answer in written.items():
                    outcomes[todo[position]] = answer
                # Sent but not placed (the box or the sender changed, a key recorded by another
                # post of the call): again, then the app; the others are the app's now.
                todo = [todo[position] for position in sorted(again)]
        except BaseException as exc:  # a bug, a cancel: every waiting request gets it
            for i in range(len(batch)):
                outcomes.setdefault(i, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            if conn is not None:
                await self._release(conn)
            for i, post in enumerate(batch):
                if post.future.done():
                    continue
                outcome = outcomes.get(i, _Fallback())
                if isinstance(outcome, BaseException):
                    post.future.set_exception(outcome)
                else:
                    post.future.set_result(outcome)

    async def _write_posts(self, conn, posts: list[_Post], *, fresh: bool = False) -> tuple[dict[int, Any], set[int]]:
        """One call of ``boxtui_post_texts`` (migration 0008), outside a transaction: the
        call is its own, and holds the box locks only while the database works. The
        answers are rendered before it, with what a read of the boxes and the senders
        says and the app's time; the call places the posts whose box and sender still
        hold, at that time or their box's newest event's if later. Returns ({position:
        answer} once committed, the positions sent but not placed, which may go again);
        the posts in neither are the app's (not members,
        closed boxes, Idempotency-Keys recorded by other requests, a key twice, content
        that repeats the answer's time)."""
        keys: set[tuple[str, str]] = set()
        candidates: list[int] = []
        for n, post in enumerate(posts):
            if post.text.key is not None:
                if (post.caller_id, post.text.key) in keys:
                    continue  # the same key twice in one batch: the second is the app's (a replay)
                keys.add((post.caller_id, post.text.key))
            candidates.append(n)
        known = await self._known_pairs(conn, {(posts[n].box_id, posts[n].caller_id) for n in candidates}, fresh)
        candidates = [n for n in candidates if (posts[n].box_id, posts[n].caller_id) in known]
        if not candidates:
            return {}, set()
        args: tuple[list, ...] = ([], [], [], [], [], [], [], [], [], [], [], [], [], [])
        rendered: list[tuple[bytes, bytes, Any]] = []
        created_at = utcnow()  # the app's clock; the call moves it to the box's newest event's time if that is later
        marker = _TIME_FIELD + format_time(created_at).encode() + b'"'
        sent: list[int] = []
        for n in candidates:
            post = posts[n]
            creator_id, caller = known[(post.box_id, post.caller_id)]
            event_id = new_id()
            body, context = self._post_answer(post.box_id, caller, creator_id, None, post.text, event_id, created_at)
            at = body.find(marker)
            if at < 0 or body.find(marker, at + 1) >= 0:
                continue  # (its content repeats the time, to the microsecond: the route's)
            head, tail = body[: at + len(_TIME_FIELD)], body[at + len(marker) - 1 :]
            sent.append(n)
            rendered.append((head, tail, context))
            key = post.text.key
            expires = created_at + self.ttl if key is not None else None
            for column, value in zip(args, (post.box_id, post.caller_id, creator_id, caller.display_name, caller.avatar_url, caller.email, event_id,
                                            post.text.stored, created_at, key, post.text.fingerprint if key is not None else None,
                                            head.decode() if key is not None else None, tail.decode() if key is not None else None, expires)):  # fmt: skip
                column.append(value)
        candidates = sent
        if not candidates:
            return {}, set()
        try:
            placed = await conn.fetch(_PG_POST_TEXTS, *args)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != "P0001" or not str(exc).startswith(_PG_KEY_TAKEN):
                raise
            recorded = {tuple(pair) for pair in json.loads(exc.detail or "[]")}  # nothing written: the others go again
            return {}, {n for n in candidates if posts[n].text.key is None or (posts[n].caller_id, posts[n].text.key) in recorded}
        audiences = {row[3]: row[4] for row in placed if row[0] is None}
        answers: dict[int, Any] = {}
        for row in placed:
            if row[0] is not None:
                n = candidates[row[0] - 1]
                head, tail, (event, identities, admins, _) = rendered[row[0] - 1]
                event.created_at = row[5]  # the app's time, or the box's newest event's when later
                answers[n] = (head + format_time(row[5]).encode() + tail, (event, identities, admins, audiences[row[3]]))
        return answers, {n for n in candidates if n not in answers}

    async def _known_pairs(self, conn, pairs: set[tuple[str, str]], fresh: bool) -> dict[tuple[str, str], tuple[str, _Identity]]:
        """For each (box, sender) that is an active member of an open box: the box's
        creator and the sender, from what was read in the last ``TOKEN_CACHE_SECONDS``
        unless ``fresh``, the rest read now (one round trip, no lock)."""
        now, found = time.monotonic(), {}
        for pair in pairs:
            kept = None if fresh else self._known.get(pair)
            if kept is not None and kept[0] > now:
                found[pair] = kept[1:]
        wanted = sorted(pair for pair in pairs if pair not in found)
        if not wanted:
            return found
        rows = await conn.fetch(_PG_PREPARE, sorted({box for box, _ in wanted}), sorted({who for _, who in wanted}), [box for box, _ in wanted], [who for _, who in wanted])
        creators = {row[1]: row[2] for row in rows if row[0] == "box"}
        people = {row[1]: _Identity(row[1], row[2], row[3], row[4]) for row in rows if row[0] == "identity"}
        members = {(row[1], row[2]) for row in rows if row[0] == "member"}
        if len(self._known) >= TOKEN_CACHE_SIZE:
            self._known.clear()
        for pair in wanted:
            box_id, caller_id = pair
            if pair in members and box_id in creators and caller_id in people:
                found[pair] = (creators[box_id], people[caller_id])
                self._known[pair] = (now + TOKEN_CACHE_SECONDS, *found[pair])
            else:
                self._known.pop(pair, None)
        return found

    async def _acquire(self):
        """A connection of the pool, in turn (:attr:`turns`); ``TimeoutError`` after the
        app's pool timeout. Give it back with :meth:`_release`."""
        if self.turns.locked():
            await asyncio.wait_for(self.turns.acquire(), _pool_timeout())
        else:
            await self.turns.acquire()  # (returns at once: no task for a timeout)
        try:
            return await self.pool.acquire(timeout=_pool_timeout())
        except BaseException:
            self.turns.release()
            raise

    async def _release(self, conn) -> None:
        try:
            await self.pool.release(conn)
        finally:
            self.turns.release()

    @contextlib.asynccontextmanager
    async def _connection(self):
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._release(conn)

    async def _read(self, what: str, read, render, *args):
        """``render(*await read(conn, *args))``, rendered once the connection is back for
        the next read; any error but ``_Fallback`` hands ``what`` to the route, which
        does it again and answers."""
        try:
            async with self._connection() as conn:
                found = await read(conn, *args)
            return render(*found)
        except _Fallback:
            raise
        except Exception as exc:  # noqa: BLE001 - a read: the app does it again, and answers
            log.debug("fast path handed %s to the app: %r", what, exc)
            raise _Fallback from None

    async def _page(self, box_id: str, token_hash: str, offset: int, limit: int, tail: bool):
        return await self._read("a page", self._read_page, self._render_page, box_id, token_hash, offset, limit, tail)

    async def _read_page(self, conn, box_id: str, token_hash: str, offset: int, limit: int, tail: bool):
        session = await self._session(conn, token_hash, utcnow())
        if session is None:
            raise _Fallback
        viewer = session.identity_id
        found = await conn.fetchrow(_PG_MEMBER, box_id, viewer)
        if found is None or not found[2]:
            raise _Fallback
        span = _range(offset, limit, tail, found[0])
        people: dict[str, _Identity] = {}
        rows = [_pg_event(r, people) for r in await conn.fetch(_PG_PAGE, box_id, *span)] if span is not None else []
        saved = await self._people_saved(conn, rows, viewer, (), people)
        return rows, viewer, found[1], people, saved

    @staticmethod
    async def _people_saved(conn, rows: list[_Event], viewer: str, more, people: dict[str, _Identity]) -> set[str]:
        """Adds to ``people`` the identities ``rows`` show (and ``more``, and the viewer);
        returns which of their files the viewer saved."""
        wanted = (set().union(*map(_people, rows)) | {viewer, *more}) - people.keys()
        if wanted:
            for r in await conn.fetch(_PG_PEOPLE, list(wanted)):
                people[r[0]] = _Identity(r[0], r[1], r[2], r[3])
        files = {r.file_id for r in rows if r.type == "msg.file" and r.file_id}
        return {r[0] for r in await conn.fetch(_PG_SAVED, viewer, list(files))} if files else set()

    # -- GET /boxes/joined
    async def _joined(self, token_hash: str, offset: int, limit: int):
        return await self._read("a box list", self._read_joined, self._render_joined, token_hash, offset, limit)

    async def _read_joined(self, conn, token_hash: str, offset: int, limit: int):
        session = await self._session(conn, token_hash, utcnow())
        if session is None:
            raise _Fallback
        viewer = session.identity_id
        boxes = [tuple(r) for r in await conn.fetch(_PG_JOINED, viewer, limit, offset)]
        seqs = [box[7] for box in boxes if box[7] is not None]
        people: dict[str, _Identity] = {}
        last = {r[18]: _pg_event(r, people) for r in await conn.fetch(_PG_LAST_EVENTS, seqs)} if seqs else {}
        saved = await self._people_saved(conn, list(last.values()), viewer, (box[6] for box in boxes), people)
        return boxes, last, viewer, people, saved


def _pg_event(r, people: dict[str, _Identity]) -> _Event:
    """An :class:`_Event` of a row of :data:`_PG_PAGE`; its sender into ``people``."""
    if r[13] is not None:
        people[r[13]] = _Identity(r[13], r[14], r[15], r[16])
    return _Event(r[0], r[1], r[2], r[3], r[4], _load(r[5]), _load(r[6]), r[7], r[8], _load(r[9]), r[10], r[11], r[12], r[17])


# --- building it ---------------------------------------------------------------------------


async def open_fast_path(app_state, settings, database) -> FastPath | None:
    """The fast path for this process's database, or None (turned off, a database it
    does not serve, or one it cannot open: the app answers everything then)."""
    if not settings.fast_path:
        return None
    try:
        return await _open(app_state, settings, database)
    except Exception as exc:  # noqa: BLE001 - the routes serve everything without it
        log.warning("the fast path is off: %r; every request goes through the routes", exc)
        return None


async def _open(app_state, settings, database) -> FastPath | None:
    url = sa_engine.make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database
        if not path or path == ":memory:" or url.query or database.writer_lock is None:
            return None
        return SQLiteFastPath(app_state, settings, path, database.writer_lock, database.engine.dialect)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "asyncpg" and not url.query:
        import asyncpg

        pool = await asyncpg.create_pool(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database, min_size=1, max_size=PG_POOL_SIZE,
            reset=_keep_session, server_settings={"application_name": database.tag} if database.tag else None,
        )
        return PostgresFastPath(app_state, settings, pool)
    return None


async def _keep_session(conn) -> None:
    """No reset query per release: these connections only ever run whole transactions
    (asyncpg still rolls back one left open), never LISTEN, advisory locks or SET."""


def hook_into(hub, fast: FastPath) -> None:
    """Logouts (in any process, through the hub) and a lost bus clear the token cache."""
    listeners: list[Callable] | None = getattr(hub, "session_listeners", None)
    if listeners is not None:
        listeners.append(fast.sessions_ended)
