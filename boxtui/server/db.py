"""Engine, sessions and the declarative base shared by every domain's models.

Sessions come in two kinds (:class:`Database`):

* **read sessions** (``GET``/``HEAD`` requests, socket authentication, the session
  watcher): on SQLite a separate pool of connections that begin a plain deferred
  transaction and refuse writes (``PRAGMA query_only``), so in WAL mode a read never
  waits for a writer and a writer never waits for readers;
* **write sessions** (everything else): on SQLite each transaction starts with
  ``BEGIN IMMEDIATE`` (the write lock), after the session has taken this process's
  writer lock, an ``asyncio.Lock`` released when the transaction ends. Writers of one
  process queue on it in FIFO order and are woken at once, so SQLite's busy handler
  (which sleeps and polls) only ever arbitrates between processes.

On PostgreSQL both kinds share one pool: MVCC readers never wait for writers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import BigInteger, Integer, MetaData, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session

from boxtui.server import sqlite_driver

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit autoincrement key on PostgreSQL that is still SQLite's ROWID alias.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

#: PostgreSQL pool per process: enough connections for the requests in flight, and
#: requests beyond it wait in the pool's queue (``POOL_TIMEOUT`` seconds, then 503).
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
POOL_TIMEOUT = 30.0
#: SQLite pool per engine (one thread per connection; writers use one at a time).
SQLITE_POOL_SIZE = 5
SQLITE_MAX_OVERFLOW = 10
#: SQLite page cache per connection (KiB, as ``PRAGMA cache_size`` takes it negated;
#: SQLite's default is 2 MB). No memory-mapped I/O: with one mapping per pooled
#: connection (256 MB each) and a 32 MB cache, the server showed 1.1 GB of RSS on the
#: 1M-event benchmark, with no read faster for it than with these settings (131 MB).
SQLITE_CACHE_KIB = 8 * 1024
SQLITE_MMAP_BYTES = 0
READ_BUSY_TIMEOUT_MS = 2000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, read_only: bool = False, application_name: str | None = None) -> AsyncEngine:
    """The engine for ``url``; ``read_only`` (SQLite): deferred, write-refusing connections;
    ``application_name`` (PostgreSQL): its connections' name (:func:`connection_tag`)."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_MAX_OVERFLOW, pool_timeout=POOL_TIMEOUT)
        _configure_sqlite(engine, read_only=read_only)
        return engine
    # No pre-ping: it costs a round trip (and a rollback) at every checkout; a dropped
    # connection is noticed by its first statement and discarded by the pool.
    connect_args = {"server_settings": {"application_name": application_name}} if application_name else {}
    return create_async_engine(url, connect_args=connect_args, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_timeout=POOL_TIMEOUT, pool_recycle=1800)


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool) -> None:
    """WAL, foreign keys, busy timeout, a bigger page cache, and how transactions begin.

    Writers begin ``BEGIN IMMEDIATE``: taking the write lock at the start avoids the
    ``database is locked`` failure SQLite gives when a reader upgrades to a writer
    after another writer committed; the busy timeout then queues writers of other
    processes instead of failing them. Readers begin a deferred ``BEGIN``: one
    snapshot for the whole request, and no lock that a writer waits for (WAL).
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver glue
        sqlite_driver.adopt(dbapi_connection)  # one thread hop per statement
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        if read_only:
            cursor.execute("PRAGMA query_only=1")
            # Reads run inline on the event loop (sqlite_driver): a WAL reader waits only
            # in rare moments (another connection's recovery); never stall the loop long.
            cursor.execute(f"PRAGMA busy_timeout={READ_BUSY_TIMEOUT_MS}")
        cursor.close()

    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver glue
        conn.exec_driver_sql(begin)


class SQLiteWriteSession(AsyncSession):
    """A session whose transactions first take this process's SQLite writer lock.

    The lock (``info["writer_lock"]``) is taken before the first statement of a
    transaction and released when that transaction ends (commit, rollback, close), so
    a route that commits before streaming a long upload holds nothing meanwhile.
    """

    async def _writer(self) -> None:
        if self.info.get("holds_writer_lock"):
            return
        await self.info["writer_lock"].acquire()
        self.info["holds_writer_lock"] = True

    def _release_writer(self) -> None:
        if self.info.pop("holds_writer_lock", False):
            self.info["writer_lock"].release()

    async def execute(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().scalars(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().get(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().flush(*args, **kwargs)

    async def refresh(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().refresh(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().delete(*args, **kwargs)

    async def merge(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().merge(*args, **kwargs)

    async def run_sync(self, *args: Any, **kwargs: Any):
        await self._writer()
        return await super().run_sync(*args, **kwargs)

    async def commit(self) -> None:
        if self.info.get("holds_writer_lock") or self.new or self.dirty or self.deleted:
            await self._writer()  # pending changes flush inside the lock
        try:
            await super().commit()
        finally:
            self._release_writer()

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            self._release_writer()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._release_writer()


class _SyncSession(Session):
    """The sync session behind :class:`SQLiteWriteSession` (its own class for the event)."""


#: ``session.info`` key of the box rows locked in the session's current transaction.
LOCKED_BOXES = "locked_boxes"
#: ``session.info`` key of the writes a route runs just before its commit (events).
DEFERRED_WRITES = "deferred_writes"


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session, transaction):  # pragma: no cover - exercised through the routes
    """What a transaction held ends with it: the box locks it took, the writer lock."""
    if transaction.parent is not None:
        return
    session.info.pop(LOCKED_BOXES, None)
    session.info.pop(DEFERRED_WRITES, None)
    if session.info.pop("holds_writer_lock", False):
        session.info["writer_lock"].release()


@dataclass
class Database:
    """The engines and session factories of one server process."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_engine: AsyncEngine
    read_sessionmaker: async_sessionmaker[AsyncSession]
    #: SQLite: this process's writer lock (see :class:`SQLiteWriteSession`); None on PostgreSQL.
    writer_lock: asyncio.Lock | None = None
    #: PostgreSQL: the ``application_name`` of every connection of this server (:func:`connection_tag`).
    tag: str | None = None

    @property
    def engines(self) -> list[AsyncEngine]:
        return [self.engine] if self.read_engine is self.engine else [self.engine, self.read_engine]

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


def connection_tag() -> str:
    """A name of its own for one server's PostgreSQL connections (``application_name``):
    its realtime bus skips ``NOTIFY`` while no other connection is on the database
    (:class:`~boxtui.server.realtime.bus.PostgresBus`). Random, so servers on different
    machines never share one."""
    return "boxtui " + secrets.token_hex(8)


def open_database(url: str, tag: str | None = None) -> Database:
    """The engines for ``url``; ``tag`` names PostgreSQL's connections (:func:`connection_tag`)."""
    engine = make_engine(url, application_name=tag)
    if not is_sqlite(url):
        maker = make_sessionmaker(engine)
        return Database(engine, maker, engine, maker, tag=tag)
    lock = asyncio.Lock()
    writer = async_sessionmaker(engine, class_=SQLiteWriteSession, sync_session_class=_SyncSession, expire_on_commit=False, info={"writer_lock": lock})
    read_engine = make_engine(url, read_only=True)
    return Database(engine, writer, read_engine, make_sessionmaker(read_engine), lock)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


READ_METHODS = frozenset({"GET", "HEAD"})


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session per request; services commit explicitly.

    ``GET``/``HEAD`` get a read session (they never write), the rest a write session.
    """
    state = request.app.state
    maker = state.read_sessionmaker if request.method in READ_METHODS else state.sessionmaker
    async with maker() as session:
        yield session
