"""Opening an encrypted SQLite file: SQLite3 Multiple Ciphers through APSW.

Every page is ChaCha20-Poly1305 encrypted and authenticated (sqlite3mc's default
``chacha20`` cipher), so a flipped bit anywhere is an error, never silently wrong data.
The key is a random 32-byte key from the key store, so the page key derivation runs a
single PBKDF2 round (stretching a random key buys nothing and would cost ~20 ms a open).

The file is created 0600 before SQLite touches it (its ``-wal`` and ``-shm`` files take
the same mode). Schema versions live in ``PRAGMA user_version``; :func:`open_database`
runs the migrations a file lacks in one transaction each.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import apsw

from .errors import StoreBusy, StoreCorrupted, StoreError, StoreFull, StoreLocked

__all__ = ["open_database", "translate_errors", "Migration", "write_transaction"]

#: A migration: a callable given the connection, run inside a transaction.
Migration = Callable[[apsw.Connection], None]

BUSY_TIMEOUT_MS = 5000


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn SQLite's errors into :mod:`boxtui.store.errors` with a readable message."""
    try:
        yield
    except apsw.FullError:
        raise StoreFull(f"the disk is full: could not write {what}; nothing was changed") from None
    except (apsw.CorruptError, apsw.NotADBError) as exc:
        raise StoreCorrupted(f"{what} is damaged ({exc}); it will be rebuilt from the server") from None
    except (apsw.BusyError, apsw.LockedError):
        raise StoreBusy(f"{what} is busy: another boxtui holds it; try again") from None
    except apsw.IOError as exc:
        raise StoreError(f"cannot read or write {what}: {exc}") from None
    except apsw.CantOpenError as exc:
        raise StoreError(f"cannot open {what}: {exc}") from None


def write_transaction(conn: apsw.Connection, fn, *args):
    """Run ``fn(conn, *args)`` in one IMMEDIATE transaction: all of it or nothing.
    (Callers hold their lock and :func:`translate_errors`.)"""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _create_private(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _apply_key(conn: apsw.Connection, key: bytes) -> None:
    conn.execute("PRAGMA cipher = 'chacha20'")
    conn.execute("PRAGMA kdf_iter = 1")
    conn.execute(f"PRAGMA hexkey = '{key.hex()}'")


def open_database(path: Path, keys: Sequence[bytes], migrations: Sequence[Migration], what: str) -> apsw.Connection:
    """Open (or create, with ``keys[0]``) the encrypted database at ``path``.

    Raises :class:`StoreLocked` when no key opens an existing file (nothing is
    changed), :class:`StoreCorrupted` when the file is damaged, :class:`StoreFull` when
    a new file cannot be written.
    """
    if not keys:
        raise StoreError("no key for the local store")
    path = Path(path)
    created = False
    with translate_errors(what):
        try:
            _create_private(path)
            created = True
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create {what} at {path}: {exc.strerror or exc}") from None
        if not created and path.stat().st_size == 0:
            created = True  # a file made by us that never got its first page
        conn = None
        for key in keys[:1] if created else keys:
            conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
            conn.set_busy_timeout(BUSY_TIMEOUT_MS)
            _apply_key(conn, key)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
                break
            except apsw.NotADBError:
                conn.close()
                conn = None
        if conn is None:
            raise StoreLocked(
                f"{what} at {path} does not open with this key store's keys "
                "(made with another key store, or damaged); nothing was changed"
            )
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: index pages of a big store stay decrypted
            _migrate(conn, migrations)
        except BaseException:
            conn.close()
            raise
    return conn


def _migrate(conn: apsw.Connection, migrations: Sequence[Migration]) -> None:
    """Run the missing steps, each in its own write transaction (a crash leaves the
    previous version; a second process waiting on the lock finds the work done)."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            if version > len(migrations):
                raise StoreError(
                    f"the local store was written by a newer boxtui (schema {version}, this one knows {len(migrations)})"
                )
            if version == len(migrations):
                conn.execute("COMMIT")
                return
            migrations[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
