"""Reading upload bodies as streams, under the server's size limit (PROTOCOL §5, §6).

Multipart bodies are parsed incrementally with python-multipart: the file part goes
straight into a staged blob on disk, text fields stay in memory under a small cap,
and the moment the file (or the whole body) passes the limit the request is answered
``413`` without reading the rest. A ``Content-Length`` over the limit is refused
before a single byte is read.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from boxtui.server.errors import BadRequest, RequestTimeout, TooLarge, UnsupportedMediaType
from boxtui.server.files.blobs import BlobStore, StagedBlob

#: Room for the text fields and multipart framing on top of the file itself.
FORM_OVERHEAD_BYTES = 1 << 20
#: Largest text field of an upload form (encrypted metadata is a few hundred bytes).
MAX_FIELD_BYTES = 64 * 1024


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upload is larger than this server accepts ({limit} bytes)", {"body": "too_large"}, origin="body")


def _check_content_length(request: Request, limit: int) -> None:
    """``413`` at once when the announced body is over ``limit``; ``400`` when unreadable."""
    announced = request.headers.get("content-length")
    if announced is None:
        return
    if not announced.isdigit():
        raise BadRequest("Content-Length is not a number", {"content-length": "malformed"}, origin="headers")
    if int(announced) > limit:
        raise _too_large(limit)


@dataclass
class UploadForm:
    """A parsed upload: the staged file, the text fields, and the file's SHA-256 (hex).

    The hash is taken as the file streams to disk; it fingerprints the upload for
    ``Idempotency-Key`` (PROTOCOL §10.12).
    """

    file: StagedBlob
    fields: dict[str, str]
    file_sha256: str

    async def discard(self) -> None:
        await self.file.discard()


class _FormCollector:
    """python-multipart callbacks, collecting one part at a time."""

    def __init__(self, file_field: str, text_fields: frozenset[str], max_file_bytes: int):
        self.file_field = file_field
        self.text_fields = text_fields
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.file_size = 0
        self.file_seen = False
        self.pending_file_data: list[bytes] = []
        self.ended = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._text = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._name = None
        self._text = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        kind, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if kind != b"form-data" or raw_name is None:
            raise BadRequest("every multipart part needs Content-Disposition: form-data; name=...", {"body": "malformed"}, origin="body")
        name = raw_name.decode("utf-8", "replace")
        if name != self.file_field and name not in self.text_fields:
            raise BadRequest(f"unknown form field {name!r}", {name: "invalid"}, origin="body")
        if name in self.fields or (name == self.file_field and self.file_seen):
            raise BadRequest(f"form field {name!r} sent twice", {name: "invalid"}, origin="body")
        self._name = name
        if name == self.file_field:
            self.file_seen = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == self.file_field:
            self.file_size += end - start
            if self.file_size > self.max_file_bytes:
                raise _too_large(self.max_file_bytes)
            self.pending_file_data.append(data[start:end])
            return
        self._text += data[start:end]
        if len(self._text) > MAX_FIELD_BYTES:
            raise BadRequest(f"form field {self._name!r} is too long", {str(self._name): "too_large"}, origin="body")

    def on_part_end(self) -> None:
        if self._name is not None and self._name != self.file_field:
            try:
                text = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"form field {self._name!r} is not UTF-8", {self._name: "malformed"}, origin="body") from None
            if "\x00" in text:  # as for JSON bodies: PostgreSQL cannot store it
                raise BadRequest(f"form field {self._name!r} contains a NUL character", {self._name: "invalid"}, origin="body")
            self.fields[self._name] = text

    def on_end(self) -> None:
        self.ended = True


async def read_upload_form(
    request: Request,
    blobs: BlobStore,
    *,
    file_field: str,
    text_fields: frozenset[str],
    max_file_bytes: int,
) -> UploadForm:
    """Stream a ``multipart/form-data`` body: ``file_field`` to disk, the rest in memory.

    Raises 415 (not multipart), 400 (broken multipart, unknown/duplicate field,
    missing file part) or 413 (over the limit). On any error the staged file is gone.
    The caller must ``commit`` or ``discard`` the returned form's file.
    """
    kind, options = parse_options_header(request.headers.get("content-type"))
    if kind != b"multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data", {"content-type": "invalid"}, origin="headers")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary", {"content-type": "malformed"}, origin="headers")
    body_limit = max_file_bytes + FORM_OVERHEAD_BYTES
    _check_content_length(request, body_limit)

    collector = _FormCollector(file_field, text_fields, max_file_bytes)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
    except FormParserError:
        raise BadRequest("bad multipart boundary", {"content-type": "malformed"}, origin="headers") from None
    staged = await blobs.stage()
    file_hash = hashlib.sha256()
    received = 0
    try:
        async for chunk in timed_body(request):
            received += len(chunk)
            if received > body_limit:
                raise _too_large(max_file_bytes)
            try:
                parser.write(chunk)
            except FormParserError:
                raise BadRequest("the multipart body is malformed", {"body": "malformed"}, origin="body") from None
            for data in collector.pending_file_data:
                file_hash.update(data)
                await staged.write(data)
            collector.pending_file_data.clear()
        if not collector.ended:
            raise BadRequest("the multipart body is incomplete", {"body": "malformed"}, origin="body")
        if not collector.file_seen:
            raise BadRequest(f"the {file_field!r} part is required", {file_field: "required"}, origin="body")
    except BaseException:
        await staged.discard()
        raise
    return UploadForm(file=staged, fields=collector.fields, file_sha256=file_hash.hexdigest())


async def timed_body(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; ``408`` once it has taken longer than
    ``settings.upload_timeout_seconds`` (the orphan-blob sweep relies on that bound)."""
    timeout = request.app.state.settings.upload_timeout_seconds
    deadline = time.monotonic() + timeout
    async for chunk in request.stream():
        if time.monotonic() > deadline:
            raise RequestTimeout(f"the upload took longer than {timeout:g} s", {"body": "expired"}, origin="body")
        yield chunk


async def limited_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives, ``413`` the moment it passes ``limit`` (or at once when
    ``Content-Length`` announces more), ``408`` past the upload timeout."""
    _check_content_length(request, limit)
    received = 0
    async for chunk in timed_body(request):
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        yield chunk
