"""Buses that carry realtime frames between server processes (PROTOCOL §10.17).

A :class:`Bus` moves opaque text frames (:mod:`boxtui.server.realtime.frames`) to every
other process on it, and tells its hub when it is up and when it is lost. Each keeps
one listening connection, reconnected every second while it is down.

* :class:`RedisBus` — Redis pub/sub on the channel ``boxtui:realtime``: any number of
  processes on any number of machines.
* :class:`PostgresBus` — PostgreSQL ``LISTEN``/``NOTIFY`` on the channel
  ``boxtui_realtime``, when the database is PostgreSQL and no Redis is configured. A
  ``NOTIFY`` payload must be under 8,000 bytes, and a message (an event view carries
  up to 64 KiB of ciphertext) can be larger, so a frame is cut into chunks of at most
  7,800 bytes sent by one transaction — PostgreSQL delivers one transaction's
  notifications together and in order — and put back together by the listeners. This
  keeps the bus blind to what it carries (no re-read of events, no re-rendering per
  process) and needs no table. A server alone on its database sends nothing
  (:data:`_PG_NOTIFY_FUNCTION`).
* :class:`UnixBus` — for ``boxtui serve --workers N`` on SQLite without Redis: every
  worker connects to a Unix socket served by the supervisor (:class:`LocalBroker`),
  which passes each frame to the other workers. SQLite already ties the workers to
  one machine, so a machine-local bus is all they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("boxtui.server.realtime")

#: Seconds between two attempts to get a lost bus back.
RETRY_SECONDS = 1.0
#: How long the first connection may take at startup.
CONNECT_TIMEOUT = 5.0

REDIS_CHANNEL = "boxtui:realtime"
PG_CHANNEL = "boxtui_realtime"
#: Bytes of frame per NOTIFY (PostgreSQL refuses payloads of 8,000 bytes or more).
PG_CHUNK_BYTES = 7800
#: How often the idle LISTEN connection is checked.
PG_KEEPALIVE_SECONDS = 5.0


class BusUnavailable(Exception):
    """The bus is down: the frame was not sent."""


class Bus:
    """One listening connection, kept up: ``start`` connects (or raises a clear
    ``RuntimeError``), then frames go to ``receive`` and the state to ``state``."""

    name = "bus"

    def __init__(self) -> None:
        self._task: asyncio.Task | None = None
        self._reset = asyncio.Event()
        self._receive: Callable[[str], None] = lambda frame: None
        self._state: Callable[[bool], None] = lambda up: None

    # what each bus provides
    async def _connect(self) -> Any:
        raise NotImplementedError

    async def _listen(self, conn: Any) -> None:
        """Receive frames until the connection is lost (then raise or return)."""
        raise NotImplementedError

    async def _disconnect(self, conn: Any) -> None:
        raise NotImplementedError

    async def send(self, frame: str) -> None:
        raise NotImplementedError

    async def send_many(self, frames: list[str]) -> None:
        """Send ``frames`` in this order (raise if any could not be sent)."""
        for frame in frames:
            await self.send(frame)

    # the loop
    async def start(self, receive: Callable[[str], None], state: Callable[[bool], None]) -> None:
        self._receive, self._state = receive, state
        try:
            conn = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - any failure: say which setting is wrong
            await self._close_clients()
            raise RuntimeError(f"cannot reach {self.name}: {exc!r}") from None
        self._state(True)  # subscribed: from now on nothing published is missed
        self._task = asyncio.create_task(self._run(conn), name=f"boxtui-bus-{self.name}")

    def reset(self) -> None:
        """Drop the connection and make a new one (a send failed)."""
        self._reset.set()

    async def _run(self, conn: Any) -> None:
        while True:
            try:
                if conn is None:
                    conn = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT)
                self._reset.clear()
                self._state(True)
                listen = asyncio.create_task(self._listen(conn))
                reset = asyncio.create_task(self._reset.wait())
                try:
                    done, _ = await asyncio.wait({listen, reset}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (listen, reset):
                        task.cancel()
                    # asyncio.wait, not ``await task`` under suppress(CancelledError): that
                    # would swallow a cancel of this task (close()) and keep it looping.
                    await asyncio.wait({listen, reset})
                if listen in done and not listen.cancelled() and listen.exception() is not None:
                    raise listen.exception()  # type: ignore[misc]
                log.warning("%s: connection dropped; reconnecting", self.name)
            except asyncio.CancelledError:  # close(): the listening connection goes too
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._disconnect(conn), 2)
                raise
            except Exception as exc:  # noqa: BLE001 - keep trying while it is away
                log.warning("%s is unreachable (%r); retrying in %g s", self.name, exc, RETRY_SECONDS)
            self._state(False)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await self._disconnect(conn)
                conn = None
            await asyncio.sleep(RETRY_SECONDS)

    async def _close_clients(self) -> None:
        """Release what ``__init__`` opened (publishing clients)."""

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_clients()


# --------------------------------------------------------------------------- Redis


class RedisBus(Bus):
    name = "Redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        # Publishing fails fast when Redis is gone; the subscriber pings when idle.
        self._pub = redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._sub = redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)

    async def _connect(self) -> Any:
        pubsub = self._sub.pubsub()  # (the confirmation below is a subscribe message)
        try:
            await pubsub.subscribe(REDIS_CHANNEL)
            # Redis's confirmation: from now on nothing published on the channel is missed.
            deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT
            while True:
                item = await pubsub.get_message(ignore_subscribe_messages=False, timeout=0.1)
                if item is not None and item.get("type") == "subscribe":
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise ConnectionError("Redis did not confirm the subscription")
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        return pubsub

    async def _listen(self, pubsub: Any) -> None:
        receive = self._receive
        while True:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is not None and item.get("type") == "message":
                data = item["data"]
                receive(data.decode("utf-8", "replace") if isinstance(data, bytes) else data)

    async def _disconnect(self, pubsub: Any) -> None:
        await pubsub.aclose()

    async def send(self, frame: str) -> None:
        await self._pub.publish(REDIS_CHANNEL, frame)

    async def send_many(self, frames: list[str]) -> None:
        if len(frames) == 1:
            await self.send(frames[0])
            return
        async with self._pub.pipeline(transaction=False) as pipe:  # one round trip, in order
            for frame in frames:
                pipe.publish(REDIS_CHANNEL, frame)
            await pipe.execute()

    async def _close_clients(self) -> None:
        for client in (self._pub, self._sub):
            with contextlib.suppress(Exception):
                await client.aclose()


# --------------------------------------------------------------------------- PostgreSQL


def asyncpg_connect_args(database_url: str) -> dict[str, Any]:
    """``asyncpg.connect`` keywords for a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    from sqlalchemy.dialects.postgresql.asyncpg import dialect
    from sqlalchemy.engine import make_url

    _, kwargs = dialect().create_connect_args(make_url(database_url))
    for sqlalchemy_only in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"):
        kwargs.pop(sqlalchemy_only, None)
    return kwargs


