"""SQLite statements without four thread hops each.

SQLAlchemy's aiosqlite adapter runs every statement as four round trips to the
connection's worker thread (create the cursor, execute, fetch the rows, close the
cursor), each a queue hand-off and a wake-up of the event loop; profiled, those hops
were the largest cost of a request (PROFILE.md §1.2), and on a busy machine each also
waits for the worker thread to be scheduled. :class:`OneHopCursor` runs a statement
whole — cursor, execute, fetch, close — either

* on the event loop's thread, inline, when it cannot wait for a lock: every statement
  of a transaction that already began (a reader in WAL mode never waits; a writer
  holds the write lock from its ``BEGIN IMMEDIATE``), and a deferred ``BEGIN``. Each
  is an index lookup or a single-row write of some microseconds;
* or as one hop to the connection's thread when it may wait: ``BEGIN IMMEDIATE``
  (another process may hold the write lock: SQLite's busy handler sleeps, which must
  not stop the event loop). ``COMMIT`` also goes there (a commit may run a WAL
  checkpoint, which writes and syncs the database file).

:func:`adopt` switches one freshly opened DBAPI connection of an engine over to it (no
global patching: other engines in the process keep SQLAlchemy's own cursor).
"""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run(conn, operation: str, parameters: Any, many: bool) -> tuple[Any, list, int, int | None]:
    """On the connection's thread: the statement's description, rows, rowcount, lastrowid."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor whose statements each cost one hop to the connection's thread.

    The results (description, rows, rowcount, lastrowid) are kept on the adapter; the
    ``sqlite3`` cursor is closed on the thread before the hop returns.
    """

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection) -> None:  # no hop: no aiosqlite cursor is made
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._rows = collections.deque()
        self._soft_closed_memoized = EMPTY_DICT
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    async def _hop(self, operation: str, parameters: Any, many: bool) -> tuple:
        connection = self._connection  # aiosqlite.Connection: its worker thread
        async with self._adapt_connection._execute_mutex:
            return await connection._execute(_run, connection._conn, operation, parameters, many)

    def _statement(self, operation: str, parameters: Any, many: bool) -> None:
        try:
            if _may_wait(operation):
                result = await_(self._hop(operation, parameters, many))
            else:
                result = _run(self._connection._conn, operation, parameters, many)
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._statement(operation, parameters, False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._statement(operation, seq_of_parameters, True)


def _may_wait(operation: str) -> bool:
    """Whether the statement may wait for another connection's lock (see the module doc)."""
    head = operation.lstrip()[:16].upper()
    return head.startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "COMMIT", "END", "PRAGMA JOURNAL_MODE", "VACUUM"))


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor

    def rollback(self) -> None:
        # A rollback never waits for a lock: inline (the pool rolls back every checkin).
        try:
            self._connection._conn.rollback()
        except Exception as error:
            self._handle_exception(error)


def adopt(dbapi_connection) -> None:
    """Make a new aiosqlite DBAPI connection (SQLAlchemy's adapter) use :class:`OneHopCursor`.

    Its ``sqlite3`` connection must have been opened with ``check_same_thread=False``
    (it is used from the event loop's thread and from its worker, never both at once).
    """
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = OneHopConnection
