"""The realtime bus between server processes (PROTOCOL §10.17).

Two apps in one test stand for two server processes: one database, separate hubs,
talking over the real bus — PostgreSQL LISTEN/NOTIFY, a Redis this test starts and
stops, or the Unix-socket broker of ``boxtui serve --workers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtui.server.app import create_app
from boxtui.server.realtime import frames
from boxtui.server.realtime.bus import Bus, LocalBroker, PostgresBus, RedisBus, UnixBus, split_utf8
from boxtui.server.realtime.hub import BusHub
from tests.conftest import _truncate_pg, asgi_client, make_settings, new_pg_database
from tests.server.helpers import box_with_member, ciphertext, free_port, post_text, until


async def _next_text(sub) -> dict:
    """The next ``msg.text`` a socket is sent. A socket opened right after a box was made
    may still get that box's earlier events (a join relayed by the other process)."""
    while True:
        message = json.loads(await asyncio.wait_for(sub.queue.get(), 10))
        if message["object"]["type"] == "msg.text":
            return message


@contextlib.asynccontextmanager
async def _two_processes(settings, **kwargs):
    first, second = create_app(settings, **kwargs), create_app(settings, migrate=False, **kwargs)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        yield first, second


def test_frames_split_for_notify_never_cut_a_character():
    text = "é" * 5000 + "x" + "🙂" * 3000
    pieces = split_utf8(text, 7800)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= 7800 for p in pieces) and len(pieces) > 2
    assert split_utf8("", 7800) == [""]


@pytest.mark.postgres
async def test_postgres_notify_carries_big_messages_between_processes(tmp_path, pg_database):
    """No Redis on PostgreSQL: LISTEN/NOTIFY, a 64 KiB message cut into chunks and
    put back together, with non-ASCII text, delivered once."""
    await _truncate_pg(pg_database)
    settings = make_settings(tmp_path / "data", pg_database)
    async with _two_processes(settings) as (first, second):
        assert isinstance(second.state.hub.bus, PostgresBus)
        async with asgi_client(first) as http:
            alice, bob, box = await box_with_member(http)
            renamed = await http.patch(f"/identities/{alice.id}", json={"display_name": "Zoë 🙂 Ålesund"}, headers=alice.headers)
            assert renamed.status_code == 200
            bob_ws = second.state.hub.connect(bob.id)
            try:
                big = ciphertext(48 * 1024)  # 64 KiB of b64u: the largest msg.text
                message = await post_text(http, alice, box["id"], encrypted=big)
                got = json.loads(await asyncio.wait_for(bob_ws.queue.get(), timeout=10))
                assert got["object"]["id"] == message["id"] and got["object"]["content"]["encrypted"] == big
                assert got["object"]["sender"]["display_name"] == "Zoë 🙂 Ålesund"
                small = await post_text(http, alice, box["id"])
                got = json.loads(await asyncio.wait_for(bob_ws.queue.get(), timeout=10))
                assert got["object"]["id"] == small["id"]
                await asyncio.sleep(0.3)
                assert bob_ws.queue.empty()  # once each
            finally:
                second.state.hub.disconnect(bob_ws)


