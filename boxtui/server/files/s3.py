"""The S3-compatible blob store (``--blob-store s3://bucket/prefix``).

A blob is the object ``<prefix>/<file id>``. An upload streams into a multipart upload
as its body arrives: bytes are gathered into parts of ``settings.s3_part_bytes`` (8 MiB);
each full part is sent on at once, except the first, which is held until ``commit()``
so the e-mail reader can still write the file's tag at its front (PROTOCOL §8). An
upload in flight thus holds at most two parts in memory, whatever the file's size; one
that fits in them is sent as a single ``PutObject`` at ``commit()``. The object appears
only when the upload completes, so a reader never sees half a blob; a failed or
abandoned upload is aborted (and one a crash left is aborted by the orphan sweep once
older than the grace). Downloads stream the object's body straight into the response.

The client is a small AWS Signature Version 4 signer over the ``httpx`` the project
already depends on (no botocore and no second HTTP stack): the store needs nine S3
calls, all plain HTTP. See docs/operations.md for why, and for what it leaves out
(credentials only from settings or the ``AWS_*`` variables, not instance roles).

Every failure to reach S3 — refused or timed-out connections, 5xx answers, and 4xx
answers that mean the server is misconfigured (bad credentials, missing bucket) — is
:class:`~boxtui.server.files.blobs.BlobStoreUnavailable`, which the API answers ``503``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import httpx
from anyio import from_thread, to_thread

from boxtui.core.ids import is_uuid, new_id
from boxtui.server.files.blobs import LIST_BATCH, READ_CHUNK_BYTES, BlobReader, BlobStore, BlobStoreUnavailable, StagedBlob

log = logging.getLogger("boxtui.server.blobs")

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Retries of one S3 call after a refused connection or a 5xx (with backoff).
RETRIES = 2
#: A prefix is kept to characters that need no escaping in a URL or a signature.
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9._\-/]*")


@dataclass(frozen=True)
class S3Config:
    """Where the bucket is and how to sign for it (settings first, then ``AWS_*``)."""

    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    path_style: bool
    part_bytes: int

    @classmethod
    def from_settings(cls, settings, environ: Mapping[str, str] = os.environ) -> S3Config:
        location = settings.blob_store[len("s3://") :]
        bucket, _, prefix = location.partition("/")
        prefix = prefix.strip("/")
        if not PREFIX_PATTERN.fullmatch(prefix):
            raise ValueError(f"the blob store prefix may hold only letters, digits and . _ - /: {prefix!r}")
        region = settings.s3_region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = settings.s3_endpoint_url or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or ""
        style = settings.s3_addressing_style or ("path" if endpoint else "virtual")
        access = settings.s3_access_key_id or environ.get("AWS_ACCESS_KEY_ID", "")
        secret = settings.s3_secret_access_key.get_secret_value() or environ.get("AWS_SECRET_ACCESS_KEY", "")
        token = settings.s3_session_token.get_secret_value() or (
            environ.get("AWS_SESSION_TOKEN", "") if not settings.s3_access_key_id else ""
        )
        if not access or not secret:
            raise ValueError("the S3 blob store needs credentials: BOXTUI_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        return cls(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=(endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/"),
            region=region,
            access_key_id=access,
            secret_access_key=secret,
            session_token=token,
            path_style=style == "path",
            part_bytes=settings.s3_part_bytes,
        )

    def key(self, file_id: str) -> str:
        return f"{self.prefix}/{file_id}" if self.prefix else file_id

    @property
    def list_prefix(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""


# --- AWS Signature Version 4 -----------------------------------------------------------


def _uri_encode(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(params.items()))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: httpx.URL,
    headers: dict[str, str],
    payload_sha256: str,
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    session_token: str = "",
    service: str = "s3",
    now: datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``host``, ``x-amz-date``, ``x-amz-content-sha256`` (and
    ``x-amz-security-token``) and the SigV4 ``authorization`` for this request.

    ``url`` must already be in canonical form: its path made of unreserved characters
    and ``/`` (or escaped as SigV4 escapes), its query as :func:`canonical_query` writes it.
    """
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["host"] = url.netloc.decode("ascii")
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    if session_token:
        signed["x-amz-security-token"] = session_token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            url.raw_path.split(b"?", 1)[0].decode("ascii") or "/",
            url.query.decode("ascii"),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_access_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


# --- the client --------------------------------------------------------------------------


