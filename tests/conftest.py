"""Shared fixtures: the real server, in-process, on SQLite and on PostgreSQL.

``server_app`` runs each test on both backends (PostgreSQL only where one answers at
127.0.0.1:5432, else that half is skipped with the reason). ``sqlite_app`` is the
cheaper single-backend variant for suites that test something other than storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from boxtui.server.app import create_app
from boxtui.server.settings import ServerSettings

PG_ADMIN_DSN = os.environ.get("BOXTUI_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct horse battery"
#: Moves the host's local server (default 127.0.0.1:8642) for a test: no test binds 8642.
LOCAL_SERVER_ENV = "BOXTUI_LOCAL_SERVER"


def free_port_block(count: int = 21) -> int:
    """A loopback port P with P … P+count-1 all free right now (the local server's
    default port and its fallbacks). Picked below the kernel's ephemeral range, so
    no server another test binds to port 0 can land among them later."""
    import random
    import socket

    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    for _ in range(200):
        first = random.randrange(10_000, max(10_001, low - count))
        held = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return first
    raise RuntimeError("no block of free loopback ports")


def stop_servers_under(folder: Path) -> None:
    """SIGTERM every ``boxtui serve`` whose data dir is under ``folder`` (what a test started)."""
    import signal

    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if "serve" in argv and "--data-dir" in argv[:-1] and argv[argv.index("--data-dir") + 1].startswith(str(folder)):
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGTERM)


@pytest.fixture(autouse=True, scope="session")
def _no_test_touches_the_hosts_local_server(tmp_path_factory) -> None:
    """For the whole session the host's local server is looked for on a free port
    block, with its files in a private data dir: a test that forgets to pick a server
    never binds 8642 nor writes to the real ``~/.local/share/boxtui``."""
    saved = {key: os.environ.get(key) for key in (LOCAL_SERVER_ENV, "XDG_DATA_HOME")}
    os.environ[LOCAL_SERVER_ENV] = f"127.0.0.1:{free_port_block()}"
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    xdg = tmp_path_factory.getbasetemp()
    yield
    stop_servers_under(xdg)  # any a test started and left running
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def local_server(tmp_path: Path, monkeypatch):
    """The host's local server for this test alone: its default address on a free port
    block and its data dir under ``tmp_path`` (set in the environment, so ``boxtui``
    processes started by the test find it too). Stopped at the end if it was started."""
    from boxtui.messenger.embedded import LocalServer

    monkeypatch.setenv(LOCAL_SERVER_ENV, f"127.0.0.1:{free_port_block()}")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    local = LocalServer.default()
    yield local
    stop_servers_under(tmp_path)  # this test's, whichever data dir ("user") started it; never another test's


def env_without_settings(**extra: str) -> dict[str, str]:
    """This process's environment without ``BOXTUI_*`` settings (but keeping where the
    local server is looked for), plus ``extra``: for ``boxtui`` child processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXTUI_") or k == LOCAL_SERVER_ENV}
    env.update(extra)
    return env


#: Markers of tests that need a service; under CI they must run, never skip.
SERVICE_MARKERS = {"postgres": "BOXTUI_REQUIRE_PG", "redis": "BOXTUI_REQUIRE_REDIS"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI`` and ``BOXTUI_REQUIRE_PG`` / ``BOXTUI_REQUIRE_REDIS`` set, as ``.ci/run``
    does) a test marked ``postgres`` / ``redis`` that skips fails instead: a CI whose
    PostgreSQL or Redis went missing must not go green having tested SQLite only."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("CI")):
        return
    required = [name for name, env in SERVICE_MARKERS.items() if os.environ.get(env) and item.get_closest_marker(name)]
    if required:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI requires {' and '.join(required)} but this test skipped: {reason}"


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover
        return "asyncpg is not installed"

    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001 - any failure means "no service"
        return f"no PostgreSQL answers at {PG_ADMIN_DSN}: {exc.__class__.__name__}: {exc}"
    return None


