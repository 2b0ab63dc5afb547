"""``client.saved_files``: the caller's own copies of files, sealed with their vault key (PROTOCOL §6, ACR 2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from boxtui.client.pagination import PAGE_SIZE, iterate_offset
from boxtui.client.resources._base import Resource, page_params
from boxtui.client.streams import ProgressCallback, UploadData, upload_arguments
from boxtui.core.wire import SavedFile


class SavedFilesResource(Resource):
    async def create(
        self, *, encrypted_file_id: str, identity_id: str, encrypted_metadata: str, key_fingerprint: str, idempotency_key: str | None = None
    ) -> SavedFile:
        """Save a file the caller can see in a box (the blob is shared, not copied)."""
        body = {
            "encrypted_file_id": encrypted_file_id,
            "identity_id": identity_id,
            "encrypted_metadata": encrypted_metadata,
            "key_fingerprint": key_fingerprint,
        }
        return await self._client.create_model(SavedFile, "POST", "/saved-files", json=body, idempotency_key=idempotency_key)

    async def list(self, identity_id: str, offset: int | None = None, limit: int | None = None) -> list[SavedFile]:
        """One page of saved files, newest first."""
        params = page_params(offset, limit, identity_id=identity_id)
        return await self._client.get_model(list[SavedFile], "GET", "/saved-files", params=params)

    def iterate(self, identity_id: str, page_size: int = PAGE_SIZE) -> AsyncIterator[SavedFile]:
        async def fetch(offset: int, limit: int) -> list[SavedFile]:
            return await self.list(identity_id, offset, limit)

        return iterate_offset(fetch, page_size)

    async def count(self, identity_id: str) -> int:
        return await self._client.count("/saved-files", params={"identity_id": identity_id})

    async def delete(self, saved_file_id: str) -> None:
        await self._client.request("DELETE", f"/saved-files/{saved_file_id}")

    async def upload_direct(
        self,
        identity_id: str,
        data: UploadData,
        *,
        encrypted_metadata: str,
        key_fingerprint: str,
        size: int | None = None,
        progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> SavedFile:
        """Upload a blob straight into the caller's saved files (streamed and retried like ``files.upload``)."""
        fields = {"encrypted_metadata": encrypted_metadata, "key_fingerprint": key_fingerprint}
        return await self._client.create_model(
            SavedFile, "POST", f"/box-users/{identity_id}/saved-files", **upload_arguments(fields, data, size, progress), idempotency_key=idempotency_key
        )