async def test_workers_on_sqlite_share_realtime_through_the_local_broker(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="boxtui-test-bus-"))
    broker = LocalBroker(folder / "bus.sock")
    broker.start()
    try:
        settings = make_settings(tmp_path / "data")
        async with _two_processes(settings, bus_socket=broker.path) as (first, second):
            assert isinstance(first.state.hub.bus, UnixBus) and second.state.hub.available
            async with asgi_client(first) as http_first, asgi_client(second) as http_second:
                alice, bob, box = await box_with_member(http_first)
                bob_ws, alice_ws = second.state.hub.connect(bob.id), first.state.hub.connect(alice.id)
                message = await post_text(http_first, alice, box["id"])
                assert (await _next_text(bob_ws))["object"]["id"] == message["id"]
                reply = await post_text(http_second, bob, box["id"])
                seen = [await _next_text(alice_ws) for _ in range(2)]
                assert [m["object"]["id"] for m in seen] == [message["id"], reply["id"]], seen  # its own post locally, the reply over the bus
                # The broker goes away: sockets are told to reconnect, new ones are refused.
                broker.stop()
                await until(lambda: bob_ws.dropped.is_set() and not second.state.hub.available, what="the bus loss to be noticed")
                assert alice_ws.dropped.is_set()
                # It comes back: the workers reconnect by themselves.
                broker = LocalBroker(folder / "bus.sock")
                broker.start()
                await until(lambda: first.state.hub.available and second.state.hub.available, what="the bus to come back")
                again = second.state.hub.connect(bob.id)
                later = await post_text(http_first, alice, box["id"])
                assert json.loads(await asyncio.wait_for(again.queue.get(), 10))["object"]["id"] == later["id"]
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_gap_in_another_process_frames_makes_sockets_catch_up():
    """A process that could not publish a frame still counted it: the others see the
    gap and make their sockets reconnect, instead of leaving them silently behind."""

    async def scenario() -> None:
        hub = BusHub(Bus())
        hub._state(True)
        sub = hub.connect("someone")
        hub._received(frames.pack_message("other", 1, ["someone"], '{"n":1}'))
        hub._received(frames.pack_message("other", 2, ["someone"], '{"n":2}'))
        assert [sub.queue.get_nowait() for _ in range(2)] == ['{"n":1}', '{"n":2}'] and not sub.dropped.is_set()
        hub._received(frames.pack_message("another", 7, ["someone"], '{"n":3}'))  # a process seen first now
        assert not sub.dropped.is_set()
        hub._received(frames.pack_message("other", 4, ["someone"], '{"n":4}'))  # 3 never came
        assert sub.dropped.is_set()
        hub._received("not a frame")  # ignored, logged
        hub._received(frames.pack_end_session("other", 5, "session-1"))
        assert not sub.ended.is_set()

    asyncio.run(scenario())


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen]:
    """A Redis of this test's own on ``port`` (so stopping it hurts nobody)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        import redis

        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    pytest.fail("the test's redis-server did not start")
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.redis
async def test_redis_outage_closes_sockets_and_the_server_recovers(tmp_path):
    port = free_port()
    settings = make_settings(tmp_path / "data", redis_url=f"redis://127.0.0.1:{port}/0")
    with private_redis(port) as redis_process:
        async with _two_processes(settings) as (first, second):
            assert isinstance(first.state.hub.bus, RedisBus)
            async with asgi_client(first) as http:
                alice, bob, box = await box_with_member(http)
                bob_ws = second.state.hub.connect(bob.id)
                redis_process.terminate()
                redis_process.wait(10)
                await until(lambda: bob_ws.dropped.is_set() and not second.state.hub.available, what="the Redis loss to be noticed")
                # Writes still succeed (the event is committed; clients catch up from the database).
                during = await post_text(http, alice, box["id"])
                await until(lambda: not first.state.hub.available, what="the first process to notice")
                with private_redis(port):
                    await until(lambda: first.state.hub.available and second.state.hub.available, what="Redis to be back")
                    again = second.state.hub.connect(bob.id)
                    after = await post_text(http, alice, box["id"])
                    assert json.loads(await asyncio.wait_for(again.queue.get(), 10))["object"]["id"] == after["id"]
                listing = await http.get(f"/boxes/{box['id']}/events", params={"after": during["id"]}, headers=bob.headers)
                assert [e["id"] for e in listing.json()] == [after["id"]]


@contextlib.asynccontextmanager
async def _bus_pair(kind: str, pg_database: str | None):
    """Two hubs on one real bus of ``kind``, as two processes would have."""
    with contextlib.ExitStack() as stack:
        if kind == "postgres":
            make = lambda: PostgresBus(pg_database)  # noqa: E731
        elif kind == "redis":
            port = free_port()
            stack.enter_context(private_redis(port))
            make = lambda: RedisBus(f"redis://127.0.0.1:{port}/0")  # noqa: E731
        else:
            folder = Path(tempfile.mkdtemp(prefix="boxtui-test-bus-"))
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
            broker = LocalBroker(folder / "bus.sock")
            broker.start()
            stack.callback(broker.stop)
            make = lambda: UnixBus(broker.path)  # noqa: E731
        first, second = BusHub(make()), BusHub(make())
        await first.start()
        await second.start()
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


@pytest.mark.postgres
async def test_a_burst_of_publications_goes_out_in_groups_in_order_postgres(pg_database):
    await _burst("postgres", pg_database)


@pytest.mark.redis
async def test_a_burst_of_publications_goes_out_in_groups_in_order_redis():
    await _burst("redis", None)


async def test_a_burst_of_publications_goes_out_in_groups_in_order_unix():
    await _burst("unix", None)


async def _burst(kind: str, pg_database: str | None) -> None:
    """A busy process sends the frames published while the previous send was on its way
    together (one NOTIFY statement, one Redis pipeline, one write): the other process
    gets every one, big ones in pieces included, in the order they were published,
    with no gap in the frames' numbers (which would make its sockets reconnect)."""
    async with _bus_pair(kind, pg_database) as (first, second):
        calls: list[int] = []
        send_many = first.bus.send_many

        async def counted(group):
            calls.append(len(group))
            await send_many(group)

        first.bus.send_many = counted
        sub = second.connect("bob")
        texts = [{"n": n, "pad": "é" * (6000 if n % 50 == 7 else 10)} for n in range(400)]
        await asyncio.gather(*(first.publish(["bob", "carol"], text) for text in texts))
        got = [json.loads(await asyncio.wait_for(sub.queue.get(), 10)) for _ in texts]
        assert got == texts
        assert not sub.dropped.is_set()
        assert sum(calls) == len(texts) and len(calls) < len(texts) / 4, calls
        # And a lone publication after the burst goes on its own.
        await first.publish(["bob"], {"n": "last"})
        assert json.loads(await asyncio.wait_for(sub.queue.get(), 10)) == {"n": "last"} and calls[-1] == 1


