"""Frames written straight to a realtime socket's transport (fan-out without a task per socket).

Through the ASGI stack a frame costs each socket a task switch and half a dozen
coroutine layers (the socket's send loop, Starlette, the middlewares' wrappers,
uvicorn's protocol): ~55 µs per socket on the benchmark's machine, so a post to a box
with 1,000 connected members took ~55 ms of the event loop before its last socket had
it (PROFILE.md "fan-out written to the sockets"). Realtime frames are never compressed
(``ws_per_message_deflate=False``), so the bytes on the wire are the same for every
socket: :func:`text_frame` builds them once per envelope, and :class:`DirectSocket`
hands them to the socket's transport in one call when nothing is ahead of them.

Only when it is safe, else the frame takes the ASGI way as before: the socket is
uvicorn's websockets-sansio protocol with no extension negotiated, its handshake done,
no close frame sent or received, its transport not paused by backpressure (a slow
reader's frames queue, and the hub drops it past its queue's size, as before) — and
the hub writes directly only when the socket's own queue is empty and its send loop
idle, so frames keep their order.
"""

from __future__ import annotations

import struct
from typing import Any

from websockets.protocol import State

try:  # uvicorn's protocol with ``ws="auto"`` when websockets is installed
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - another uvicorn: every frame takes the ASGI way
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

#: What :meth:`DirectSocket.write` reads of uvicorn's protocol (0.55's names).
_PROTOCOL_STATE = ("writable", "disconnected", "close_sent", "handshake_complete", "initial_response", "conn", "transport")

#: The ASGI scope key under which :class:`RawSendMiddleware` keeps the server's ``send``.
RAW_SEND = "boxtui.raw_send"


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 §5.2), as a server sends it."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


class DirectSocket:
    """The transport of one accepted realtime socket, for frames the hub writes itself."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, scope: dict[str, Any]) -> DirectSocket | None:
        """The socket of ``scope`` when its frames can be written directly, else None."""
        protocol = getattr(scope.get(RAW_SEND), "__self__", None)
        if WebSocketsSansIOProtocol is None or type(protocol) is not WebSocketsSansIOProtocol:
            return None
        if not all(hasattr(protocol, name) for name in _PROTOCOL_STATE) or protocol.conn.extensions:
            return None  # another uvicorn's protocol, or an extension (never with ws_per_message_deflate=False)
        return cls(protocol)

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` now; False when it must go the ASGI way (nothing written)."""
        protocol = self.protocol
        if (
            not protocol.writable.is_set()
            or protocol.disconnected
            or protocol.close_sent
            or not protocol.handshake_complete
            or protocol.initial_response is not None
            or protocol.conn.state is not State.OPEN
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(frame)
        return True


class RawSendMiddleware:
    """Outermost: keeps the server's own ``send`` of a websocket in its scope (the
    others wrap it), for :meth:`DirectSocket.of`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)
