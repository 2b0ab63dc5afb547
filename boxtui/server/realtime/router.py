"""``GET /box-users/{identity_id}/ws``: the realtime socket (PROTOCOL §9, §10.6, §10.10).

The socket is authenticated at the handshake (bearer header or the session cookies)
and must belong to ``identity_id``; otherwise it is closed before being accepted
(uvicorn answers the upgrade with HTTP 403): close code 4401 for a missing or bad
token, 4403 for another identity's socket. Past ``settings.ws_max_per_identity``
sockets of one identity (in this process) a new one is accepted and closed at once
with 4429. Server → client messages are the hub's envelopes ``{"type", "object"}``;
client → server, ``{"type": "ack", "object": {"box_id"}}`` resets that box's unread
count; any other frame (binary, not JSON, nested too deep) is ignored. Keep-alive
pings are WebSocket ping frames sent by uvicorn every ``settings.ws_ping_seconds``
(see ``boxtui serve``).

The session is read once, at the handshake. A socket then closes with 4401 when its
session ends: at its expiry time (a timer, no query), on logout (the hub tells every
process at once), or when :func:`watch_sessions` — one query per
``ws_session_check_seconds`` for all the sockets of the process — finds it revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from boxtui.core.ids import is_uuid
from boxtui.core.timefmt import as_utc, utcnow
from boxtui.core.wire import STATUS_CODES
from boxtui.server.auth.deps import Caller, extract_token, resolve_token
from boxtui.server.auth.repository import ended_sessions
from boxtui.server.boxes import service as boxes_service
from boxtui.server.errors import ApiError
from boxtui.server.realtime.hub import Hub, Subscription, TooManySockets
from boxtui.server.realtime.wire import DirectSocket

log = logging.getLogger("boxtui.server.realtime")

router = APIRouter(tags=["realtime"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429
CLOSE_TRY_AGAIN = 1013
CLOSE_INTERNAL = 1011


async def _authenticate(websocket: WebSocket, identity_id: str) -> tuple[int | None, Caller | None]:
    """(None, caller) when the socket may open, else (the close code to refuse it with, None)."""
    if not is_uuid(identity_id):
        return CLOSE_FORBIDDEN, None
    async with websocket.app.state.read_sessionmaker() as db:
        try:
            token, _ = extract_token(websocket.headers, websocket.cookies, "GET")
            caller = await resolve_token(db, token)
        except ApiError:
            return CLOSE_UNAUTHORIZED, None
    return (None, caller) if caller.id == identity_id else (CLOSE_FORBIDDEN, None)


def _expire_at_session_end(subscription: Subscription, caller: Caller) -> asyncio.TimerHandle:
    """A timer that ends the socket when its session expires (cancel it when the socket closes)."""
    remaining = (as_utc(caller.session.expires_at) - utcnow()).total_seconds()
    return asyncio.get_running_loop().call_later(max(0.0, remaining), subscription.close, subscription.ended)


async def watch_sessions(hub: Hub, sessionmaker, interval: float) -> None:
    """Every ``interval`` seconds, end the sockets whose session was revoked or expired.

    One query for every socket of this process (not one per socket per ping); a
    safety net behind :meth:`Hub.end_session`, which logout uses to close at once.
    """
    while True:
        await asyncio.sleep(interval)
        session_ids = hub.session_ids()
        if not session_ids:
            continue
        try:
            async with sessionmaker() as db:
                ended = await ended_sessions(db, session_ids, utcnow())
        except Exception as exc:  # noqa: BLE001 - try again at the next interval
            log.warning("could not re-check the realtime sessions: %r", exc)
            continue
        hub.end_sessions_locally(ended)


async def _ack(websocket: WebSocket, identity_id: str, message: Any) -> None:
    if not isinstance(message, dict) or message.get("type") != "ack":
        return
    box_id = (message.get("object") or {}).get("box_id") if isinstance(message.get("object"), dict) else None
    if not is_uuid(box_id):
        return
    async with websocket.app.state.sessionmaker() as db:
        await boxes_service.ack_if_member(db, identity_id, box_id)


async def _send_loop(websocket: WebSocket, subscription: Subscription) -> None:
    # The queue holds each envelope already encoded once by the hub, for every socket.
    # One frame at a time, in order; a socket whose client reads slowly waits here
    # (uvicorn pauses its writes past the transport's high-water mark) while the hub
    # keeps queueing, and past QUEUE_SIZE frames the hub marks it overflowed: closed
    # with 1013, the client reconnects and catches up. Other sockets never wait for it.
    # While it sends, the hub queues behind it rather than write to the socket itself.
    queue, send = subscription.queue, websocket.send_text
    while True:
        text = queue.get_nowait() if queue.qsize() else await queue.get()
        subscription.sending = True
        try:
            await send(text)
        finally:
            subscription.sending = False


def _parse_frame(text: str) -> Any:
    """A client frame as JSON, or None when it is not (malformed, or nested too deep)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


