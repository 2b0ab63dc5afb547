"""Streaming helpers for uploads and downloads: a multipart body built on the fly.

An upload source is ``bytes``, a filesystem path, or an async iterable of ``bytes``.
The multipart body is generated chunk by chunk, so a large file is read from disk once
and never held in memory whole; its ``Content-Length`` is sent when the size is known
(bytes, paths, or an explicit ``size``) and the body goes chunked otherwise.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import anyio

__all__ = ["UploadData", "ProgressCallback", "MultipartUpload", "report_progress", "upload_arguments"]

CHUNK_SIZE = 256 * 1024

#: What an upload accepts.
UploadData = Union[bytes, bytearray, memoryview, str, os.PathLike, AsyncIterable[bytes]]

#: ``progress(done, total)``; ``total`` is ``None`` when unknown. May be a coroutine function.
ProgressCallback = Callable[[int, Union[int, None]], Union[None, Awaitable[None]]]


async def report_progress(progress: ProgressCallback | None, done: int, total: int | None) -> None:
    """Tell ``progress`` how far a transfer is, then let the event loop run.

    Over a fast link (loopback) every chunk is ready at once and a transfer would
    never hand control back, so a progress bar would jump from 0 to 100%.
    """
    if progress is None:
        return
    result = progress(done, total)
    if inspect.isawaitable(result):
        await result
    await asyncio.sleep(0)


def _source(data: UploadData, size: int | None) -> tuple[AsyncIterator[bytes], int | None]:
    """The chunks of ``data`` and its size when known."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")

        async def from_memory() -> AsyncIterator[bytes]:
            for start in range(0, len(view), CHUNK_SIZE):
                yield bytes(view[start : start + CHUNK_SIZE])

        return from_memory(), len(view)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        total = path.stat().st_size

        async def from_file() -> AsyncIterator[bytes]:
            async with await anyio.open_file(path, "rb") as handle:
                while chunk := await handle.read(CHUNK_SIZE):
                    yield chunk

        return from_file(), total
    if isinstance(data, AsyncIterable):

        async def from_iterable() -> AsyncIterator[bytes]:
            async for chunk in data:
                if chunk:
                    yield bytes(chunk)

        return from_iterable(), size
    raise TypeError(f"cannot upload a {type(data).__name__}: give bytes, a path or an async iterable of bytes")


@dataclass
class MultipartUpload:
    """A ``multipart/form-data`` body with text fields and one streamed file part."""

    fields: dict[str, str]
    file_field: str
    data: UploadData
    filename: str = "blob"
    size: int | None = None
    progress: ProgressCallback | None = None

    def __post_init__(self) -> None:
        self.boundary = secrets.token_hex(16)
        self._chunks, self.total = _source(self.data, self.size)
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
            for name, value in self.fields.items()
        )
        filename = self.filename.replace('"', "%22").replace("\r", "").replace("\n", "")
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{self.file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": f"multipart/form-data; boundary={self.boundary}"}
        if self.total is not None:
            headers["Content-Length"] = str(len(self._head) + self.total + len(self._tail))
        return headers

    async def body(self) -> AsyncIterator[bytes]:
        yield self._head
        sent = 0
        await report_progress(self.progress, 0, self.total)
        async for chunk in self._chunks:
            yield chunk
            sent += len(chunk)
            await report_progress(self.progress, sent, self.total)
        yield self._tail


def upload_arguments(fields: dict[str, str], data: UploadData, size: int | None, progress: ProgressCallback | None, file_field: str = "encrypted_file") -> dict:
    """Arguments for :meth:`BoxClient.send_creating` that upload ``data`` as ``file_field``.

    Bytes and paths can be read again, so the multipart body is rebuilt for each attempt
    (a retry after a lost connection); an async iterable is sent once.
    """

    def build() -> dict:
        upload = MultipartUpload(fields, file_field, data, size=size, progress=progress)
        return {"content": upload.body(), "headers": upload.headers}

    if isinstance(data, (bytes, bytearray, memoryview, str, os.PathLike)):
        return {"body": build}
    return build()
