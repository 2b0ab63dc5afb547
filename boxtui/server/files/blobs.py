"""The blob store: encrypted file bytes on disk under ``settings.blob_dir``.

A blob lives at ``<blob_dir>/<id[:2]>/<id>``. Uploads are written to a staging file
in ``<blob_dir>/.staging`` (same file system), then fsynced and renamed into place,
so a blob is either complete or absent. A crash can still leave a staging file, or a
placed blob whose row never committed: the orphan sweep
(:func:`boxtui.server.files.service.sweep_orphan_blobs`) removes them once old enough. File system calls run in worker threads:
the event loop never waits on the disk.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

from boxtui.core.ids import is_uuid, new_id
from boxtui.server.datadir import open_private

READ_CHUNK_BYTES = 256 * 1024


class BlobStore:
    """Blobs of one server, rooted at ``root`` (``settings.blob_dir``)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, file_id: str) -> Path:
        if not is_uuid(file_id):
            raise ValueError(f"not a blob id: {file_id!r}")
        return self.root / file_id[:2] / file_id

    def files_older_than(self, cutoff: float) -> tuple[list[Path], list[str]]:
        """Staging files and blob ids whose last change (mtime) is before ``cutoff``.

        A blob's mtime is when it was placed (:meth:`StagedBlob.commit` touches it); a
        staging file's is its last write.
        """
        staging = [p for p in (self.root / ".staging").glob("*.part") if _mtime(p) < cutoff]
        blobs = []
        for shard in self.root.iterdir() if self.root.is_dir() else ():
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for path in shard.iterdir():
                if is_uuid(path.name) and path.name[:2] == shard.name and _mtime(path) < cutoff:
                    blobs.append(path.name)
        return staging, blobs

    async def stage(self) -> StagedBlob:
        """A new, empty staging file to stream an upload into."""
        return await to_thread.run_sync(self.stage_now)

    def stage_now(self) -> StagedBlob:
        """:meth:`stage`, blocking (for code already running in a worker thread)."""
        staging = self.root / ".staging"
        staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = staging / f"{new_id()}.part"
        return StagedBlob(self, path, os.fdopen(open_private(path), "w+b"))

    async def open(self, file_id: str) -> BlobReader | None:
        """Open a blob for reading; None when it is not on disk.

        The open handle keeps the bytes readable even if the blob is deleted while
        it is being sent.
        """
        path = self.path(file_id)

        def _open() -> BinaryIO | None:
            try:
                return open(path, "rb")  # noqa: SIM115 - closed by BlobReader
            except FileNotFoundError:
                return None

        handle = await to_thread.run_sync(_open)
        if handle is None:
            return None
        size = os.fstat(handle.fileno()).st_size
        return BlobReader(handle, size)

    async def delete(self, file_id: str) -> None:
        """Remove a blob; a blob already gone is not an error."""
        await to_thread.run_sync(lambda: self.path(file_id).unlink(missing_ok=True))

    def exists(self, file_id: str) -> bool:
        return self.path(file_id).is_file()


class StagedBlob:
    """An upload being written. ``commit(file_id)`` puts it in place; ``discard()`` drops it."""

    def __init__(self, store: BlobStore, path: Path, handle: BinaryIO):
        self._store = store
        self._path = path
        self._handle: BinaryIO | None = handle
        self.size = 0

    async def write(self, data: bytes) -> None:
        if data:
            await to_thread.run_sync(self.write_now, data)

    def write_now(self, data: bytes) -> None:
        """Append ``data``, blocking (from a worker thread)."""
        assert self._handle is not None, "staged blob already finished"
        self._handle.write(data)
        self.size += len(data)

    def overwrite_now(self, offset: int, data: bytes) -> None:
        """Replace bytes already written at ``offset`` (a header known only at the end)."""
        assert self._handle is not None, "staged blob already finished"
        assert offset + len(data) <= self.size, "overwrite past the end"
        self._handle.seek(offset)
        self._handle.write(data)
        self._handle.seek(0, os.SEEK_END)

    async def commit(self, file_id: str) -> None:
        """fsync, then rename to the blob's final path (atomic on one file system)."""
        assert self._handle is not None, "staged blob already finished"
        handle, self._handle = self._handle, None
        final = self._store.path(file_id)

        def _commit() -> None:
            try:
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                handle.close()
            final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.utime(self._path)  # placed now: the orphan sweep counts its grace from here
            os.replace(self._path, final)
            _fsync_dir(final.parent)

        try:
            await to_thread.run_sync(_commit)
        except BaseException:
            await self.discard()
            raise

    async def discard(self) -> None:
        """Close and remove the staging file (safe to call more than once)."""
        await to_thread.run_sync(self.discard_now)

    def discard_now(self) -> None:
        """:meth:`discard`, blocking."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
        self._path.unlink(missing_ok=True)


class BlobReader:
    """An open blob, read as an async stream of chunks; closes itself at the end."""

    def __init__(self, handle: BinaryIO, size: int):
        self._handle = handle
        self.size = size

    async def chunks(self, chunk_size: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        try:
            while chunk := await to_thread.run_sync(self._handle.read, chunk_size):
                yield chunk
        finally:
            self._handle.close()

    def close(self) -> None:
        self._handle.close()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")  # gone meanwhile: nothing to sweep


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
