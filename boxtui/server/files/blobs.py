"""The blob store: where encrypted file bytes live, behind one small interface.

:class:`BlobStore` is what the rest of the server sees: ``stage()`` a new blob and
stream bytes into it, ``commit()`` it (now readable under its id) or ``discard()`` it,
``open()`` one to stream it out, ``delete()`` one, and, for the orphan sweep, list the
leftovers older than a cutoff. Two stores implement it:

* :class:`FileSystemBlobStore` (the default): files under ``settings.blob_dir``, at
  ``<blob_dir>/<id[:2]>/<id>``. Uploads are written to a staging file in
  ``<blob_dir>/.staging`` (same file system), then fsynced and renamed into place, so
  a blob is either complete or absent. File system calls run in worker threads: the
  event loop never waits on the disk.
* :class:`boxtui.server.files.s3.S3BlobStore`: objects in an S3-compatible bucket
  (``--blob-store s3://bucket/prefix``), uploaded as a multipart upload while the body
  arrives and visible only once complete.

A crash can still leave a staging file (an unfinished multipart upload on S3), or a
placed blob whose row never committed: the orphan sweep
(:func:`boxtui.server.files.service.sweep_orphan_blobs`) removes them once old enough.
A store that cannot be reached raises :class:`BlobStoreUnavailable` (``503``).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

from boxtui.core.ids import is_uuid, new_id
from boxtui.server.datadir import open_private
from boxtui.server.errors import ServiceUnavailable

READ_CHUNK_BYTES = 256 * 1024


class BlobStoreUnavailable(ServiceUnavailable):
    """The blob store cannot be reached (or refused the request); nothing was stored."""

    def __init__(self, reason: str):
        super().__init__("the file store cannot be reached right now; try again later")
        self.reason = reason


class StagedBlob(ABC):
    """An upload being written under the id chosen for it (``file_id``).

    ``commit()`` makes it readable under that id; ``discard()`` drops it. The ``*_now``
    methods block, for code already running in a worker thread (the e-mail reader).
    """

    file_id: str
    size: int

    @abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abstractmethod
    def write_now(self, data: bytes) -> None: ...

    @abstractmethod
    def overwrite_now(self, offset: int, data: bytes) -> None:
        """Replace bytes already written at ``offset`` (a header known only at the end).

        Only the first :data:`OVERWRITE_WINDOW` bytes can be overwritten (a store may
        send the rest on while the upload goes on)."""

    @abstractmethod
    async def commit(self) -> None:
        """Make the blob readable under ``file_id``; on failure nothing is left."""

    @abstractmethod
    async def discard(self) -> None:
        """Drop what was written (safe to call more than once, and after ``commit``
        failed); never raises for an unreachable store."""

    @abstractmethod
    def discard_now(self) -> None: ...


#: How far into a staged blob ``overwrite_now`` may reach (the smallest S3 part).
OVERWRITE_WINDOW = 5 << 20


class BlobReader(ABC):
    """An open blob, read as an async stream of chunks; closes itself at the end."""

    size: int

    @abstractmethod
    def chunks(self, chunk_size: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]: ...

    @abstractmethod
    async def aclose(self) -> None: ...


class BlobStore(ABC):
    """Where the blobs of one server (or of several sharing it) live."""

    @abstractmethod
    async def stage(self) -> StagedBlob:
        """A new, empty blob to stream an upload into, under a fresh id."""

    @abstractmethod
    def stage_now(self) -> StagedBlob:
        """:meth:`stage`, blocking (for code already running in a worker thread)."""

    @abstractmethod
    async def open(self, file_id: str) -> BlobReader | None:
        """Open a blob for reading; None when there is no such blob."""

    @abstractmethod
    async def delete(self, file_id: str) -> None:
        """Remove a blob; a blob already gone is not an error."""

    @abstractmethod
    async def drop_stale_staging(self, cutoff: float) -> int:
        """Remove unfinished uploads last written (S3: started) before ``cutoff``; how many."""

    @abstractmethod
    def blob_ids_older_than(self, cutoff: float) -> AsyncIterator[list[str]]:
        """Ids of placed blobs whose age counts from before ``cutoff``, in batches."""

    async def aclose(self) -> None:
        """Release connections (the app's shutdown)."""


class FileSystemBlobStore(BlobStore):
    """Blobs of one server, rooted at ``root`` (``settings.blob_dir``)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, file_id: str) -> Path:
        if not is_uuid(file_id):
            raise ValueError(f"not a blob id: {file_id!r}")
        return self.root / file_id[:2] / file_id

    def files_older_than(self, cutoff: float) -> tuple[list[Path], list[str]]:
        """Staging files and blob ids whose last change (mtime) is before ``cutoff``.

        A blob's mtime is when it was placed (:meth:`FileStagedBlob.commit` touches it); a
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

    async def drop_stale_staging(self, cutoff: float) -> int:
        staging, _ = await to_thread.run_sync(self.files_older_than, cutoff)
        for path in staging:
            await to_thread.run_sync(lambda p=path: p.unlink(missing_ok=True))
        return len(staging)

    async def blob_ids_older_than(self, cutoff: float) -> AsyncIterator[list[str]]:
        _, blobs = await to_thread.run_sync(self.files_older_than, cutoff)
        for start in range(0, len(blobs), LIST_BATCH):
            yield blobs[start : start + LIST_BATCH]

    async def stage(self) -> FileStagedBlob:
        return await to_thread.run_sync(self.stage_now)

    def stage_now(self) -> FileStagedBlob:
        staging = self.root / ".staging"
        staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        file_id = new_id()
        path = staging / f"{file_id}.part"
        return FileStagedBlob(self, file_id, path, os.fdopen(open_private(path), "w+b"))

    async def open(self, file_id: str) -> FileBlobReader | None:
        """The open handle keeps the bytes readable even if the blob is deleted while
        it is being sent."""
        path = self.path(file_id)

        def _open() -> BinaryIO | None:
            try:
                return open(path, "rb")  # noqa: SIM115 - closed by FileBlobReader
            except FileNotFoundError:
                return None

        handle = await to_thread.run_sync(_open)
        if handle is None:
            return None
        size = os.fstat(handle.fileno()).st_size
        return FileBlobReader(handle, size)

    async def delete(self, file_id: str) -> None:
        await to_thread.run_sync(lambda: self.path(file_id).unlink(missing_ok=True))

    def exists(self, file_id: str) -> bool:
        return self.path(file_id).is_file()


#: Blob ids handed to the sweep at a time.
LIST_BATCH = 500


class FileStagedBlob(StagedBlob):
    """An upload being written to a staging file; ``commit()`` renames it into place."""

    def __init__(self, store: FileSystemBlobStore, file_id: str, path: Path, handle: BinaryIO):
        self._store = store
        self.file_id = file_id
        self._path = path
        self._handle: BinaryIO | None = handle
        self.size = 0

    async def write(self, data: bytes) -> None:
        if data:
            await to_thread.run_sync(self.write_now, data)

    def write_now(self, data: bytes) -> None:
        assert self._handle is not None, "staged blob already finished"
        self._handle.write(data)
        self.size += len(data)

    def overwrite_now(self, offset: int, data: bytes) -> None:
        assert self._handle is not None, "staged blob already finished"
        assert offset + len(data) <= self.size, "overwrite past the end"
        self._handle.seek(offset)
        self._handle.write(data)
        self._handle.seek(0, os.SEEK_END)

    async def commit(self) -> None:
        """fsync, then rename to the blob's final path (atomic on one file system)."""
        assert self._handle is not None, "staged blob already finished"
        handle, self._handle = self._handle, None
        final = self._store.path(self.file_id)

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
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
        self._path.unlink(missing_ok=True)


class FileBlobReader(BlobReader):
    """An open blob file."""

    def __init__(self, handle: BinaryIO, size: int):
        self._handle = handle
        self.size = size

    async def chunks(self, chunk_size: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        try:
            while chunk := await to_thread.run_sync(self._handle.read, chunk_size):
                yield chunk
        finally:
            self._handle.close()

    async def aclose(self) -> None:
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
