"""Realtime subscription (PROTOCOL §9): one websocket that survives drops and misses nothing.

::

    async with client.realtime(me.id, catch_up_boxes=known_boxes) as sub:
        async for message in sub:
            if message.type == "event.new": ...
            elif message.type == "connection": show(message.object["state"])

When the socket drops, the subscription reconnects with exponential backoff (capped at
``max_backoff`` seconds) and then **catches up**: for every box it has seen an event of,
and every box ``catch_up_boxes()`` names, it asks ``GET /boxes/{id}/events?after=<last id>``
and yields what was missed as ``event.new`` messages. Events are de-duplicated by id,
so each arrives exactly once whether it came live or through the catch-up.

Besides the server's messages it yields ``{"type": "connection", "object": {"state":
"connected" | "reconnecting"}}`` so a UI can show the link state. A refused handshake
(bad token, another identity's socket) raises :class:`~boxtui.client.errors.Unauthorized`
or :class:`~boxtui.client.errors.Forbidden` instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

import httpx
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from boxtui.client.errors import APIConnectionError, APIStatusError, BoxError, error_from_response
from boxtui.core.wire import RealtimeMessage

if TYPE_CHECKING:
    from boxtui.client.client import BoxClient

__all__ = ["RealtimeSubscription", "CatchUpBoxes", "websocket_url"]

log = logging.getLogger("boxtui.client.realtime")

#: ``catch_up_boxes()`` → ``{box_id: last event id the caller has, or None}`` (may be async).
CatchUpBoxes = Callable[[], Union[Mapping[str, Union[str, None]], Awaitable[Mapping[str, Union[str, None]]]]]

#: Event types that ``GET …/events`` never lists (folded or admin-only): not usable as ``after=`` cursors.
_UNLISTED_TYPES = frozenset({"msg.edit", "msg.delete", "access.add", "access.rm"})
#: Handshake answers that retrying will not fix.
_FATAL_STATUSES = frozenset({400, 401, 403, 404})
#: Close codes a server uses to refuse a socket after accepting it (policy violation, 4000 + HTTP status).
_FATAL_CLOSE_CODES = frozenset({1008, 4400, 4401, 4403, 4404})
#: How many event ids are remembered for de-duplication.
_SEEN_LIMIT = 10_000


def websocket_url(base_url: str, identity_id: str) -> str:
    """``http://host:port/prefix`` → ``ws://host:port/prefix/box-users/{id}/ws`` (https → wss)."""
    url = httpx.URL(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    path = url.path.rstrip("/") + f"/box-users/{identity_id}/ws"
    return str(url.copy_with(scheme=scheme, path=path, query=None, fragment=None))


def _connection_message(state: str) -> RealtimeMessage:
    return RealtimeMessage(type="connection", object={"state": state})


class RealtimeSubscription:
    """The caller's realtime feed as an async iterator of :class:`RealtimeMessage`.

    Get one from :meth:`BoxClient.realtime`; use it with ``async with``. Entering it waits
    for the first connection attempt: a refused handshake raises there, a network
    failure does not (the subscription keeps retrying and says ``reconnecting``).
    """

    def __init__(
        self,
        client: BoxClient,
        identity_id: str,
        *,
        catch_up_boxes: CatchUpBoxes | None = None,
        initial_backoff: float = 0.25,
        max_backoff: float = 10.0,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
    ):
        self._client = client
        self.identity_id = identity_id
        self.url = websocket_url(client.base_url, identity_id)
        self._catch_up_boxes = catch_up_boxes
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        #: ``"connecting"``, ``"connected"``, ``"reconnecting"`` or ``"closed"``.
        self.state = "connecting"
        self._queue: asyncio.Queue[RealtimeMessage | BaseException | None] = asyncio.Queue()
        self._last_event: dict[str, str] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task | None = None
        self._first_attempt = asyncio.Event()
        self._fatal: BaseException | None = None

    # -- public API -------------------------------------------------------------------

    async def __aenter__(self) -> RealtimeSubscription:
        self._task = asyncio.create_task(self._run(), name=f"boxtui-realtime-{self.identity_id}")
        await self._first_attempt.wait()
        if self._fatal is not None:
            await self.close()
            raise self._fatal
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __aiter__(self) -> RealtimeSubscription:
        return self

    async def __anext__(self) -> RealtimeMessage:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # stay ended for later calls
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(None)
            raise item
        return item

    def last_event_ids(self) -> dict[str, str]:
        """The last listed event id seen per box (the catch-up cursors)."""
        return dict(self._last_event)

    async def send_ack(self, box_id: str) -> None:
        """Reset the unread count of a box: over the socket, or over HTTP while it is down."""
        ws = self._ws
        if ws is not None:
            try:
                await ws.send(json.dumps({"type": "ack", "object": {"box_id": box_id}}))
                return
            except ConnectionClosed:
                pass
        await self._client.boxes.ack(box_id)

    async def close(self) -> None:
        """Stop the subscription; iteration ends after the messages already received."""
        if self.state == "closed":
            return
        self.state = "closed"
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reported through the queue
                pass
        self._queue.put_nowait(None)

    # -- the connection loop ------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        try:
            while True:
                connected = await self._connect_and_listen()
                if connected:
                    attempt = 0
                if self._fatal is not None:
                    self.state = "closed"
                    self._queue.put_nowait(self._fatal)
                    return
                self._first_attempt.set()
                if self.state != "reconnecting":
                    self.state = "reconnecting"
                    self._queue.put_nowait(_connection_message("reconnecting"))
                delay = min(self._max_backoff, self._initial_backoff * 2**attempt)
                attempt += 1
                await asyncio.sleep(delay * random.uniform(0.8, 1.0))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug here must reach the consumer, not vanish in a task
            log.exception("realtime subscription failed")
            self._fatal = exc if isinstance(exc, BoxError) else APIConnectionError(f"realtime subscription failed: {exc!r}")
            self.state = "closed"
            self._queue.put_nowait(self._fatal)
        finally:
            self._first_attempt.set()

    async def _connect_and_listen(self) -> bool:
        """One connection: handshake, catch up, relay. Returns whether the handshake succeeded."""
        try:
            ws = await connect(
                self.url,
                additional_headers=self._handshake_headers(),
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                max_size=8 * 1024 * 1024,
            )
        except InvalidStatus as exc:
            response = exc.response
            if response.status_code in _FATAL_STATUSES:
                self._fatal = error_from_response(
                    httpx.Response(response.status_code, headers=list(response.headers.raw_items()), content=response.body or b"")
                )
            log.info("realtime handshake refused: %s", response.status_code)
            return False
        except InvalidURI as exc:
            self._fatal = APIConnectionError(f"bad realtime URL {self.url}: {exc}")
            return False
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            log.info("realtime connection failed: %r", exc)
            return False
        self._ws = ws
        try:
            self.state = "connected"
            self._queue.put_nowait(_connection_message("connected"))
            self._first_attempt.set()
            await self._catch_up()
            async for raw in ws:
                self._relay(raw)
        except ConnectionClosed:
            pass
        except APIConnectionError as exc:
            log.info("realtime catch-up interrupted: %s", exc)
        finally:
            self._ws = None
            await ws.close()
        close_code = ws.close_code
        if close_code in _FATAL_CLOSE_CODES:
            status = close_code - 4000 if close_code >= 4000 else 403
            self._fatal = error_from_response(httpx.Response(status, json={"desc": ws.close_reason or "realtime socket refused"}))
        return True

    def _handshake_headers(self) -> dict[str, str]:
        headers = self._client.auth_headers("GET")
        cookie = self._client.cookie_header()
        if cookie:
            headers["Cookie"] = cookie
        return headers

    # -- messages ---------------------------------------------------------------------------

    def _relay(self, raw: str | bytes) -> None:
        try:
            message = RealtimeMessage.model_validate_json(raw)
        except ValidationError:
            log.warning("ignoring a realtime frame that is not a message: %.200r", raw)
            return
        if message.type == "event.new":
            if not self._first_sighting(message.object):
                return
        elif message.type == "box.delete":
            self._last_event.pop(str(message.object.get("id")), None)
        elif message.type == "notification" and message.object.get("type") == "member.kick":
            details = message.object.get("details") or {}
            self._last_event.pop(str(details.get("box_id")), None)
        self._queue.put_nowait(message)

    def _first_sighting(self, event: Mapping[str, Any]) -> bool:
        """Record an event; ``False`` when it was already delivered."""
        event_id = event.get("id")
        if not isinstance(event_id, str):
            return True
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        box_id = event.get("box_id")
        if isinstance(box_id, str) and event.get("type") not in _UNLISTED_TYPES:
            self._last_event[box_id] = event_id
        return True

    async def _catch_up(self) -> None:
        """Yield every event missed while disconnected, box by box, oldest first."""
        cursors: dict[str, str] = {}
        if self._catch_up_boxes is not None:
            given = self._catch_up_boxes()
            if inspect.isawaitable(given):
                given = await given
            cursors.update({box_id: last for box_id, last in given.items() if last})
        cursors.update(self._last_event)
        for box_id, after in cursors.items():
            try:
                async for event in self._client.events.iterate(box_id, after=after):
                    payload = event.model_dump(mode="json", exclude_unset=True)
                    if self._first_sighting(payload):
                        self._queue.put_nowait(RealtimeMessage(type="event.new", object=payload))
            except APIStatusError as exc:
                # Gone, left, kicked, or the cursor vanished with the box: nothing to catch up there.
                log.info("no catch-up for box %s: %s", box_id, exc)
                self._last_event.pop(box_id, None)
