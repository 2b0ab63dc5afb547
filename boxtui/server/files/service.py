"""Encrypted files: blob rows, quotas, downloads and orphan deletion (PROTOCOL §5).

Kept free of box and event imports so those domains can call
:func:`delete_orphan_blobs`; the flows that write ``msg.file`` events live in
:mod:`boxtui.server.files.messages`.

Write order for an upload: the body is streamed into a staged blob; the rows are
written; the blob is put in place (renamed, or its S3 upload completed); the
transaction commits. If anything fails before the commit, the staged or placed blob is
removed, so no row ever points at a missing blob and no blob outlives a failed request.
A blob is deleted only after the commit that dropped its last reference; if the store
cannot be reached then, the orphan sweep deletes it later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.ids import is_uuid
from boxtui.server.auth.deps import require_uuid
from boxtui.server.errors import BadRequest, Forbidden, NotFound
from boxtui.server.files import repository
from boxtui.server.files.blobs import BlobReader, BlobStore, BlobStoreUnavailable, FileSystemBlobStore, StagedBlob
from boxtui.server.files.models import EncryptedFileRow
from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server.blobs")


def make_blob_store(settings: ServerSettings) -> BlobStore:
    """The store ``settings.blob_store`` names: the data dir's ``blobs/`` folder, or S3."""
    if settings.blob_store.startswith("s3://"):
        from boxtui.server.files.s3 import S3BlobStore, S3Config

        return S3BlobStore(S3Config.from_settings(settings))
    return FileSystemBlobStore(settings.blob_dir)


def blob_store(settings: ServerSettings) -> BlobStore:
    """The server's blob store: made once per settings (its S3 connections are pooled),
    released by :func:`close_blob_store` when the app stops."""
    store = settings._blob_store
    if store is None:
        store = settings._blob_store = make_blob_store(settings)
    return store


async def close_blob_store(settings: ServerSettings) -> None:
    store, settings._blob_store = settings._blob_store, None
    if store is not None:
        await store.aclose()


async def check_quota(db: AsyncSession, settings: ServerSettings, identity_id: str, extra_bytes: int) -> None:
    """``403 quota`` when ``extra_bytes`` more would take the identity over its quota."""
    used = await repository.bytes_uploaded_by(db, identity_id)
    if used + extra_bytes > settings.quota_bytes:
        raise Forbidden(
            f"storage quota exceeded: {used} of {settings.quota_bytes} bytes used",
            {"quota": "forbidden"},
            origin="body",
        )


def require_non_empty(staged: StagedBlob, field: str) -> None:
    if staged.size == 0:
        raise BadRequest(f"the {field!r} part is empty", {field: "invalid"}, origin="body")


class FileWrite:
    """File rows and their blobs written in one transaction: all of them, or none.

    ``async with FileWrite(db, settings, staged) as write``: ``await write.add(...)``
    checks the quota, adds the row and moves a staged blob into place;
    ``await write.commit()`` commits. Leaving the block without a successful commit
    rolls back and removes every blob placed or staged for this request.
    """

    def __init__(self, db: AsyncSession, settings: ServerSettings, staged: Iterable[StagedBlob] = ()):
        self.db = db
        self.settings = settings
        self._staged = list(staged)
        self._placed: list[str] = []
        self._committed = False

    async def __aenter__(self) -> FileWrite:
        return self

    async def add(self, uploader_id: str, staged: StagedBlob) -> EncryptedFileRow:
        if staged not in self._staged:
            self._staged.append(staged)
        await check_quota(self.db, self.settings, uploader_id, staged.size)
        row = await repository.add_file(self.db, staged.file_id, staged.size, uploader_id)
        self._placed.append(row.id)
        await staged.commit()
        return row

    async def add_bytes(self, uploader_id: str, data: bytes) -> EncryptedFileRow:
        """Stage ``data`` (already ciphertext) as a blob, then :meth:`add` it."""
        staged = await blob_store(self.settings).stage()
        self._staged.append(staged)
        await staged.write(data)
        return await self.add(uploader_id, staged)

    async def commit(self) -> None:
        await self.db.commit()
        self._committed = True

    async def __aexit__(self, *exc_info) -> None:
        if self._committed:
            return
        try:
            await self.db.rollback()
        finally:
            for staged in self._staged:
                await staged.discard()
            await _unlink_blobs(self.settings, self._placed)


