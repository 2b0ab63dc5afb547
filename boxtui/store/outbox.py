"""``Outbox``: messages written on this device and not yet acknowledged by the server.

Its own encrypted file (``outbox.db``, same key as the cache), so a damaged or deleted
cache is rebuilt from the server without losing a queued message.

Each entry is sealed when it is queued and keeps an ``Idempotency-Key`` made then:
every attempt sends the very same request, so a send cut off between the server's
commit and its answer (a crash, ``kill -9``, a lost connection) is answered on the next
attempt with the event the first one created, never a second copy.

States: ``queued`` → ``sent`` (with the server's event id; kept until the cache holds
that event, then removed) or ``failed`` (the server refused it for good: the user sees
why and may retry or discard it). An entry being sent is *claimed* by one process
(``claimed_by`` + ``claimed_at``) so two instances on one profile do not race; a claim
whose process is gone (killed mid-send) or older than :data:`CLAIM_TIMEOUT` seconds is
taken over.

A file message keeps its encrypted blob next to the file (``outbox/<local_id>.blob``,
0600): an interrupted upload restarts from it with the same key, so the server's
answer is the same event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from .db import open_database, translate_errors, write_transaction
from .errors import StoreError, StoreFull

__all__ = ["Outbox", "OutboxEntry", "CLAIM_TIMEOUT"]

WHAT = "the outbox"
CLAIM_TIMEOUT = 120.0


def _schema_1(conn: apsw.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE outbox(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            local_id TEXT NOT NULL UNIQUE,
            idempotency_key TEXT NOT NULL UNIQUE,
            box_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            preview TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            event_id TEXT,
            claimed_by TEXT,
            claimed_at REAL
        );
        CREATE INDEX outbox_box ON outbox(box_id, seq);
        """
    )


MIGRATIONS = [_schema_1]


@dataclass(frozen=True)
class OutboxEntry:
    """A queued message. ``body`` is what is sent (sealed already); ``preview`` the
    plaintext shown as pending in the timeline (the file name for a file)."""

    seq: int
    local_id: str
    idempotency_key: str
    box_id: str
    kind: str
    body: dict[str, Any]
    preview: str
    created_at: str
    state: str
    attempts: int
    last_error: str | None
    event_id: str | None


_COLUMNS = "seq, local_id, idempotency_key, box_id, kind, body, preview, created_at, state, attempts, last_error, event_id"


def _entry(row: tuple) -> OutboxEntry:
    seq, local_id, key, box_id, kind, body, preview, created, state, attempts, error, event_id = row
    return OutboxEntry(seq, local_id, key, box_id, kind, json.loads(body), preview, created, state, attempts, error, event_id)


def _alive(owner: str) -> bool:
    """Whether the process that claimed an entry still runs (on this machine: the store
    is a local file). A claim by a dead process is taken over at once."""
    try:
        os.kill(int(owner.split(":", 1)[0]), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError, OSError):
        return True
    return True


