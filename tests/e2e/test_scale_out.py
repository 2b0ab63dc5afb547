"""Two machines' worth of servers (issue 8 part 3, docs/operations.md "Two servers"):
two real ``boxtui serve`` processes, started at the same moment on one empty
PostgreSQL database, sharing Redis for realtime and an S3 bucket (moto's standalone
server) for files, configured the way the operations guide says (the standard ``AWS_*``
variables). A file uploaded through one is downloaded through the other; a post on one
reaches a websocket held by the other, both ways. The same again through nginx
running the guide's own configuration (where nginx is installed).

Skipped, with the reason, where PostgreSQL or Redis does not answer — except in CI
(``CI`` and ``BOXTUI_REQUIRE_PG`` set), where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import _pg_available
from tests.e2e.test_workers import fresh_database
from tests.s3 import S3_ENV, create_bucket, inspect_bucket, moto_s3  # noqa: F401 - fixture
from tests.server.helpers import ServerProcess, create_box, free_port, invite, join, serve_process, signup_login

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_unavailable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis"
        return f"no Redis answers at {REDIS_URL}: {exc}"
    return None


def require_services() -> None:
    """Skip unless PostgreSQL and Redis answer; in CI (``CI`` with ``BOXTUI_REQUIRE_PG``
    / ``BOXTUI_REQUIRE_REDIS``, as ``.ci/run`` sets) a missing one is a failure."""
    for reason, required in ((_pg_available(), "BOXTUI_REQUIRE_PG"), (_redis_unavailable(), "BOXTUI_REQUIRE_REDIS")):
        if reason:
            if os.environ.get("CI") and os.environ.get(required):
                pytest.fail(reason)
            pytest.skip(reason)


@contextlib.asynccontextmanager
async def two_servers(tmp_path: Path, endpoint: str, bucket: str, **env: str) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two ``boxtui serve`` on a fresh PostgreSQL database, Redis and the bucket, started
    at the same moment; the S3 endpoint and keys come from the ``AWS_*`` variables."""
    await asyncio.to_thread(require_services)
    env = {**S3_ENV, "AWS_ENDPOINT_URL": endpoint, **env}
    async with fresh_database("postgres") as db_args:
        args = ("--log-level", "info", "--redis-url", REDIS_URL, "--blob-store", f"s3://{bucket}/boxtui", *db_args)
        with contextlib.ExitStack() as first_stack, contextlib.ExitStack() as second_stack:
            # Started together on an empty database: one migrates, the other waits for it.
            servers = await asyncio.gather(
                asyncio.to_thread(first_stack.enter_context, serve_process(tmp_path / "a", *args, env=env, timeout=90)),
                asyncio.to_thread(second_stack.enter_context, serve_process(tmp_path / "b", *args, env=env, timeout=90)),
            )
            yield servers[0], servers[1]
        for server in servers:
            assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_servers_share_files_and_realtime(tmp_path, moto_s3):
    bucket = create_bucket(moto_s3)
    async with two_servers(tmp_path, moto_s3, bucket) as (first, second):
        await _files_cross(first.url, second.url, moto_s3, bucket)
        await _realtime_crosses(first, second)


def nginx_from_the_guide(first: ServerProcess, second: ServerProcess, folder: Path) -> tuple[list[str], int]:
    """The nginx command and port for the configuration in docs/operations.md, with the
    two servers' addresses in place of the example ones and plain HTTP on a free port."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    config = re.search(r"```nginx\n(.*?)```", guide, re.S).group(1)  # type: ignore[union-attr]
    port = free_port()
    config = config.replace("10.0.0.11:8642", first.url.removeprefix("http://")).replace("10.0.0.12:8642", second.url.removeprefix("http://"))
    config = config.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
    config = "\n".join(line for line in config.splitlines() if "ssl_certificate" not in line)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "boxtui.conf").write_text(config)
    (folder / "nginx.conf").write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n"
        f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n  include {folder}/boxtui.conf;\n}}\n"
    )
    return ["nginx", "-c", str(folder / "nginx.conf"), "-g", "daemon off;"], port


async def test_two_servers_behind_the_guides_nginx(tmp_path, moto_s3):
    """The guide's nginx configuration, as written, in front of the two servers: uploads
    stream through, websockets upgrade and land on both servers, posts reach them.

    Not marked ``postgres``/``redis``: it skips where nginx is not installed, CI
    included (``require_services`` still fails it in CI without PostgreSQL or Redis)."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    bucket = create_bucket(moto_s3)
    async with two_servers(tmp_path, moto_s3, bucket, BOXTUI_FORWARDED_ALLOW_IPS="127.0.0.1") as (first, second):
        command, port = nginx_from_the_guide(first, second, tmp_path / "nginx")
        nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            proxy = ServerProcess(f"http://127.0.0.1:{port}", tmp_path / "nginx" / "error.log")
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{proxy.url}/healthz", timeout=1).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            await _files_cross(proxy.url, proxy.url, moto_s3, bucket)
            await _realtime_crosses(proxy, proxy, sockets=4)
        finally:
            nginx.terminate()
            nginx.wait(10)
    # nginx alternated between the servers: each one accepted websockets.
    assert all(server.log.read_text().count("[accepted]") >= 1 for server in (first, second))


