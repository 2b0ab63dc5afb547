"""The realtime hub: who is connected, and fan-out of messages to them (PROTOCOL §9).

``await start_hub(settings)`` returns a :class:`Hub`. ``await hub.publish(identity_ids,
message)`` sends one envelope ``{"type", "object"}`` to every socket of those
identities. The envelope is serialised **once** (:func:`frames.encode`) and that text
is what every socket's queue holds and what each socket sends: no per-socket JSON.
``hub.connect(identity_id, session_id, limit=n)`` gives a :class:`Subscription` whose
queue the websocket route drains (:class:`TooManySockets` past ``n`` sockets of that
identity in this process); ``hub.disconnect(subscription)`` drops it.
``await hub.end_session(session_id)`` (on logout) sets ``ended`` on every socket of
that session, in every process; ``hub.session_ids()`` lists the sessions holding
sockets, so one query per interval re-checks them all (see ``realtime.router``).

One process needs nothing but itself (:class:`Hub`). Several processes share a bus
(:class:`BusHub` over a :class:`boxtui.server.realtime.bus.Bus`): Redis when
``settings.redis_url`` is set, else PostgreSQL's LISTEN/NOTIFY when the database is
PostgreSQL, else — for ``boxtui serve --workers N`` on SQLite — a Unix socket brokered
by the ``serve`` supervisor. A process delivers what it publishes to its own sockets
at once and sends it on the bus for the others. While its bus is down a process
refuses new sockets (``503``) and closes the open ones with 1013, so no socket is
left silently missing messages; clients reconnect and catch up once it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from boxtui.server.realtime import frames, wire
from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server.realtime")

#: Messages a socket may fall behind by before the hub drops it (it then reconnects
#: and catches up with ``GET …/events?after=``); ``settings.ws_queue_frames``.
QUEUE_SIZE = 1000
#: Frames sent on the bus in one go at most (one ``NOTIFY`` statement, one pipeline).
SEND_GROUP = 256


class TooManySockets(Exception):
    """The identity already holds as many sockets as this process allows."""


class Subscription:
    """One connected socket: its identity and session, the queue of text frames for it,
    and why it must close: it overflowed, its session ended, or the bus was lost.

    Whichever of ``overflowed``, ``ended`` and ``dropped`` is set first also resolves
    :meth:`closing` with that event, so the socket route waits on one future for all
    three (no task per reason: with a thousand sockets, every task and coroutine of a
    socket is more for the garbage collector to walk).
    """

    __slots__ = ("identity_id", "session_id", "queue", "overflowed", "ended", "dropped", "_closing", "socket", "sending")

    def __init__(self, identity_id: str, session_id: str | None = None, queue_size: int = QUEUE_SIZE) -> None:
        self.identity_id = identity_id
        self.session_id = session_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        #: Where the hub may write frames itself (:mod:`boxtui.server.realtime.wire`), set
        #: once the socket is accepted; ``sending`` while the route's send loop sends one.
        self.socket: wire.DirectSocket | None = None
        self.sending = False
        self.overflowed = asyncio.Event()
        self.ended = asyncio.Event()
        #: The realtime bus was lost: this socket may have missed messages of other processes.
        self.dropped = asyncio.Event()
        self._closing: asyncio.Future[asyncio.Event] | None = None

    def offer(self, text: str) -> None:
        """Queue ``text`` (the same str object for every socket); a socket whose queue
        is full (``queue_size`` frames behind) is marked ``overflowed`` and closes."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close(self.overflowed)

    def close(self, reason: asyncio.Event) -> None:
        """Set ``reason`` (one of this subscription's three events); the first one set
        is what :meth:`closing` resolves with."""
        reason.set()
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(reason)

    def closing(self) -> asyncio.Future[asyncio.Event]:
        """A future resolved with the first of ``overflowed``/``ended``/``dropped`` set."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
            for reason in (self.overflowed, self.ended, self.dropped):
                if reason.is_set():
                    self._closing.set_result(reason)
                    break
        return self._closing


class Hub:
    """In-process fan-out."""

    #: Whether new sockets may open (a :class:`BusHub` says no while its bus is down).
    available = True

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}
        self.queue_size = queue_size
        #: Frames written straight to their sockets (the rest went through the sockets' queues).
        self.written = 0
        #: Called with the ended session ids, or None for "any session may have ended"
        #: (the bus was lost): the fast path's token cache (:mod:`boxtui.server.fastpath`).
        self.session_listeners: list = []

    def connect(self, identity_id: str, session_id: str | None = None, limit: int | None = None) -> Subscription:
        subs = self._subscriptions.setdefault(identity_id, set())
        if limit is not None and len(subs) >= limit:
            if not subs:
                del self._subscriptions[identity_id]
            raise TooManySockets(identity_id)
        subscription = Subscription(identity_id, session_id, self.queue_size)
        subs.add(subscription)
        return subscription

    def disconnect(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.identity_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subscriptions[subscription.identity_id]

    def connected(self, identity_id: str) -> int:
        return len(self._subscriptions.get(identity_id, ()))

    def deliver_text(self, identity_ids: Iterable[str], text: str) -> None:
        """Hand the encoded envelope ``text`` to this process's sockets of ``identity_ids``:
        written to the socket at once where nothing is ahead of it (its frame built once
        for all of them, :mod:`~boxtui.server.realtime.wire`), else queued for the socket's
        send loop."""
        subscriptions = self._subscriptions
        frame = None
        for identity_id in set(identity_ids):
            subs = subscriptions.get(identity_id)
            if subs:
                for subscription in tuple(subs):
                    socket = subscription.socket
                    if socket is not None and not subscription.sending and not subscription.queue.qsize():
                        if frame is None:
                            frame = wire.text_frame(text)
                        if socket.write(frame):
                            self.written += 1
                            continue
                    subscription.offer(text)

    def deliver(self, identity_ids: Iterable[str], message: dict[str, Any]) -> None:
        """Hand ``message`` to this process's sockets of ``identity_ids``."""
        self.deliver_text(identity_ids, frames.encode(message))

    async def publish(self, identity_ids: Iterable[str], message: dict[str, Any]) -> None:
        self.deliver(identity_ids, message)

    async def publish_many(self, publication: Iterable[tuple[Iterable[str], dict[str, Any]]]) -> None:
        """:meth:`publish` each (identity ids, message), in order; returns once all are
        published (on a bus: sent together, one wait instead of one per message)."""
        for identity_ids, message in publication:
            await self.publish(identity_ids, message)

    def session_ids(self) -> set[str]:
        """The sessions holding sockets in this process."""
        return {sub.session_id for subs in self._subscriptions.values() for sub in subs if sub.session_id}

    def end_sessions_locally(self, session_ids: Iterable[str]) -> None:
        """Mark every socket of ``session_ids`` in this process as ended."""
        ended = set(session_ids)
        for listener in self.session_listeners:
            listener(ended)
        for subs in list(self._subscriptions.values()):
            for subscription in list(subs):
                if subscription.session_id in ended:
                    subscription.close(subscription.ended)

    def drop_all_locally(self) -> None:
        """Every socket of this process must reconnect (and catch up)."""
        for listener in self.session_listeners:
            listener(None)  # a logout may have been missed too
        for subs in list(self._subscriptions.values()):
            for subscription in list(subs):
                subscription.close(subscription.dropped)

    async def end_session(self, session_id: str) -> None:
        """A session was revoked: its sockets close, in every process."""
        self.end_sessions_locally([session_id])

    async def close(self) -> None:
        self._subscriptions.clear()


