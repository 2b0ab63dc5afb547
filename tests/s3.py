"""A real S3-compatible server for the tests: moto's standalone server (``moto[server]``
from the test extra), started as a subprocess on a free loopback port.

``moto_s3`` (session-scoped per xdist worker) is its endpoint URL; ``s3_bucket`` a fresh
bucket in it; :func:`inspect_bucket` looks at the bucket with boto3 (another client
than the server's own); :class:`S3Gate` is a TCP forwarder in front of moto that a test
can shut and reopen, to make "S3 is unreachable" and "S3 is back" without losing what
the bucket holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.helpers import free_port, stop_process, wait_until_answers

#: What the tests sign with (moto takes any credentials).
S3_KEYS = {"s3_access_key_id": "boxtui-test", "s3_secret_access_key": "boxtui-test-secret", "s3_region": "us-east-1"}
S3_ENV = {"AWS_ACCESS_KEY_ID": "boxtui-test", "AWS_SECRET_ACCESS_KEY": "boxtui-test-secret", "AWS_REGION": "us-east-1"}


@contextlib.contextmanager
def moto_server(log_dir: Path, timeout: float = 60) -> Iterator[str]:
    """``python -m moto.server`` on a free port until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / f"moto-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_answers(process, f"{url}/moto-api/", log_path, "moto's server", timeout)
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def boto_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"], aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip


def create_bucket(endpoint: str) -> str:
    name = f"boxtui-{uuid.uuid4().hex[:12]}"
    boto_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_bucket(moto_s3) -> str:
    return create_bucket(moto_s3)


def inspect_bucket(endpoint: str, bucket: str) -> tuple[dict[str, bytes], list[str]]:
    """``({key: bytes}, [keys of unfinished multipart uploads])`` as boto3 sees them."""
    client = boto_client(endpoint)
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            objects[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return objects, uploads


class S3Gate:
    """A TCP forwarder ``127.0.0.1:<port>`` → the S3 server, in this event loop.

    ``shut()`` closes every connection through it and refuses new ones (S3 is
    unreachable); ``reopen()`` lets them through again (S3 is back, with its data).
    """

    def __init__(self, target: str):
        target_url = httpx.URL(target)
        self._target = (target_url.host, target_url.port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def reopen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def shut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)
            self._tasks.discard(task)