async def _files_cross(first: str, second: str, endpoint: str, bucket: str) -> None:
    """A file uploaded through ``first`` is downloaded and deleted through ``second``."""
    data = os.urandom(9 * 1024 * 1024 + 17)  # more than one 8 MiB part
    async with httpx.AsyncClient(base_url=first, timeout=60) as on_first, httpx.AsyncClient(base_url=second, timeout=60) as on_second:
        alice = await signup_login(on_first, "alice@example.com")
        box = await create_box(on_first, alice)
        response = await on_first.post(
            f"/boxes/{box['id']}/encrypted-files", headers=alice.headers,
            data={"msg_encrypted_content": "c2VhbGVk", "msg_public_key": box["public_key"]},
            files={"encrypted_file": ("blob", data)},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        file_id = response.json()["content"]["encrypted_file_id"]
        async with on_second.stream("GET", f"/encrypted-files/{file_id}", headers=alice.headers) as download:
            assert download.status_code == 200
            assert int(download.headers["content-length"]) == len(data)
            assert b"".join([chunk async for chunk in download.aiter_bytes()]) == data
        found, uploads = await asyncio.to_thread(inspect_bucket, endpoint, bucket)
        assert list(found) == [f"boxtui/{file_id}"] and found[f"boxtui/{file_id}"] == data and uploads == []
        # Deleted through the second server: gone from the bucket for both.
        deleted = await on_second.post(f"/boxes/{box['id']}/events", json={"type": "msg.delete", "referrer_id": response.json()["id"]}, headers=alice.headers)
        assert deleted.status_code == 201, deleted.text
        assert (await on_first.get(f"/encrypted-files/{file_id}", headers=alice.headers)).status_code == 404
        assert (await asyncio.to_thread(inspect_bucket, endpoint, bucket))[0] == {}


async def _realtime_crosses(first: ServerProcess, second: ServerProcess, sockets: int = 1) -> None:
    """A post through ``first`` reaches ``sockets`` sockets opened through ``second``, and back."""
    async with httpx.AsyncClient(base_url=first.url, timeout=60) as on_first, httpx.AsyncClient(base_url=second.url, timeout=60) as on_second:
        alice = await signup_login(on_first, "carol@example.com")
        bob = await signup_login(on_second, "dave@example.com")
        box = await create_box(on_first, alice)
        await invite(on_first, alice, box["id"], bob.email)
        await join(on_second, bob, box["id"])
        async with contextlib.AsyncExitStack() as stack:
            bob_sockets = [await stack.enter_async_context(connect(f"{second.ws_url}/box-users/{bob.id}/ws", additional_headers=bob.headers)) for _ in range(sockets)]
            alice_ws = await stack.enter_async_context(connect(f"{first.ws_url}/box-users/{alice.id}/ws", additional_headers=alice.headers))
            post = await on_first.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "aGk="}}, headers=alice.headers)
            assert post.status_code == 201, post.text
            for ws in bob_sockets:
                await _arrives(ws, post.json()["id"])  # first → sockets on the second
            reply = await on_second.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "aGV5"}}, headers=bob.headers)
            assert reply.status_code == 201, reply.text
            await _arrives(alice_ws, reply.json()["id"])  # and back


async def _arrives(ws, event_id: str) -> None:
    """The socket gets ``event.new`` for ``event_id`` within 30 s (other messages skipped)."""
    async with asyncio.timeout(30):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "event.new" and message["object"]["id"] == event_id:
                return
