"""``client.files``: streamed upload and download of encrypted blobs (PROTOCOL §5)."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any, BinaryIO, Union

import anyio

from boxtui.client.errors import APIResponseError, transport_errors
from boxtui.client.resources._base import Resource
from boxtui.client.streams import CHUNK_SIZE, ProgressCallback, UploadData, report_progress, upload_arguments
from boxtui.core.wire import EventView

#: Where a download goes: a path (written atomically), or an object with ``write(bytes)`` (sync or async).
DownloadTarget = Union[str, os.PathLike, BinaryIO, Any]


class FilesResource(Resource):
    async def upload(
        self,
        box_id: str,
        data: UploadData,
        *,
        msg_encrypted_content: str,
        msg_public_key: str,
        referrer_id: str | None = None,
        size: int | None = None,
        progress: ProgressCallback | None = None,
        idempotency_key: str | None = None,
    ) -> EventView:
        """Upload an encrypted blob to a box; the server answers with the ``msg.file`` event.

        ``data`` is the ciphertext: ``bytes``, a path, or an async iterable of ``bytes``
        (give ``size`` with an iterable to send a ``Content-Length``). The body is streamed;
        ``progress(sent, total)`` is called as the blob goes out. After a lost connection
        bytes and paths are sent again under the same ``idempotency_key``; an iterable
        cannot be read twice, so its upload is not retried (resend it yourself with the key).
        """
        fields = {"msg_encrypted_content": msg_encrypted_content, "msg_public_key": msg_public_key}
        if referrer_id is not None:
            fields["referrer_id"] = referrer_id
        return await self._client.create_model(
            EventView, "POST", f"/boxes/{box_id}/encrypted-files", **upload_arguments(fields, data, size, progress), idempotency_key=idempotency_key
        )

    async def stream(self, file_id: str, progress: ProgressCallback | None = None) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive; ``progress(received, total)`` after each chunk."""
        path = f"/encrypted-files/{file_id}"
        response = await self._client.send_stream("GET", path)
        try:
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            await report_progress(progress, 0, total)
            with transport_errors("GET", path):
                async for chunk in response.aiter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    yield chunk
                    await report_progress(progress, received, total)
            if total is not None and received != total:
                raise APIResponseError(f"GET {path}: got {received} of {total} bytes", response)
        finally:
            await response.aclose()

    async def download(self, file_id: str, dest: DownloadTarget, progress: ProgressCallback | None = None) -> int:
        """Stream a blob into ``dest`` and return its size.

        A path is written to ``<dest>.part`` first and renamed when complete, so a failed
        download never leaves a truncated file under the real name.
        """
        if isinstance(dest, (str, os.PathLike)):
            target = Path(dest)
            partial = target.with_name(target.name + ".part")
            try:
                async with await anyio.open_file(partial, "wb") as handle:
                    size = await self._copy(file_id, handle, progress)
                await anyio.Path(partial).replace(target)
            except BaseException:
                await anyio.Path(partial).unlink(missing_ok=True)
                raise
            return size
        return await self._copy(file_id, dest, progress)

    async def download_bytes(self, file_id: str, progress: ProgressCallback | None = None) -> bytes:
        async with aclosing(self.stream(file_id, progress)) as stream:
            return b"".join([chunk async for chunk in stream])

    async def _copy(self, file_id: str, writer: Any, progress: ProgressCallback | None) -> int:
        size = 0
        async with aclosing(self.stream(file_id, progress)) as stream:
            async for chunk in stream:
                result = writer.write(chunk)
                if inspect.isawaitable(result):
                    await result
                size += len(chunk)
        return size
