"""``GET /box-users/{identity_id}/ws``: the realtime socket (PROTOCOL §9).

The socket is authenticated at the handshake (bearer header or the session cookies)
and must belong to ``identity_id``; otherwise it is closed before being accepted
(uvicorn answers the upgrade with HTTP 403): close code 4401 for a missing or bad
token, 4403 for another identity's socket. Server → client messages are the hub's
envelopes ``{"type", "object"}``; client → server, ``{"type": "ack", "object":
{"box_id"}}`` resets that box's unread count. Keep-alive pings are WebSocket ping
frames sent by uvicorn every ``settings.ws_ping_seconds`` (see ``boxtui serve``); at
the same pace the socket's session is checked again, and a socket whose session was
revoked (logout) or expired is closed with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from boxtui.core.ids import is_uuid
from boxtui.server.auth.deps import extract_token, resolve_token
from boxtui.server.boxes import service as boxes_service
from boxtui.server.errors import ApiError
from boxtui.server.realtime.hub import Subscription

log = logging.getLogger("boxtui.server.realtime")

router = APIRouter(tags=["realtime"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013


async def _authenticate(websocket: WebSocket, identity_id: str) -> tuple[int | None, str]:
    """(None, token) when the socket may open, else (the close code to refuse it with, "")."""
    if not is_uuid(identity_id):
        return CLOSE_FORBIDDEN, ""
    async with websocket.app.state.sessionmaker() as db:
        try:
            token, _ = extract_token(websocket.headers, websocket.cookies, "GET")
            caller = await resolve_token(db, token)
        except ApiError:
            return CLOSE_UNAUTHORIZED, ""
    return (None, token) if caller.id == identity_id else (CLOSE_FORBIDDEN, "")


async def _session_ends(websocket: WebSocket, token: str) -> None:
    """Return once the socket's session is revoked (logout) or expired."""
    while True:
        await asyncio.sleep(websocket.app.state.settings.ws_ping_seconds)
        async with websocket.app.state.sessionmaker() as db:
            try:
                await resolve_token(db, token)
            except ApiError:
                return


async def _ack(websocket: WebSocket, identity_id: str, message: Any) -> None:
    if not isinstance(message, dict) or message.get("type") != "ack":
        return
    box_id = (message.get("object") or {}).get("box_id") if isinstance(message.get("object"), dict) else None
    if not is_uuid(box_id):
        return
    async with websocket.app.state.sessionmaker() as db:
        await boxes_service.ack_if_member(db, identity_id, box_id)


async def _send_loop(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        await websocket.send_json(await subscription.queue.get())


async def _receive_loop(websocket: WebSocket, identity_id: str) -> None:
    while True:
        try:
            message = await websocket.receive_json()
        except (ValueError, KeyError):  # not JSON, or a binary frame: ignore it
            continue
        await _ack(websocket, identity_id, message)


@router.websocket("/box-users/{identity_id}/ws")
async def realtime_socket(websocket: WebSocket, identity_id: str) -> None:
    refusal, token = await _authenticate(websocket, identity_id)
    if refusal is not None:
        await websocket.close(code=refusal)
        return
    hub = websocket.app.state.hub
    subscription = hub.connect(identity_id)
    try:
        await websocket.accept()
        tasks = [
            asyncio.create_task(_send_loop(websocket, subscription)),
            asyncio.create_task(_receive_loop(websocket, identity_id)),
            asyncio.create_task(subscription.overflowed.wait()),
            asyncio.create_task(_session_ends(websocket, token)),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if tasks[2] in done:
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_TRY_AGAIN, reason="too far behind: reconnect and catch up")
        if tasks[3] in done:
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_UNAUTHORIZED, reason="the session has ended")
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, (WebSocketDisconnect, RuntimeError)):
                log.warning("realtime socket of %s ended: %r", identity_id, exc)
    finally:
        hub.disconnect(subscription)