class BusHub(Hub):
    """Fan-out across processes through a :class:`~boxtui.server.realtime.bus.Bus`."""

    def __init__(self, bus, queue_size: int = QUEUE_SIZE) -> None:
        super().__init__(queue_size)
        self.bus = bus
        self.origin = frames.new_origin()
        self._seq = 0
        self._outbox: list[tuple[str, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None
        self._up = False
        self._last_seq: dict[str, int] = {}

    @property
    def available(self) -> bool:  # type: ignore[override]
        return self._up

    async def start(self) -> None:
        """Connect the bus; a clear ``RuntimeError`` when it cannot be reached now."""
        await self.bus.start(self._received, self._state)

    def _state(self, up: bool) -> None:
        if up == self._up:
            return
        self._up = up
        self._last_seq.clear()
        if up:
            log.info("the realtime bus (%s) is up: sockets may open", self.bus.name)
        else:
            log.warning("the realtime bus (%s) is down: closing this process's sockets (1013) and refusing new ones (503) until it is back", self.bus.name)
            self.drop_all_locally()

    def _received(self, raw: str) -> None:
        frame = frames.unpack(raw)
        if frame is None:
            log.warning("ignored a malformed realtime frame from %s", self.bus.name)
            return
        if frame.origin == self.origin:
            return  # delivered locally when it was published
        last = self._last_seq.get(frame.origin)
        self._last_seq[frame.origin] = frame.seq
        if last is not None and frame.seq != last + 1:
            log.warning("missed %d realtime frame(s) of another process: this process's sockets reconnect and catch up", frame.seq - last - 1)
            self.drop_all_locally()
        if frame.kind == "m":
            self.deliver_text(frame.targets, frame.text)
        else:
            self.end_sessions_locally(frame.targets)

    async def _send(self, pack) -> None:
        """Number one frame and send it; when that fails the bus reconnects (and this
        process's sockets with it), and other processes see the gap in ``seq``.

        Frames are numbered in the order they are published and sent in that order, in
        groups: the frames published while the previous group was on its way go out
        together (:meth:`Bus.send_many`: one ``NOTIFY`` statement, one Redis pipeline),
        so a busy process pays one round trip per group, not one per frame."""
        done = self._enqueue(pack)
        if done is not None:
            await asyncio.shield(done)

    def _enqueue(self, pack) -> asyncio.Future | None:
        """Number one frame and queue it for the sender task; the future is done once
        its group has been sent (or failed), None when the bus is down."""
        self._seq += 1
        if not self._up:
            return None
        done = asyncio.get_running_loop().create_future()
        self._outbox.append((pack(self.origin, self._seq), done))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="boxtui-bus-send")
        return done

    async def _send_all(self) -> None:
        try:
            while self._outbox:
                group, self._outbox = self._outbox[:SEND_GROUP], self._outbox[SEND_GROUP:]
                try:
                    await self.bus.send_many([frame for frame, _ in group])
                except Exception as exc:  # noqa: BLE001 - any failure: the bus is unusable until it reconnects
                    log.warning("could not publish on %s (%r): reconnecting", self.bus.name, exc)
                    self._state(False)
                    self.bus.reset()
                    group, self._outbox = group + self._outbox, []  # (not sent: the others see the gap)
                finally:
                    for _, done in group:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._sender = None

    async def publish(self, identity_ids: Iterable[str], message: dict[str, Any]) -> None:
        await self.publish_many([(identity_ids, message)])

    async def publish_many(self, publication: Iterable[tuple[Iterable[str], dict[str, Any]]]) -> None:
        """Every message delivered here and queued at once, in order (so they go out in
        one group, or consecutive ones), then one wait for the last: a post's envelopes
        (the sender's, the admin's, everyone else's) cost one send, not three in a row."""
        last = None
        for identity_ids, message in publication:
            ids = sorted(set(identity_ids))
            if not ids:
                continue
            text = frames.encode(message)
            self.deliver_text(ids, text)
            last = self._enqueue(lambda origin, seq, ids=ids, text=text: frames.pack_message(origin, seq, ids, text)) or last
        if last is not None:
            await asyncio.shield(last)  # groups go out in order: the last one sent, all are

    async def end_session(self, session_id: str) -> None:
        self.end_sessions_locally([session_id])
        await self._send(lambda origin, seq: frames.pack_end_session(origin, seq, session_id))

    async def close(self) -> None:
        sender = self._sender
        if sender is not None:
            sender.cancel()
            await asyncio.wait({sender})
        for _, done in self._outbox:
            if not done.done():
                done.set_result(None)
        self._outbox = []
        await self.bus.close()
        await super().close()


async def start_hub(settings: ServerSettings, bus_socket: Path | None = None, tag: str | None = None) -> Hub:
    """The hub this process needs: Redis, PostgreSQL LISTEN/NOTIFY, the supervisor's
    Unix socket (``bus_socket``, set by ``boxtui serve --workers``), or none. ``tag``:
    the ``application_name`` of this server's other PostgreSQL connections."""
    from boxtui.server.realtime import bus

    if settings.redis_url:
        transport: bus.Bus = bus.RedisBus(settings.redis_url)
    elif settings.resolved_database_url.startswith("postgresql"):
        transport = bus.PostgresBus(settings.resolved_database_url, tag)
    elif bus_socket is not None:
        transport = bus.UnixBus(bus_socket)
    else:
        return Hub(settings.ws_queue_frames)
    hub = BusHub(transport, settings.ws_queue_frames)
    await hub.start()
    return hub
