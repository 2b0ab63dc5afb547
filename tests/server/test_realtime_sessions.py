"""Realtime sockets and sessions without a query per socket (issue 7 part 3).

Logout ends the session's sockets at once, in every server process (through Redis);
the periodic check — one query for all of a process's sockets — catches a session
revoked behind the server's back; the cap per identity holds per process.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, update

from boxtui.server.auth.models import AuthSessionRow
from boxtui.server.realtime.hub import Hub, TooManySockets
from boxtui.server.realtime.router import watch_sessions
from tests.conftest import asgi_client, make_settings
from tests.server.helpers import signup_login
from tests.server.test_realtime import _redis_unavailable


async def _session_ids(app) -> dict[str, str]:
    """identity id → its session id (one session each here)."""
    async with app.state.sessionmaker() as db:
        return {row.identity_id: row.id for row in (await db.execute(AuthSessionRow.__table__.select())).all()}


@pytest.mark.redis
async def test_logout_ends_sockets_in_another_process_through_redis(tmp_path):
    if reason := _redis_unavailable():
        pytest.skip(reason)
    settings = make_settings(tmp_path / "data", redis_url="redis://127.0.0.1:6379/0")
    from boxtui.server.app import create_app

    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        async with asgi_client(first) as http:
            alice = await signup_login(http, "alice@example.com")
            socket = second.state.hub.connect(alice.id, (await _session_ids(second))[alice.id])
            try:
                assert (await http.post("/auth/logout", headers=alice.headers)).status_code == 204
                await asyncio.wait_for(socket.ended.wait(), timeout=5)
            finally:
                second.state.hub.disconnect(socket)


async def test_one_query_rechecks_every_socket_of_a_process(sqlite_app):
    async with asgi_client(sqlite_app) as http:
        users = [await signup_login(http, f"user{i}@example.com") for i in range(5)]
    hub: Hub = sqlite_app.state.hub
    rows = await _session_ids(sqlite_app)
    sockets = [hub.connect(user.id, rows[user.id]) for user in users for _ in range(3)]
    # Revoked behind the server's back (no logout call): only the periodic check can see it.
    async with sqlite_app.state.sessionmaker() as db:
        await db.execute(update(AuthSessionRow).where(AuthSessionRow.id == rows[users[0].id]).values(revoked=True))
        await db.commit()
    statements: list[str] = []
    engine = sqlite_app.state.engine.sync_engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    watcher = asyncio.create_task(watch_sessions(hub, sqlite_app.state.sessionmaker, 0.05))
    try:
        await asyncio.wait_for(sockets[0].ended.wait(), timeout=5)
    finally:
        watcher.cancel()
        event.remove(engine, "before_cursor_execute", listener)
        for socket in sockets:
            hub.disconnect(socket)
    assert all(s.ended.is_set() for s in sockets[:3]) and not any(s.ended.is_set() for s in sockets[3:])
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # One query per check for 15 sockets (a few checks may run before the first hit).
    assert 1 <= len(selects) <= 5 and all("auth_sessions" in s for s in selects), selects


def test_the_cap_counts_sockets_per_identity():
    hub = Hub()
    held = [hub.connect("alice", "s1", limit=2), hub.connect("alice", "s2", limit=2)]
    with pytest.raises(TooManySockets):
        hub.connect("alice", "s3", limit=2)
    assert hub.connect("bob", "s4", limit=2) is not None
    hub.disconnect(held[0])
    assert hub.connect("alice", "s3", limit=2) is not None