async def _receive_loop(websocket: WebSocket, identity_id: str) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is not None:  # binary frames are ignored
            await _ack(websocket, identity_id, _parse_frame(text))


async def _refuse_unavailable(websocket: WebSocket) -> None:
    """The handshake answered ``503`` with the error body: the realtime bus is down."""
    response = JSONResponse(
        {"code": STATUS_CODES[503], "origin": "not_defined", "desc": "realtime is unavailable for a moment; try again shortly", "details": {}},
        status_code=503,
        headers={"Retry-After": "1"},
    )
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # a server without the denial extension: close before accepting
        await websocket.close(code=CLOSE_TRY_AGAIN)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)


@router.websocket("/box-users/{identity_id}/ws")
async def realtime_socket(websocket: WebSocket, identity_id: str) -> None:
    refusal, caller = await _authenticate(websocket, identity_id)
    if refusal is not None or caller is None:
        await websocket.close(code=refusal or CLOSE_UNAUTHORIZED)
        return
    hub = websocket.app.state.hub
    if not hub.available:
        await _refuse_unavailable(websocket)
        return
    limit = websocket.app.state.settings.ws_max_per_identity
    try:
        subscription = hub.connect(identity_id, caller.session.id, limit=limit)
    except TooManySockets:
        await websocket.accept()
        await _close(websocket, CLOSE_TOO_MANY, f"at most {limit} realtime sockets per identity")
        return
    expiry, tasks = None, ()
    try:
        await websocket.accept()
        subscription.socket = DirectSocket.of(websocket.scope)
        expiry = _expire_at_session_end(subscription, caller)
        # Two tasks per socket (send, receive) and one future for the hub's reasons to close it.
        tasks = (asyncio.create_task(_send_loop(websocket, subscription)), asyncio.create_task(_receive_loop(websocket, identity_id)))
        closing = subscription.closing()
        done, _ = await asyncio.wait((*tasks, closing), return_when=asyncio.FIRST_COMPLETED)
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:  # asyncio.wait: a cancel of this handler (shutdown) is not swallowed
            await asyncio.wait(pending)
        if closing.done():
            reason = closing.result()
            if reason is subscription.overflowed:
                await _close(websocket, CLOSE_TRY_AGAIN, "too far behind: reconnect and catch up")
            elif reason is subscription.ended:
                await _close(websocket, CLOSE_UNAUTHORIZED, "the session has ended")
            else:
                await _close(websocket, CLOSE_TRY_AGAIN, "realtime is unavailable for a moment: reconnect and catch up")
        for task in tasks:
            if task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, (WebSocketDisconnect, RuntimeError)):
                    log.warning("realtime socket of %s ended: %r", identity_id, exc)
                    await _close(websocket, CLOSE_INTERNAL, "internal error")
    finally:
        if expiry is not None:
            expiry.cancel()
        for task in tasks:  # this handler cancelled while waiting: no task outlives it
            task.cancel()
        hub.disconnect(subscription)