def split_utf8(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    pieces, start = [], 0
    while start < len(data) or not pieces:
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


#: A volatile function in the select list runs after the sort: in ``n`` order.
_PG_NOTIFY_MANY = "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n"
#: Advisory lock between a NOTIFY's look at who is connected and a new listener's start.
PG_NOTIFY_LOCK_KEY = 0x626F787475690002
#: Once a look found another connection, plain NOTIFYs (safe whoever listens, and
#: cheaper than a look) for this long before the next look.
PG_LOOK_AGAIN_SECONDS = 1.0
#: ``pg_temp.boxtui_notify(channel, payloads, tag)``, made on each notifying connection:
#: the payloads, in order, as one transaction's notifications — unless every connection
#: to this database is this server's own (``application_name`` = its tag): then no
#: listener but its own can be on the channel, and nothing is sent. It answers whether
#: it sent (the look is ``pg_stat_activity`` without the view's joins: about 35 µs of
#: the database's CPU, against the listeners' wake-ups and frames it saves). The look
#: is safe against a listener that is starting: a new listener's
#: backend shows in ``pg_stat_activity`` from the moment it connects, before its
#: ``LISTEN``; and once listening, a bus waits for this function's shared lock to be
#: free (:meth:`PostgresBus._connect`) before its server opens any socket, so a
#: transaction that looked before that listener connected has committed by then, and
#: the sockets' catch-up reads what it wrote. Any other connection on the database — a
#: server of an older version, a ``psql``, autovacuum — and it sends, as before; the
#: bus then sends plain NOTIFYs for ``PG_LOOK_AGAIN_SECONDS`` before it looks again.
_PG_NOTIFY_FUNCTION = f"""
CREATE FUNCTION pg_temp.boxtui_notify(channel text, payloads text[], tag text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared({PG_NOTIFY_LOCK_KEY});
    IF NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(NULL) AS a
                   WHERE a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                     AND a.application_name IS DISTINCT FROM tag) THEN
        RETURN false;
    END IF;
    FOREACH payload IN ARRAY payloads LOOP
        PERFORM pg_notify(channel, payload);
    END LOOP;
    RETURN true;
END
$$"""


class PostgresBus(Bus):
    name = "PostgreSQL LISTEN/NOTIFY"

    def __init__(self, database_url: str, tag: str | None = None) -> None:
        """``tag``: the ``application_name`` of every PostgreSQL connection of this
        server (:func:`boxtui.server.db.connection_tag`); this bus's own connections
        take it too. Without one, it always sends."""
        super().__init__()
        self._connect_args = asyncpg_connect_args(database_url)
        self.tag = tag
        #: Whether the notifier has ``pg_temp.boxtui_notify`` (it cannot when the
        #: database refuses this role temporary objects: it then always sends).
        self._notify_function = False
        #: Until when (monotonic) it sends without looking: the last look found others.
        self._plain_until = 0.0
        self._notifier: Any = None
        #: The backend of ``_notifier`` (while it is open no other backend has its pid).
        self._notifier_pid: int | None = None
        self._notify_lock = asyncio.Lock()
        self._partial: dict[str, list[str | None]] = {}
        self._lost: asyncio.Event | None = None

    async def _open(self, **settings: str) -> Any:
        import asyncpg

        kwargs = dict(self._connect_args)
        if self.tag:
            settings = {"application_name": self.tag, **settings}
        if settings:
            kwargs["server_settings"] = {**kwargs.get("server_settings", {}), **settings}
        return await asyncpg.connect(**kwargs, timeout=CONNECT_TIMEOUT)

    async def _connect(self) -> Any:
        conn = await self._open()
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(PG_CHANNEL, self._on_notify)
            # Listening now: wait until no transaction that looked at who is connected
            # before this connection existed is still open (``_PG_NOTIFY_FUNCTION``).
            await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({PG_NOTIFY_LOCK_KEY}); COMMIT")
        except BaseException:  # (the connect timeout included): not left open behind
            conn.terminate()
            raise
        self._lost = lost
        self._partial.clear()
        return conn

    async def _listen(self, conn: Any) -> None:
        lost = self._lost
        assert lost is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PG_KEEPALIVE_SECONDS)
            if lost.is_set() or conn.is_closed():
                return
            await asyncio.wait_for(conn.fetchval("SELECT 1"), PG_KEEPALIVE_SECONDS)

    async def _disconnect(self, conn: Any) -> None:
        if not conn.is_closed():
            await asyncio.wait_for(conn.close(), 2)

    def _on_notify(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid == self._notifier_pid:
            return  # this process's own frame (delivered here when it was published): not even parsed
        head, _, data = payload.partition(" ")
        if head == "-":
            self._receive(data)
            return
        try:
            frame_id, index, count = head.rsplit("/", 2)
            i, n = int(index), int(count)
        except ValueError:
            log.warning("ignored a malformed notification on %s", PG_CHANNEL)
            return
        parts = self._partial.setdefault(frame_id, [None] * n)
        if len(parts) != n or not 0 <= i < n:
            self._partial.pop(frame_id, None)
            return
        parts[i] = data
        if all(part is not None for part in parts):
            del self._partial[frame_id]
            self._receive("".join(parts))  # type: ignore[arg-type]
        elif len(self._partial) > 64:  # pieces of frames whose other pieces never came
            self._partial.pop(next(iter(self._partial)))

    async def send(self, frame: str) -> None:
        await self.send_many([frame])

    async def send_many(self, frames: list[str]) -> None:
        """One statement, so one transaction: the notifications are delivered together,
        in this order (a frame over ``PG_CHUNK_BYTES`` goes in numbered pieces)."""
        payloads = []
        for frame in frames:
            chunks = split_utf8(frame, PG_CHUNK_BYTES)
            if len(chunks) == 1:
                payloads.append("- " + frame)
            else:
                frame_id = secrets.token_hex(8)
                payloads.extend(f"{frame_id}/{i}/{len(chunks)} {chunk}" for i, chunk in enumerate(chunks))
        async with self._notify_lock:
            try:
                if self._notifier is None or self._notifier.is_closed():
                    self._notifier_pid = None
                    # A NOTIFY's transaction writes nothing that must outlive a crash (nor
                    # does the queue it fills): its commit need not wait for the disk.
                    self._notifier = await self._open(synchronous_commit="off")
                    self._notifier_pid = self._notifier.get_server_pid()
                    self._notify_function = await self._make_notify_function(self._notifier)
                if self._notify_function and time.monotonic() >= self._plain_until:
                    if await self._notifier.fetchval("SELECT pg_temp.boxtui_notify($1, $2::text[], $3)", PG_CHANNEL, payloads, self.tag):
                        self._plain_until = time.monotonic() + PG_LOOK_AGAIN_SECONDS
                elif len(payloads) == 1:
                    await self._notifier.execute("SELECT pg_notify($1, $2)", PG_CHANNEL, payloads[0])
                else:
                    await self._notifier.execute(_PG_NOTIFY_MANY, PG_CHANNEL, payloads)
            except BaseException:
                notifier, self._notifier, self._notifier_pid = self._notifier, None, None
                if notifier is not None:
                    notifier.terminate()
                raise

    async def _make_notify_function(self, conn: Any) -> bool:
        if not self.tag:
            return False
        import asyncpg

        try:
            await conn.execute(_PG_NOTIFY_FUNCTION)
        except asyncpg.InsufficientPrivilegeError as exc:
            log.info("no temporary function on this database (%s): every realtime frame goes out by NOTIFY", exc)
            return False
        return True

    async def _close_clients(self) -> None:
        notifier, self._notifier, self._notifier_pid = self._notifier, None, None
        if notifier is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(notifier.close(), 2)


# --------------------------------------------------------------------------- a Unix socket on one machine

_LENGTH = 4  # bytes of big-endian length in front of each frame on the Unix socket
_HELLO = bytes(_LENGTH)  # an empty frame: the broker's first words to a worker
#: A worker this far behind on the local bus is disconnected (it reconnects).
MAX_BACKLOG_BYTES = 64 << 20


async def _framed(reader: asyncio.StreamReader):
    """The length-prefixed frames as they come, each yield as many whole frames as have
    arrived (one relay or one parse per read, not per frame), until the stream ends."""
    buffer = bytearray()
    while chunk := await reader.read(1 << 16):
        buffer += chunk
        end = 0
        while len(buffer) - end >= _LENGTH:
            size = int.from_bytes(buffer[end : end + _LENGTH], "big")
            if len(buffer) - end - _LENGTH < size:
                break
            end += _LENGTH + size
        if end:
            yield bytes(buffer[:end])
            del buffer[:end]


class UnixBus(Bus):
    """A worker's end of the supervisor's :class:`LocalBroker`."""

    name = "the local realtime bus"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> Any:
        reader, writer = await asyncio.open_unix_connection(str(self.path))
        try:
            # The broker's hello (an empty frame) says it relays to this worker from now
            # on: no frame another worker sends after this returns is missed.
            if await reader.readexactly(_LENGTH) != _HELLO:
                raise ConnectionError("not the local realtime bus")
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        return reader, writer

    async def _listen(self, conn: Any) -> None:
        reader, _ = conn
        receive = self._receive
        async for data in _framed(reader):
            start = 0
            while start < len(data):
                size = int.from_bytes(data[start : start + _LENGTH], "big")
                receive(data[start + _LENGTH : start + _LENGTH + size].decode("utf-8", "replace"))
                start += _LENGTH + size
        raise ConnectionError("the local realtime bus closed")

    async def _disconnect(self, conn: Any) -> None:
        _, writer = conn
        if self._writer is writer:
            self._writer = None
        writer.close()

    async def send(self, frame: str) -> None:
        await self.send_many([frame])

    async def send_many(self, frames: list[str]) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise BusUnavailable("not connected")
        for frame in frames:
            data = frame.encode("utf-8")
            writer.write(len(data).to_bytes(_LENGTH, "big") + data)
        await writer.drain()


class LocalBroker:
    """The supervisor's side: a Unix socket in a private folder; every frame a worker
    writes goes to every other worker. Runs its own event loop in a daemon thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task] = set()

    def start(self) -> None:
        threading.Thread(target=self._thread, name="boxtui-local-bus", daemon=True).start()
        self._ready.wait(10)
        if self._error is not None or not self._ready.is_set():
            raise RuntimeError(f"cannot start the local realtime bus at {self.path}: {self._error!r}")

    def _thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        parent = self.path.parent
        if stat.S_IMODE(parent.stat().st_mode) & 0o077:
            raise RuntimeError(f"{parent} must be private (0700)")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._client, str(self.path))
        os.chmod(self.path, 0o600)
        self._ready.set()
        async with self._server:
            with contextlib.suppress(asyncio.CancelledError):
                await self._server.serve_forever()
        if self._handlers:  # closed by _shutdown: let them finish
            await asyncio.wait(self._handlers, timeout=5)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in tuple(self._clients):
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        writer.write(_HELLO)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            async for data in _framed(reader):
                for other in tuple(self._clients):
                    if other is writer or other.is_closing():
                        continue
                    if other.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
                        log.warning("a worker fell too far behind on the local realtime bus: disconnecting it")
                        other.close()
                        continue
                    other.write(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    def stop(self) -> None:
        """Close the socket and every worker's connection (they notice at once)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