class Outbox:
    """The outbox of one profile; build it with :meth:`open`. Thread safe."""

    def __init__(self, conn: apsw.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.blob_dir = path.parent / "outbox"
        self._lock = threading.RLock()
        #: Who claims entries: unique per process and Outbox.
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @classmethod
    def open(cls, path: Path, keys: Sequence[bytes]) -> Outbox:
        return cls(open_database(Path(path), keys, MIGRATIONS, WHAT), Path(path))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _run(self, fn, *args, write: bool = True):
        with self._lock, translate_errors(WHAT):
            return write_transaction(self._conn, fn, *args) if write else fn(self._conn, *args)

    # --- queueing -------------------------------------------------------------------

    def add(
        self, box_id: str, kind: str, body: dict[str, Any], preview: str, created_at: str, blob: bytes | None = None
    ) -> OutboxEntry:
        """Queue a message (its blob first, for a file): durable when this returns."""
        local_id = str(uuid.uuid4())
        key = str(uuid.uuid4())
        if blob is not None:
            self._write_blob(local_id, blob)

        def write(conn: apsw.Connection) -> int:
            conn.execute(
                "INSERT INTO outbox(local_id, idempotency_key, box_id, kind, body, preview, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (local_id, key, box_id, kind, json.dumps(body, separators=(",", ":")), preview, created_at),
            )
            return conn.last_insert_rowid()

        try:
            self._run(write)
        except BaseException:
            self._remove_blob(local_id)
            raise
        entry = self.get(local_id)
        assert entry is not None
        return entry

    def _write_blob(self, local_id: str, blob: bytes) -> None:
        self.blob_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.blob_dir / f"{local_id}.blob"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(blob)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            if exc.errno == 28:  # ENOSPC
                raise StoreFull("the disk is full: the file was not queued") from None
            raise StoreError(f"cannot keep the file to send: {exc.strerror or exc}") from None

    def blob(self, local_id: str) -> bytes:
        try:
            return (self.blob_dir / f"{local_id}.blob").read_bytes()
        except OSError as exc:
            raise StoreError(f"the queued file is gone from the outbox: {exc.strerror or exc}") from None

    def _remove_blob(self, local_id: str) -> None:
        with contextlib.suppress(OSError):
            (self.blob_dir / f"{local_id}.blob").unlink()

    # --- reading --------------------------------------------------------------------

    def get(self, local_id: str) -> OutboxEntry | None:
        rows = self._run(lambda c: c.execute(f"SELECT {_COLUMNS} FROM outbox WHERE local_id = ?", (local_id,)).fetchall(), write=False)
        return _entry(rows[0]) if rows else None

    def entries(self, box_id: str | None = None, *, states: Sequence[str] = ("queued", "failed")) -> list[OutboxEntry]:
        """Entries in the order they were queued (one box's, or all)."""
        marks = ",".join("?" * len(states))
        sql = f"SELECT {_COLUMNS} FROM outbox WHERE state IN ({marks})"
        params: list[Any] = list(states)
        if box_id is not None:
            sql += " AND box_id = ?"
            params.append(box_id)
        rows = self._run(lambda c: c.execute(sql + " ORDER BY seq", params).fetchall(), write=False)
        return [_entry(row) for row in rows]

    def pending_count(self) -> int:
        return self._run(lambda c: c.execute("SELECT count(*) FROM outbox WHERE state = 'queued'").fetchall()[0][0], write=False)

    # --- sending --------------------------------------------------------------------

    def claim_next(self) -> OutboxEntry | None:
        """The oldest queued entry, claimed by this process (None when there is none or
        another live process holds it). Entries go out in order: while the oldest is
        held elsewhere, nothing newer is handed out."""
        now = time.time()

        def write(conn: apsw.Connection) -> OutboxEntry | None:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, claimed_by, claimed_at FROM outbox WHERE state = 'queued' ORDER BY seq LIMIT 1"
            ).fetchall()
            if not rows:
                return None
            *columns, claimed_by, claimed_at = rows[0]
            if (
                claimed_by not in (None, self.owner)
                and claimed_at is not None
                and now - claimed_at < CLAIM_TIMEOUT
                and _alive(claimed_by)
            ):
                return None
            conn.execute(
                "UPDATE outbox SET claimed_by = ?, claimed_at = ?, attempts = attempts + 1 WHERE seq = ?",
                (self.owner, now, columns[0]),
            )
            entry = _entry(tuple(columns))
            return dataclasses.replace(entry, attempts=entry.attempts + 1)

        return self._run(write)

    def mark_sent(self, local_id: str, event_id: str) -> None:
        def write(conn: apsw.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET state = 'sent', event_id = ?, claimed_by = NULL, last_error = NULL WHERE local_id = ?",
                (event_id, local_id),
            )

        self._run(write)
        self._remove_blob(local_id)

    def release(self, local_id: str, error: str | None = None) -> None:
        """Give a claimed entry back (the server could not be reached): retried later."""
        self._run(
            lambda c: c.execute(
                "UPDATE outbox SET claimed_by = NULL, claimed_at = NULL, last_error = ? WHERE local_id = ?", (error, local_id)
            )
        )

    def mark_failed(self, local_id: str, error: str) -> None:
        """The server refused the entry for good; it waits for the user (retry/discard)."""
        self._run(
            lambda c: c.execute(
                "UPDATE outbox SET state = 'failed', claimed_by = NULL, last_error = ? WHERE local_id = ?", (error, local_id)
            )
        )

    def retry(self, local_id: str) -> None:
        self._run(lambda c: c.execute("UPDATE outbox SET state = 'queued', last_error = NULL WHERE local_id = ? AND state = 'failed'", (local_id,)))

    def discard(self, local_id: str) -> None:
        self._run(lambda c: c.execute("DELETE FROM outbox WHERE local_id = ? AND state != 'sent'", (local_id,)))
        self._remove_blob(local_id)

    def forget_sent(self, event_ids: Sequence[str] | None = None) -> int:
        """Drop sent entries (those whose event is now stored, or all with None)."""
        if event_ids is None:
            return self._run(lambda c: (c.execute("DELETE FROM outbox WHERE state = 'sent'"), c.changes())[1])
        ids = list(event_ids)
        if not ids:
            return 0

        def write(conn: apsw.Connection) -> int:
            total = 0
            for event_id in ids:
                conn.execute("DELETE FROM outbox WHERE state = 'sent' AND event_id = ?", (event_id,))
                total += conn.changes()
            return total

        return self._run(write)