async def _unlink_blobs(settings: ServerSettings, file_ids: Iterable[str]) -> None:
    """Delete blobs whose rows are gone; one the store cannot delete now is left to
    the orphan sweep (it has no row, so it goes once older than the grace)."""
    store = blob_store(settings)
    for file_id in file_ids:
        try:
            await store.delete(file_id)
        except BlobStoreUnavailable:
            log.warning("blob %s is left for the orphan sweep: the store could not delete it now", file_id)


async def open_for_download(db: AsyncSession, settings: ServerSettings, caller_id: str, file_id: str) -> BlobReader:
    """The blob, if the caller may read it: member of a box showing it, or a saved copy.

    Unknown file → 404; known but not allowed → 403; row without bytes → 404.
    Ends the session's transaction before returning.
    """
    require_uuid(file_id, "id", "path")
    row = await repository.get_file(db, file_id)
    if row is None:
        raise NotFound("no such file", {"id": "not_found"}, origin="path")
    allowed = await repository.has_saved_copy(db, caller_id, file_id) or await repository.member_of_box_with_file(
        db, caller_id, file_id
    )
    if not allowed:
        raise Forbidden("you are not a member of a box holding this file", {"id": "forbidden"}, origin="path")
    # End the read transaction before streaming: the bytes may take long to send.
    await db.commit()
    reader = await blob_store(settings).open(file_id)
    if reader is None:
        raise NotFound("this file has been deleted", {"id": "not_found"}, origin="path")
    return reader


async def delete_orphan_blobs(db: AsyncSession, settings: ServerSettings, file_ids: Iterable[str]) -> list[str]:
    """Delete the files among ``file_ids`` that nothing refers to any more.

    Call it **after** committing the change that dropped references (a ``msg.delete``,
    a box deletion — collect the box's ``msg.file`` ids before deleting it —, a saved
    file's deletion). It runs its own transaction on ``db``: deletes the unreferenced
    rows, commits, then unlinks their blobs. Returns the ids it deleted.
    """
    ids = [file_id for file_id in set(file_ids) if file_id and is_uuid(file_id)]
    if not ids:
        return []
    orphans = await repository.unreferenced_files(db, ids)
    await repository.delete_files(db, orphans)
    await db.commit()
    await _unlink_blobs(settings, orphans)
    return orphans


async def sweep_orphan_blobs(sessionmaker, settings: ServerSettings, now: float | None = None) -> int:
    """Remove blob-store files that no row will ever claim; returns how many went.

    The rule (PROTOCOL §10.14, operations "Blobs"): a staging file, or a blob with no
    ``encrypted_files`` row, is removed once its mtime is older than
    ``blob_sweep_grace_seconds``. A blob's mtime is when it was placed, and an upload —
    of this process or of any other sharing the store — places its blobs and commits
    within ``upload_timeout_seconds`` of starting, which the grace exceeds: so a file
    that old without a row is left by a crash (kill -9 between placing and commit),
    never by a write still in flight. On S3 the same rule reads: an unfinished
    multipart upload started, or an object without a row written (for a multipart
    upload: started), before the grace (see :mod:`boxtui.server.files.s3`).
    """
    store = blob_store(settings)
    cutoff = (time.time() if now is None else now) - settings.blob_sweep_grace_seconds
    removed = await store.drop_stale_staging(cutoff)
    async for batch in store.blob_ids_older_than(cutoff):
        async with sessionmaker() as db:
            known = await repository.existing_file_ids(db, batch)
        orphans = [file_id for file_id in batch if file_id not in known]
        for file_id in orphans:
            await store.delete(file_id)
        removed += len(orphans)
    return removed