async def pg_admin(sql: str) -> None:
    """``sql`` on the test server's admin database (``CREATE``/``DROP DATABASE``…)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def new_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its ``postgresql://`` DSN), dropped on exit;
    the test skips without PostgreSQL (fails, in CI with ``BOXTUI_REQUIRE_PG``)."""
    reason = _pg_available()
    if reason:
        if os.environ.get("CI") and os.environ.get("BOXTUI_REQUIRE_PG"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated; dropped at the end."""
    with new_pg_database("boxtui_test") as dsn:
        url = dsn.replace("postgresql://", "postgresql+asyncpg://")
        asyncio.run(_migrate(url))
        yield url


async def _migrate(url: str) -> None:
    from boxtui.server.db import make_engine
    from boxtui.server.migrate import upgrade_to_head

    engine = make_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


async def _truncate_pg(url: str) -> None:
    import asyncpg

    from boxtui.server.models import Base

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = ", ".join(f'"{t}"' for t in Base.metadata.tables)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def make_settings(data_dir: Path, database_url: str = "", **overrides) -> ServerSettings:
    """Server settings for tests: cheap Argon2, everything under ``data_dir``."""
    values = dict(
        data_dir=data_dir,
        database_url=database_url,
        argon2_time_cost=1,
        argon2_memory_kib=8192,
    )
    values.update(overrides)
    return ServerSettings(**values)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_settings(request, tmp_path: Path) -> ServerSettings:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
        asyncio.run(_truncate_pg(url))
        return make_settings(tmp_path / "data", url)
    return make_settings(tmp_path / "data")


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> ServerSettings:
    return make_settings(tmp_path / "data")


class InProcessServer:
    """An ASGI app served in-process the way a real server serves it.

    ``httpx.ASGITransport`` runs the app inside the caller's task, so a caller that is
    cancelled (an app worker stopped as the app exits) used to cancel the server half-way
    through a database transaction. SQLAlchemy then terminates that SQLite connection
    (a shielded graceful close, then ``stop()``), and aiosqlite's close, cancelled once
    by ``asyncio.Runner.close()``, waits for a stop the connection's thread, already
    gone, never answers: the xdist worker hung in ``_cancel_all_tasks`` at teardown.

    A real server does not cancel a request because its client went away: the request
    runs to its end, and its next ``receive()`` says the client disconnected. Here too:
    each request runs in its own task, and :meth:`drain` (called before the server's
    lifespan ends) waits for the ones still running.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.running: set[asyncio.Task] = set()

    async def __call__(self, scope, receive, send) -> None:
        gone = False

        async def receive_until_gone():
            return {"type": "http.disconnect"} if gone else await receive()

        task = asyncio.create_task(self.app(scope, receive_until_gone, send))
        self.running.add(task)
        task.add_done_callback(self._finished)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            gone = True
            raise

    def _finished(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        if not task.cancelled():
            task.exception()  # seen by the caller, or by nobody if the caller had gone

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait for the requests still running (their callers gone); cancel any left after ``timeout``."""
        if self.running:
            await asyncio.wait(set(self.running), timeout=timeout)
        for task in list(self.running):
            task.cancel()
        if self.running:
            await asyncio.wait(set(self.running), timeout=5)


def in_process(app) -> InProcessServer:
    """The app's :class:`InProcessServer` (one per app, drained when ``_running`` ends)."""
    server = getattr(app.state, "in_process", None)
    if server is None:
        server = app.state.in_process = InProcessServer(app)
    return server


def asgi_transport(app) -> httpx.ASGITransport:
    """A transport to the in-process server that serves requests as a real server does."""
    return httpx.ASGITransport(app=in_process(app))


@contextlib.asynccontextmanager
async def running_server(settings: ServerSettings) -> AsyncIterator:
    """The real server in-process for the block (reach it with :func:`asgi_transport`);
    requests still running at the end are waited for before its lifespan ends."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        try:
            yield app
        finally:
            server = getattr(app.state, "in_process", None)
            if server is not None:
                await server.drain()


async def _running(settings: ServerSettings) -> AsyncIterator:
    async with running_server(settings) as app:
        yield app


@pytest.fixture
async def server_app(server_settings: ServerSettings):
    async for app in _running(server_settings):
        yield app


@pytest.fixture
async def sqlite_app(sqlite_settings: ServerSettings):
    async for app in _running(sqlite_settings):
        yield app


def asgi_client(app, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", **kwargs)


@pytest.fixture
async def http(server_app) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(server_app) as client:
        yield client


@pytest.fixture
async def box_clients(sqlite_app):
    """``box_clients(base_url="http://127.0.0.1", **kwargs)``: a ``BoxClient`` on the
    in-process server (loopback by default, so invitation links can be made); every
    client made is closed at the end of the test."""
    from boxtui.client import BoxClient

    clients = []

    def make(base_url: str = "http://127.0.0.1", **kwargs):
        client = BoxClient(base_url, transport=asgi_transport(sqlite_app), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