@pytest.mark.postgres
async def test_a_process_skips_its_own_notifications_unread(pg_database):
    """PostgreSQL delivers a NOTIFY to every listener, the sender's own process too: its
    frames (already delivered to its sockets when published) are dropped by the
    notifying backend's pid before they are parsed, while the other process gets every
    one, a frame in pieces included."""
    async with _bus_pair("postgres", pg_database) as (first, second):
        seen: dict[str, list[str]] = {"first": [], "second": []}
        for name, hub in (("first", first), ("second", second)):
            receive = hub.bus._receive
            hub.bus._receive = lambda frame, name=name, receive=receive: (seen[name].append(frame), receive(frame))
        big = "x" * 20_000  # over NOTIFY's payload limit: sent in pieces
        for text in ('{"n":1}', '{"n":2}', json.dumps({"big": big})):
            await first.publish(["someone"], json.loads(text))
        await until(timeout=10, condition=lambda: len(seen["second"]) == 3, what="the other process to get every frame")
        await asyncio.sleep(0.3)  # time for the first process's own notifications to come back
        assert seen["first"] == []
        assert [frames.unpack(f).seq for f in seen["second"]] == [1, 2, 3]
        assert first.bus._notifier_pid is not None
        # Its NOTIFY transactions do not wait for the disk (nothing in them must outlive a crash).
        assert await first.bus._notifier.fetchval("SHOW synchronous_commit") == "off"


async def test_a_posts_envelopes_go_out_in_one_send_unix():
    await _one_send("unix", None)


@pytest.mark.postgres
async def test_a_posts_envelopes_go_out_in_one_send_postgres(pg_database):
    await _one_send("postgres", pg_database)


