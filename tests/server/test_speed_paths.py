"""What issue 8's speed work must not change, and what it promises (PROTOCOL §3, §4):
counts from maintained counters, reads that never wait for a writer, a saturated
database pool answering 503 with the protocol's error body."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from boxtui.server import db as server_db
from tests.conftest import _running, asgi_client
from tests.server.helpers import assert_error, box_with_member, create_box, join, post_event, post_text, signup_login, upload_file


async def _count(http, user, box_id: str) -> int:
    response = await http.head(f"/boxes/{box_id}/events", headers=user.headers)
    assert response.status_code == 204
    return int(response.headers["x-total-count"])


async def test_head_count_follows_every_kind_of_event(http):
    alice, bob, box = await box_with_member(http)
    url = f"/boxes/{box['id']}/events"
    listed = lambda: http.get(url, headers=alice.headers)  # noqa: E731
    assert await _count(http, alice, box["id"]) == len((await listed()).json())
    first = await post_text(http, alice, box["id"])
    await post_text(http, bob, box["id"])
    await post_event(http, alice, box["id"], {"type": "msg.edit", "referrer_id": first["id"], "content": {"new_encrypted": "AAAA"}})
    await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": first["id"]})
    await upload_file(http, bob, box["id"])
    await post_event(http, bob, box["id"], {"type": "member.leave"})
    await join(http, bob, box["id"])
    events = (await listed()).json()
    # Edits and deletes fold into their message (hidden); the rest are listed and counted.
    assert await _count(http, alice, box["id"]) == len(events)
    assert len(events) > 6
    assert await _count(http, bob, box["id"]) == len(events)


async def test_unread_counts_do_not_count_your_own_posts_and_reset_on_ack(http):
    alice, bob, box = await box_with_member(http)
    unread = lambda user: http.get(f"/boxes/{box['id']}", headers=user.headers)  # noqa: E731
    await http.put(f"/boxes/{box['id']}/new-events-count/ack", headers=alice.headers)
    for _ in range(3):
        await post_text(http, bob, box["id"])
    await post_text(http, alice, box["id"])
    assert (await unread(alice)).json()["events_count"] == 3
    assert (await unread(bob)).json()["events_count"] == 1  # Alice's post
    assert (await http.put(f"/boxes/{box['id']}/new-events-count/ack", headers=alice.headers)).status_code == 204
    assert (await unread(alice)).json()["events_count"] == 0
    joined = (await http.get("/boxes/joined", headers=bob.headers)).json()
    assert [b["events_count"] for b in joined if b["id"] == box["id"]] == [1]


async def test_a_read_does_not_wait_for_a_writer_holding_the_write_lock(sqlite_app):
    async with asgi_client(sqlite_app) as http:
        alice = await signup_login(http, "alice@example.com")
        box = await create_box(http, alice)
        await post_text(http, alice, box["id"])
        async with sqlite_app.state.sessionmaker() as writer:
            # A write transaction in progress: it holds SQLite's write lock (BEGIN IMMEDIATE)
            # and this process's writer lock until it ends.
            await writer.execute(text("UPDATE boxes SET title = 'renamed' WHERE id = :id"), {"id": box["id"]})
            page = await asyncio.wait_for(http.get(f"/boxes/{box['id']}/events?tail=true&limit=10", headers=alice.headers), timeout=10)
            assert page.status_code == 200 and len(page.json()) == 2
            assert (await asyncio.wait_for(http.get(f"/boxes/{box['id']}", headers=alice.headers), timeout=10)).json()["title"] == "Project"
            # A second writer of this process queues behind it (and gets in once it ends).
            post = asyncio.create_task(http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "QUJD"}}, headers=alice.headers))
            await asyncio.sleep(0.3)
            assert not post.done()
            await writer.commit()
        assert (await asyncio.wait_for(post, timeout=10)).status_code == 201
        assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["title"] == "renamed"


async def test_a_saturated_pool_answers_503_with_the_error_body(server_settings, monkeypatch):
    monkeypatch.setattr(server_db, "PG_POOL_SIZE", 1)
    monkeypatch.setattr(server_db, "PG_MAX_OVERFLOW", 0)
    monkeypatch.setattr(server_db, "SQLITE_POOL_SIZE", 1)
    monkeypatch.setattr(server_db, "SQLITE_MAX_OVERFLOW", 0)
    monkeypatch.setattr(server_db, "POOL_TIMEOUT", 0.5)
    async for app in _running(server_settings):
        app.state.fast_path = None  # the routes' pool (the fast path's own: see test_fast_path)
        async with asgi_client(app) as http:
            alice = await signup_login(http, "alice@example.com")
            box = await create_box(http, alice)
            async with app.state.engine.connect() as held:  # the write pool's only connection
                await held.execute(text("SELECT 1"))
                response = await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "QUJD"}}, headers=alice.headers)
                body = assert_error(response, 503)
                assert response.headers["retry-after"]
                assert "try again" in body["desc"]
            # Nothing was written, and the server serves again once a connection is free.
            assert await _count(http, alice, box["id"]) == 1
            assert (await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "QUJD"}}, headers=alice.headers)).status_code == 201
            assert await _count(http, alice, box["id"]) == 2


async def test_pages_by_offset_and_from_the_end_match_the_full_list(http):
    alice, bob, box = await box_with_member(http)
    url = f"/boxes/{box['id']}/events"
    for n in range(9):
        posted = await post_text(http, alice if n % 2 else bob, box["id"])
        if n % 3 == 0:  # hidden events between the visible ones
            await post_event(http, bob if n % 2 == 0 else alice, box["id"], {"type": "msg.edit", "referrer_id": posted["id"], "content": {"new_encrypted": "QUJD"}})
    ids = [e["id"] for e in (await http.get(url, headers=alice.headers)).json()]
    assert len(ids) == await _count(http, alice, box["id"])
    for offset in (0, 1, 5, len(ids) - 1, len(ids), len(ids) + 3):
        for limit in (1, 3, 100):
            page = (await http.get(f"{url}?offset={offset}&limit={limit}", headers=alice.headers)).json()
            assert [e["id"] for e in page] == ids[offset : offset + limit], (offset, limit)
            tail = (await http.get(f"{url}?tail=true&offset={offset}&limit={limit}", headers=alice.headers)).json()
            end = max(0, len(ids) - offset)
            assert [e["id"] for e in tail] == ids[max(0, end - limit) : end], (offset, limit)