class S3Error(Exception):
    """An S3 error answer (``code`` from its XML body, e.g. ``NoSuchKey``)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def _xml(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]  # drop the S3 namespace
    return root


def _error_of(response: httpx.Response, body: bytes) -> S3Error:
    code, message = f"HTTP{response.status_code}", response.reason_phrase
    try:
        root = _xml(body) if body else None
    except ET.ParseError:
        root = None
    if root is not None and root.tag == "Error":
        code = root.findtext("Code") or code
        message = root.findtext("Message") or message
    return S3Error(response.status_code, code, message)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class S3Client:
    """The few S3 calls the blob store makes, over one pooled ``httpx.AsyncClient``."""

    def __init__(self, config: S3Config, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=5.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _url(self, key: str | None, params: Mapping[str, str]) -> httpx.URL:
        endpoint = httpx.URL(self.config.endpoint_url)
        path = endpoint.path.rstrip("/")
        if self.config.path_style:
            path += f"/{self.config.bucket}"
            host = endpoint.netloc.decode("ascii")
        else:
            host = f"{self.config.bucket}.{endpoint.netloc.decode('ascii')}"
        if key is not None:
            path += "/" + _uri_encode(key, safe="-_.~/")
        query = canonical_query(params)
        return httpx.URL(f"{endpoint.scheme}://{host}{path or '/'}{'?' + query if query else ''}")

    def _request(self, method: str, key: str | None, params: Mapping[str, str], body: bytes, payload: str, headers: dict[str, str]) -> httpx.Request:
        url = self._url(key, params)
        signed = sign(
            method, url, headers, payload,
            access_key_id=self.config.access_key_id, secret_access_key=self.config.secret_access_key,
            region=self.config.region, session_token=self.config.session_token,
        )  # fmt: skip
        if not body and method not in ("PUT", "POST"):
            return self._http.build_request(method, url, headers=signed)
        # The body as a one-chunk stream with its length: once sent, the request no
        # longer refers to it (an httpx response and its request form a reference cycle
        # that only the garbage collector frees, which would keep every part in memory).
        signed["content-length"] = str(len(body))
        return self._http.build_request(method, url, headers=signed, content=_once(body))

    async def call(
        self,
        method: str,
        key: str | None = None,
        params: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        stream: bool = False,
        ok: tuple[int, ...] = (200, 204),
    ) -> httpx.Response:
        """Send one call (re-signed and retried after a refused connection or a 5xx);
        raise :class:`S3Error` for an answer not in ``ok``, ``httpx.TransportError``
        when S3 cannot be reached."""
        payload = await to_thread.run_sync(_sha256, body) if len(body) > 65536 else _sha256(body)
        for attempt in range(RETRIES + 1):
            request = self._request(method, key, params or {}, body, payload, dict(headers or {}))
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(0.1 * 3**attempt)
                continue
            if response.status_code in ok:
                if not stream:
                    await response.aread()
                    await response.aclose()
                return response
            try:
                error = _error_of(response, await response.aread())
            except httpx.TransportError:
                error = S3Error(response.status_code, f"HTTP{response.status_code}", "the answer was cut off")
            finally:
                await response.aclose()
            if response.status_code < 500 or attempt == RETRIES:
                raise error
            await asyncio.sleep(0.1 * 3**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def head_bucket(self) -> None:
        await self.call("HEAD", None, ok=(200,))

    async def put_object(self, key: str, data: bytes) -> None:
        await self.call("PUT", key, body=data, headers={"content-type": "application/octet-stream"}, ok=(200,))

    async def create_multipart_upload(self, key: str) -> str:
        response = await self.call("POST", key, {"uploads": ""}, headers={"content-type": "application/octet-stream"}, ok=(200,))
        upload_id = _xml(response.content).findtext("UploadId")
        if not upload_id:
            raise S3Error(response.status_code, "MalformedAnswer", "no UploadId in the answer")
        return upload_id

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = await self.call("PUT", key, {"partNumber": str(number), "uploadId": upload_id}, body=data, ok=(200,))
        etag = response.headers.get("etag")
        if not etag:
            raise S3Error(response.status_code, "MalformedAnswer", "no ETag for the part")
        return etag

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        body = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{etag.replace('&', '&amp;').replace('<', '&lt;')}</ETag></Part>"
            for number, etag in sorted(parts)
        ) + "</CompleteMultipartUpload>"
        response = await self.call("POST", key, {"uploadId": upload_id}, body=body.encode(), headers={"content-type": "application/xml"}, ok=(200,))
        root = _xml(response.content) if response.content.strip() else None
        if root is not None and root.tag == "Error":  # S3 may answer 200 and fail in the body
            raise S3Error(200, root.findtext("Code") or "InternalError", root.findtext("Message") or "")

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        await self.call("DELETE", key, {"uploadId": upload_id}, ok=(200, 204, 404))

    async def get_object(self, key: str) -> httpx.Response | None:
        """The streamed answer (the caller closes it), or None when there is no such object."""
        response = await self.call("GET", key, headers={"accept-encoding": "identity"}, stream=True, ok=(200, 404))
        if response.status_code == 404:
            await response.aread()
            await response.aclose()
            return None
        return response

    async def delete_object(self, key: str) -> None:
        await self.call("DELETE", key, ok=(200, 204, 404))

    async def list_objects(self, prefix: str) -> AsyncIterator[list[tuple[str, float]]]:
        """(key, last modified) of the objects under ``prefix``, a page at a time."""
        params = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
        while True:
            root = _xml((await self.call("GET", None, params, ok=(200,))).content)
            yield [(item.findtext("Key") or "", _timestamp(item.findtext("LastModified") or "")) for item in root.iter("Contents")]
            token = root.findtext("NextContinuationToken")
            if root.findtext("IsTruncated") != "true" or not token:
                return
            params = {**params, "continuation-token": token}

    async def list_multipart_uploads(self, prefix: str) -> AsyncIterator[list[tuple[str, str, float]]]:
        """(key, upload id, initiated) of the unfinished multipart uploads under ``prefix``."""
        params = {"uploads": "", "prefix": prefix}
        while True:
            root = _xml((await self.call("GET", None, params, ok=(200,))).content)
            yield [
                (item.findtext("Key") or "", item.findtext("UploadId") or "", _timestamp(item.findtext("Initiated") or ""))
                for item in root.iter("Upload")
            ]
            key_marker, id_marker = root.findtext("NextKeyMarker"), root.findtext("NextUploadIdMarker")
            if root.findtext("IsTruncated") != "true" or not (key_marker or id_marker):
                return
            params = {"uploads": "", "prefix": prefix, "key-marker": key_marker or "", "upload-id-marker": id_marker or ""}


def unavailable(exc: BaseException, doing: str) -> BlobStoreUnavailable:
    """The 503 for an S3 failure, logged with what it was."""
    log.warning("the S3 blob store failed while %s: %s: %s", doing, type(exc).__name__, exc)
    return BlobStoreUnavailable(f"{doing}: {exc}")


S3_FAILURES = (httpx.TransportError, S3Error, ET.ParseError)


# --- the store ---------------------------------------------------------------------------


class S3BlobStore(BlobStore):
    """Blobs as objects ``<prefix>/<id>`` of one bucket."""

    def __init__(self, config: S3Config, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.client = S3Client(config, transport)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def check(self) -> None:
        """The bucket answers (``BlobStoreUnavailable`` when it does not)."""
        try:
            await self.client.head_bucket()
        except S3_FAILURES as exc:
            raise unavailable(exc, f"checking the bucket {self.config.bucket!r} at {self.config.endpoint_url}") from None

    async def stage(self) -> S3StagedBlob:
        return self.stage_now()

    def stage_now(self) -> S3StagedBlob:
        return S3StagedBlob(self, new_id())

    async def open(self, file_id: str) -> S3BlobReader | None:
        try:
            response = await self.client.get_object(self.config.key(file_id))
        except S3_FAILURES as exc:
            raise unavailable(exc, "opening a file") from None
        if response is None:
            return None
        return S3BlobReader(response)

    async def delete(self, file_id: str) -> None:
        try:
            await self.client.delete_object(self.config.key(file_id))
        except S3_FAILURES as exc:
            raise unavailable(exc, "deleting a file") from None

    def _file_id(self, key: str) -> str | None:
        rest = key[len(self.config.list_prefix) :] if key.startswith(self.config.list_prefix) else ""
        return rest if is_uuid(rest) else None

    async def drop_stale_staging(self, cutoff: float) -> int:
        """Abort the multipart uploads under the prefix that were started before ``cutoff``."""
        aborted = 0
        try:
            async for page in self.client.list_multipart_uploads(self.config.list_prefix):
                for key, upload_id, initiated in page:
                    if initiated < cutoff and self._file_id(key):
                        await self.client.abort_multipart_upload(key, upload_id)
                        aborted += 1
        except S3_FAILURES as exc:
            raise unavailable(exc, "listing unfinished uploads") from None
        return aborted

    async def blob_ids_older_than(self, cutoff: float) -> AsyncIterator[list[str]]:
        """Objects ``<prefix>/<uuid>`` whose ``LastModified`` is before ``cutoff``.

        ``LastModified`` is when the object was written or, for a multipart upload,
        when that upload was started (S3's rule): either way no earlier than the start
        of the request that uploaded it, which the grace allows for.
        """
        batch: list[str] = []
        try:
            async for page in self.client.list_objects(self.config.list_prefix):
                for key, modified in page:
                    file_id = self._file_id(key)
                    if file_id and modified < cutoff:
                        batch.append(file_id)
                if len(batch) >= LIST_BATCH:
                    yield batch
                    batch = []
        except S3_FAILURES as exc:
            raise unavailable(exc, "listing files") from None
        if batch:
            yield batch


class S3StagedBlob(StagedBlob):
    """An upload on its way into S3 (see the module docstring for the parts)."""

    def __init__(self, store: S3BlobStore, file_id: str):
        self._store = store
        self._client = store.client
        self._key = store.config.key(file_id)
        self._part_bytes = store.config.part_bytes
        self.file_id = file_id
        self.size = 0
        self._head = bytearray()  # part 1, sent at commit
        self._tail: list[bytes] = []  # the part being filled, as it came
        self._tail_size = 0
        self._upload_id: str | None = None
        self._parts: list[tuple[int, str]] = []
        self._finished = False

    def _append(self, data: bytes) -> bool:
        """Buffer ``data``; True when a full part is waiting to be sent."""
        assert not self._finished, "staged blob already finished"
        self.size += len(data)
        room = self._part_bytes - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail.append(bytes(data))
            self._tail_size += len(data)
        return self._tail_size >= self._part_bytes

    def _take_tail(self, limit: int) -> bytes:
        """Up to ``limit`` bytes from the front of the tail buffer."""
        joined = b"".join(self._tail)
        self._tail.clear()
        part, rest = (joined, b"") if len(joined) <= limit else (joined[:limit], joined[limit:])
        del joined
        if rest:
            self._tail.append(rest)
        self._tail_size = len(rest)
        return part

    async def write(self, data: bytes) -> None:
        if data and self._append(data):
            await self._send_full_parts()

    def write_now(self, data: bytes) -> None:
        if data and self._append(data):
            from_thread.run(self._send_full_parts)

    def overwrite_now(self, offset: int, data: bytes) -> None:
        assert not self._finished, "staged blob already finished"
        if offset + len(data) > len(self._head):
            raise ValueError("an S3 staged blob can be overwritten only within its first part")
        self._head[offset : offset + len(data)] = data

    async def _send_part(self, data: bytes) -> None:
        try:
            if self._upload_id is None:
                self._upload_id = await self._client.create_multipart_upload(self._key)
            number = len(self._parts) + 2  # part 1 is the head, sent last
            self._parts.append((number, await self._client.upload_part(self._key, self._upload_id, number, data)))
        except S3_FAILURES as exc:
            await self.discard()
            raise unavailable(exc, "storing an upload") from None

    async def _send_full_parts(self) -> None:
        while self._tail_size >= self._part_bytes:
            await self._send_part(self._take_tail(self._part_bytes))

    async def commit(self) -> None:
        assert not self._finished, "staged blob already finished"
        try:
            if self._upload_id is None:
                await self._client.put_object(self._key, bytes(self._head) + self._take_tail(self._part_bytes))
            else:
                if self._tail_size:
                    await self._send_part(self._take_tail(self._tail_size))
                head = await self._client.upload_part(self._key, self._upload_id, 1, bytes(self._head))
                await self._client.complete_multipart_upload(self._key, self._upload_id, [(1, head), *self._parts])
        except S3_FAILURES as exc:
            await self.discard()
            raise unavailable(exc, "storing an upload") from None
        except BaseException:
            await self.discard()
            raise
        self._finished = True
        self._head, self._tail, self._tail_size = bytearray(), [], 0

    async def discard(self) -> None:
        self._finished = True
        self._head, self._tail, self._tail_size = bytearray(), [], 0
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            await self._client.abort_multipart_upload(self._key, upload_id)
        except S3_FAILURES as exc:  # the sweep aborts it once older than the grace
            log.warning("could not abort an unfinished S3 upload (the orphan sweep will): %s", exc)

    def discard_now(self) -> None:
        from_thread.run(self.discard)


class S3BlobReader(BlobReader):
    """An S3 object's body, streamed as it arrives."""

    def __init__(self, response: httpx.Response):
        self._response = response
        self.size = int(response.headers.get("content-length", "0"))

    async def chunks(self, chunk_size: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw(chunk_size):
                yield chunk
        except httpx.HTTPError as exc:  # cut off mid-body: the download ends short
            raise unavailable(exc, "sending a file") from None
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()
