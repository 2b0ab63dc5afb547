"""Two machines' worth of servers (issue 8 part 3, docs/operations.md "Two servers"):
two real ``boxtui serve`` processes, started at the same moment on one empty
PostgreSQL database, sharing Redis for realtime and an S3 bucket (moto's standalone
server) for files, configured the way the operations guide says (the standard ``AWS_*``
variables). A file uploaded through one is downloaded through the other; a post on one
reaches a websocket held by the other, both ways.

Skipped, with the reason, where PostgreSQL or Redis does not answer — except in CI
(``CI`` and ``BOXTUI_REQUIRE_PG`` set), where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import _pg_available
from tests.e2e.test_workers import fresh_database
from tests.s3 import S3_ENV, create_bucket, inspect_bucket, moto_s3  # noqa: F401 - fixture
from tests.server.helpers import ServerProcess, create_box, invite, join, serve_process, signup_login

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_unavailable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis"
        return f"no Redis answers at {REDIS_URL}: {exc}"
    return None


def require_services() -> None:
    """Skip (fail in CI) unless PostgreSQL and Redis answer."""
    for reason in (_pg_available(), _redis_unavailable()):
        if reason:
            if os.environ.get("CI") and os.environ.get("BOXTUI_REQUIRE_PG"):
                pytest.fail(reason)
            pytest.skip(reason)


async def test_two_servers_share_files_and_realtime(tmp_path, moto_s3):
    await asyncio.to_thread(require_services)
    bucket = create_bucket(moto_s3)
    env = {**S3_ENV, "AWS_ENDPOINT_URL": moto_s3}
    async with fresh_database("postgres") as db_args:
        args = ("--redis-url", REDIS_URL, "--blob-store", f"s3://{bucket}/boxtui", *db_args)
        with contextlib.ExitStack() as first_stack, contextlib.ExitStack() as second_stack:
            # Started together on an empty database: one migrates, the other waits for it.
            first, second = await asyncio.gather(
                asyncio.to_thread(first_stack.enter_context, serve_process(tmp_path / "a", *args, env=env, timeout=90)),
                asyncio.to_thread(second_stack.enter_context, serve_process(tmp_path / "b", *args, env=env, timeout=90)),
            )
            await _files_cross(first, second, moto_s3, bucket)
            await _realtime_crosses(first, second)
        for server in (first, second):
            assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]


async def _files_cross(first: ServerProcess, second: ServerProcess, endpoint: str, bucket: str) -> None:
    data = os.urandom(9 * 1024 * 1024 + 17)  # more than one 8 MiB part
    async with httpx.AsyncClient(base_url=first.url, timeout=60) as on_first, httpx.AsyncClient(base_url=second.url, timeout=60) as on_second:
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
        assert list(found) == [f"boxtui/{file_id}"] and uploads == []
        # Deleted through the second server: gone from the bucket for both.
        deleted = await on_second.post(f"/boxes/{box['id']}/events", json={"type": "msg.delete", "referrer_id": response.json()["id"]}, headers=alice.headers)
        assert deleted.status_code == 201, deleted.text
        assert (await on_first.get(f"/encrypted-files/{file_id}", headers=alice.headers)).status_code == 404
        assert (await asyncio.to_thread(inspect_bucket, endpoint, bucket))[0] == {}


async def _realtime_crosses(first: ServerProcess, second: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=first.url, timeout=60) as on_first, httpx.AsyncClient(base_url=second.url, timeout=60) as on_second:
        alice = await signup_login(on_first, "carol@example.com")
        bob = await signup_login(on_second, "dave@example.com")
        box = await create_box(on_first, alice)
        await invite(on_first, alice, box["id"], bob.email)
        await join(on_second, bob, box["id"])
        async with connect(f"{second.ws_url}/box-users/{bob.id}/ws", additional_headers=bob.headers) as bob_ws, connect(
            f"{first.ws_url}/box-users/{alice.id}/ws", additional_headers=alice.headers
        ) as alice_ws:
            post = await on_first.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "aGk="}}, headers=alice.headers)
            assert post.status_code == 201, post.text
            await _arrives(bob_ws, post.json()["id"])  # first → a socket on the second
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