async def _one_send(kind: str, pg_database: str | None) -> None:
    """A post has up to three envelopes (the sender's, the admin's, everyone else's):
    published together they are queued at once and go out in one send (one NOTIFY
    statement, one write), in order, and the post waits for that one send only."""
    async with _bus_pair(kind, pg_database) as (first, second):
        sends: list[int] = []
        send_many = first.bus.send_many

        async def counted(frames_: list[str]) -> None:
            sends.append(len(frames_))
            await send_many(frames_)

        first.bus.send_many = counted
        got: list[str] = []
        receive = second.bus._receive
        second.bus._receive = lambda frame: (got.append(frame), receive(frame))
        await first.publish_many([(["alice"], {"n": 1}), (["admin"], {"n": 2}), ([], {"n": "nobody"}), (["bob", "carol"], {"n": 3})])
        assert sends == [3]  # one send, and it was done when publish_many returned
        await until(timeout=10, condition=lambda: len(got) == 3, what="the other process to get the three frames")
        assert [(f.seq, f.targets, json.loads(f.text)["n"]) for f in map(frames.unpack, got)] == [(1, ("alice",), 1), (2, ("admin",), 2), (3, ("bob", "carol"), 3)]


# --------------------------------------------------------------------------- a server alone on PostgreSQL


@pytest.fixture
def lone_pg_database():
    """A PostgreSQL database of its own, no connection on it but the test's (the bus
    needs no tables)."""
    with new_pg_database("boxtui_test_lone") as dsn:
        yield dsn


