"""kill -9 during a write burst (issue 7 part 7): every event the server acknowledged
(answered 201) is there after a restart, on SQLite and on PostgreSQL.

Several writers post messages to a real ``boxtui serve`` as fast as it answers; the
process is killed with SIGKILL mid-burst; a new process on the same data (same
database) must list every acknowledged event, in order, and keep serving writes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from tests.conftest import _truncate_pg
from tests.server.helpers import create_box, serve_process, signup_login

pytestmark = pytest.mark.e2e

ROUNDS = 3
WRITERS = 6


async def _burst(base_url: str, token: str, box_id: str, acknowledged: list[str], stop: asyncio.Event) -> None:
    async def writer(n: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    response = await http.post(
                        f"/boxes/{box_id}/events",
                        json={"type": "msg.text", "content": {"encrypted": f"AAAA{n:02d}{i:06d}"}},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.HTTPError:
                    return  # the server is gone: what was not answered was not acknowledged
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])

    await asyncio.gather(*(writer(n) for n in range(WRITERS)))


async def _all_event_ids(http: httpx.AsyncClient, user, box_id: str) -> list[str]:
    ids: list[str] = []
    while True:
        page = await http.get(f"/boxes/{box_id}/events", params={"offset": len(ids), "limit": 1000}, headers=user.headers)
        assert page.status_code == 200, page.text
        ids += [event["id"] for event in page.json()]
        if len(page.json()) < 1000:
            return ids


def _rounds(data_dir, *args: str) -> list[int]:
    """Run the kill -9 rounds; returns how many events were acknowledged per round."""
    counts = []

    async def first(process) -> tuple:
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
            alice = await signup_login(http, "crash@example.com")
            box = await create_box(http, alice)
        return alice, box["id"]

    with serve_process(data_dir, *args) as process:
        alice, box_id = asyncio.run(first(process))
    all_acknowledged: list[str] = []
    for _ in range(ROUNDS):
        with serve_process(data_dir, *args) as process:
            acknowledged: list[str] = []

            async def burst_then_kill() -> None:
                stop = asyncio.Event()
                task = asyncio.create_task(_burst(process.url, alice.token, box_id, acknowledged, stop))
                deadline = time.monotonic() + 20
                while len(acknowledged) < 40 and time.monotonic() < deadline:  # mid-burst, whatever the machine's speed
                    await asyncio.sleep(0.01)
                os.kill(process.pid, signal.SIGKILL)
                stop.set()
                await task

            asyncio.run(burst_then_kill())
            counts.append(len(acknowledged))
            all_acknowledged += acknowledged

        with serve_process(data_dir, *args) as process:

            async def check() -> None:
                async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
                    listed = await _all_event_ids(http, alice, box_id)
                    missing = set(all_acknowledged) - set(listed)
                    assert not missing, f"{len(missing)} acknowledged event(s) lost"
                    assert len(listed) == len(set(listed))
                    after = await http.post(f"/boxes/{box_id}/events", json={"type": "msg.text", "content": {"encrypted": "AAAA"}}, headers=alice.headers)
                    assert after.status_code == 201, after.text

            asyncio.run(check())
    assert all(count >= 40 for count in counts), counts
    return counts


def test_kill_9_mid_burst_loses_no_acknowledged_event_sqlite(tmp_path):
    counts = _rounds(tmp_path / "data")
    print(f"SQLite: acknowledged per round before kill -9: {counts}, none lost")


@pytest.mark.postgres
def test_kill_9_mid_burst_loses_no_acknowledged_event_postgres(tmp_path, pg_database):
    asyncio.run(_truncate_pg(pg_database))
    counts = _rounds(tmp_path / "data", "--database-url", pg_database)
    print(f"PostgreSQL: acknowledged per round before kill -9: {counts}, none lost")
