"""Cutting off slow or stalled clients (PROTOCOL §10.14, operations "Timeouts").

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but has no limit
on how long a client may take to send a request's head, nor on a body that stops
arriving: one client trickling a header byte at a time holds a connection (and its
file descriptor) for as long as it likes. :class:`TimedHttpToolsProtocol` is uvicorn's
own httptools protocol plus two timers:

* **head**: from the connection's opening (or the first byte of the next request on a
  kept-alive connection) to the end of the headers, at most ``header_timeout`` seconds;
  past it the server answers ``408`` and closes the connection;
* **body**: while a request body is still coming, at most ``body_idle_timeout`` seconds
  without a byte; past it the connection is closed (the app sees the client go away,
  PROTOCOL §10.3). Time during which the server itself stopped reading (flow control,
  while the app is busy with what it already has) does not count.

A request that is not valid HTTP is answered ``400`` with the protocol's error body
(uvicorn answers it in plain text). ``boxtui serve`` passes this class to uvicorn as
its ``http`` protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("boxtui.server")

class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head deadline and a body idle timeout."""

    #: Set by :func:`timed_protocol` (uvicorn builds protocols from the class alone).
    header_timeout: float = 10.0
    body_idle_timeout: float = 30.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._in_head = False

    def send_400_response(self, msg: str) -> None:
        """A request uvicorn cannot parse as HTTP: the protocol's error body, not plain text."""
        self._answer_and_close(b"400 Bad Request", "bad_request", "headers", msg)

    def _answer_and_close(self, status: bytes, code: str, origin: str, desc: str) -> None:
        body = json.dumps({"code": code, "origin": origin, "desc": desc, "details": {}}).encode()
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"x-content-type-options: nosniff\r\ncache-control: no-store\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.transport.close()

    # --- the timers -----------------------------------------------------------------

    def _arm(self, timer: str) -> None:
        self._cancel(timer)
        if timer == "head":
            self._timers[timer] = self.loop.call_later(self.header_timeout, self._head_timed_out)
        else:
            self._timers[timer] = self.loop.call_later(self.body_idle_timeout, self._body_timed_out)

    def _cancel(self, timer: str) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte counts as a slow head too.
        self._in_head = True
        self._arm("head")

    def data_received(self, data: bytes) -> None:
        receiving_body = "body" in self._timers
        if not self._in_head and (self.cycle is None or self.cycle.response_complete) and not receiving_body:
            # The first byte of a request: its head must be complete in time.
            self._in_head = True
            self._arm("head")
        elif receiving_body:
            self._arm("body")
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel("head")
        super().on_headers_complete()
        if self.parser is not None and not self.parser.should_upgrade():
            self._arm("body")

    def on_message_complete(self) -> None:
        self._cancel("body")
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("head")
        self._cancel("body")
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._timers.pop("head", None)
        if self.transport.is_closing():
            return
        log.info("closed a connection from %s: request head not complete after %s s", self.client and self.client[0], self.header_timeout)
        self._answer_and_close(b"408 Request Timeout", "request_timeout", "not_defined", "the request head took too long to arrive")

    def _body_timed_out(self) -> None:
        self._timers.pop("body", None)
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            self._arm("body")  # we stopped reading, not the client: wait again
            return
        log.info("closed a connection from %s: no body byte for %s s", self.client and self.client[0], self.body_idle_timeout)
        self.transport.close()


def timed_protocol(header_timeout: float, body_idle_timeout: float) -> type[TimedHttpToolsProtocol]:
    """A :class:`TimedHttpToolsProtocol` subclass with these timeouts, for ``uvicorn.run(http=...)``."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_idle_timeout": body_idle_timeout},
    )