async def _connections_on(dsn: str, spy) -> set[str]:
    rows = await spy.fetch("SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    return {r[0] for r in rows}


@pytest.mark.postgres
async def test_a_server_alone_on_its_database_sends_no_notify(lone_pg_database, monkeypatch):
    """While every connection to the database is one server's own (its tag as
    ``application_name``), no other process can be listening, and its frames are not
    sent at all; any other connection — another server, a ``psql`` — and they are, in
    order and with no gap, and a server that joins gets the next one. Once it found
    another connection it sends without looking for a while."""
    import asyncpg

    from boxtui.server.realtime import bus

    monkeypatch.setattr(bus, "PG_LOOK_AGAIN_SECONDS", 3.0)
    dsn = lone_pg_database
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    first = BusHub(PostgresBus(url, "boxtui first"))
    await first.start()
    # The test's own eyes on the channel, under the first server's name so they do not
    # count as another process.
    heard: list[str] = []
    spy = await asyncpg.connect(dsn, server_settings={"application_name": "boxtui first"})
    await spy.add_listener("boxtui_realtime", lambda *args: heard.append(args[-1]))

    async def alone() -> None:  # (an autovacuum worker visiting the database counts too)
        await until_async(lambda: _connections_on(dsn, spy), lambda names: names == {"boxtui first"})

    async def sends_nothing_alone(n: int) -> None:
        """Once it looks again and is alone, frame ``n`` is not sent."""
        await asyncio.sleep(max(0.0, first.bus._plain_until - time.monotonic()))
        await alone()
        count = len(heard)
        await first.publish(["bob"], {"n": n})
        await asyncio.sleep(0.3)
        assert len(heard) == count, "alone again, yet it sent"

    try:
        await alone()
        await first.publish(["bob"], {"n": 1})
        await first.publish(["bob"], {"n": 2})
        await asyncio.sleep(0.3)
        assert heard == [], "a server alone sent its frames"

        # Any connection that is not this server's: sent, to be safe.
        other = await asyncpg.connect(dsn)
        try:
            await first.publish(["bob"], {"n": 3})
            await until(lambda: len(heard) == 1, timeout=10, what="the frame sent while psql was connected")
        finally:
            await other.close()
        await alone()
        # Alone again, but it has not looked again yet: still sent.
        assert time.monotonic() < first.bus._plain_until
        await first.publish(["bob"], {"n": 3.5})
        await until(lambda: len(heard) == 2, timeout=10, what="a frame sent without a look")
        await sends_nothing_alone(4)

        # A second server joins: it gets every frame from then on, with no gap.
        second = BusHub(PostgresBus(url, "boxtui second"))
        await second.start()
        try:
            sub = second.connect("bob")
            for n in (5, 6):
                await first.publish(["bob"], {"n": n})
            got = [json.loads(await asyncio.wait_for(sub.queue.get(), 10)) for _ in range(2)]
            assert got == [{"n": 5}, {"n": 6}]
            assert not sub.dropped.is_set()
        finally:
            await second.close()
        await sends_nothing_alone(7)
    finally:
        await spy.close()
        await first.close()


@pytest.mark.postgres
async def test_a_listener_starting_waits_for_a_notify_that_looked_before_it(lone_pg_database):
    """A server's bus, once it listens, waits until no NOTIFY transaction that looked at
    who was connected before it is still open, so its sockets (opened once it is up)
    catch up on whatever such a transaction wrote."""
    import asyncpg

    from boxtui.server.realtime.bus import PG_NOTIFY_LOCK_KEY

    url = lone_pg_database.replace("postgresql://", "postgresql+asyncpg://")
    looking = await asyncpg.connect(lone_pg_database)
    try:
        await looking.execute("BEGIN")
        await looking.execute(f"SELECT pg_advisory_xact_lock_shared({PG_NOTIFY_LOCK_KEY})")
        hub = BusHub(PostgresBus(url, "boxtui late"))
        starting = asyncio.create_task(hub.start())
        try:
            await asyncio.sleep(0.5)
            assert not starting.done() and not hub.available
            await looking.execute("COMMIT")
            await asyncio.wait_for(starting, 10)
            assert hub.available
        finally:
            await hub.close()
    finally:
        await looking.close()


@pytest.mark.postgres
async def test_a_role_without_temporary_objects_always_notifies(lone_pg_database):
    """Where the database refuses the server's role temporary objects (no NOTIFY
    function on its connection), every frame goes out by plain NOTIFY, as before."""
    import uuid

    import asyncpg

    role = f"boxtui_test_notemp_{uuid.uuid4().hex[:8]}"
    name = lone_pg_database.rsplit("/", 1)[1]
    admin = await asyncpg.connect(lone_pg_database)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN; REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
        url = lone_pg_database.replace("postgresql://", "postgresql+asyncpg://").replace("//postgres@", f"//{role}@")
        assert role in url
        first = BusHub(PostgresBus(url, "boxtui first"))
        second = BusHub(PostgresBus(url, "boxtui second"))
        await first.start()
        await second.start()
        try:
            sub = second.connect("bob")
            await first.publish(["bob"], {"n": 1})
            assert json.loads(await asyncio.wait_for(sub.queue.get(), 10)) == {"n": 1}
            assert first.bus._notifier is not None and not first.bus._notify_function
        finally:
            await first.close()
            await second.close()
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE IF EXISTS "{role}"')
        await admin.close()


@pytest.mark.postgres
async def test_a_listener_that_cannot_start_in_time_leaves_no_connection(lone_pg_database, monkeypatch):
    """Held past the connect timeout (a NOTIFY that never ends), the bus's start fails
    with a clear error and its half-made connection is closed, not left behind."""
    import asyncpg

    from boxtui.server.realtime import bus

    monkeypatch.setattr(bus, "CONNECT_TIMEOUT", 0.5)
    looking = await asyncpg.connect(lone_pg_database)
    try:
        await looking.execute("BEGIN")
        await looking.execute(f"SELECT pg_advisory_xact_lock_shared({bus.PG_NOTIFY_LOCK_KEY})")
        url = lone_pg_database.replace("postgresql://", "postgresql+asyncpg://")
        hub = BusHub(PostgresBus(url, "boxtui stuck"))
        with pytest.raises(RuntimeError, match="cannot reach"):
            await hub.start()
        await looking.execute("COMMIT")
        await until_async(lambda: _connections_on(lone_pg_database, looking), lambda names: "boxtui stuck" not in names)
    finally:
        await looking.close()


async def until_async(read, condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not condition(value := await read()):
        assert time.monotonic() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)
