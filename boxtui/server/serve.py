"""Run the server with uvicorn (``boxtui serve``), in one process or ``--workers N``.

What uvicorn is told, and why:

* ``proxy_headers=False``: uvicorn would otherwise trust ``X-Forwarded-For`` /
  ``X-Forwarded-Proto`` from loopback by default. The app trusts them itself, and only
  from ``settings.forwarded_allow_ips`` (none by default; see ``create_app``).
* ``http=``: uvicorn's httptools protocol with a request-head deadline and a body idle
  timeout (:mod:`boxtui.server.timeouts`).
* ``ws_max_size``: a client only ever sends small acks; a bigger frame closes the
  socket with 1009.
* ``ws_per_message_deflate=False``: realtime frames are mostly base64 ciphertext, which
  deflate shrinks by under a third, and per-socket compression contexts cost CPU and
  memory for every socket of every message; without them a message is encoded once
  and the same bytes go to every socket (PROTOCOL §10.17).
* ``ssl_certfile``/``ssl_keyfile`` when given: HTTPS directly (cookies are then Secure).
* ``loop="asyncio"`` for one process (not uvloop, which ``"auto"`` would pick): uvloop's
  libuv accepts **one** connection per turn of the event loop. Under load a turn takes
  ~100 ms, so 200 clients connecting at once were accepted over 7–20 s and their first
  requests waited that long (200 clients posting and listing: p99 5 s; the bare app
  2 s). asyncio accepts every pending connection in one turn: p99 0.2 s, the same
  req/s (benchmarks/PROFILE.md, "The soak's long tail"). ``--workers`` keeps uvicorn's
  default loop: each worker listens on a socket of its own (``SO_REUSEPORT``,
  :func:`run_workers`) and the kernel spreads new connections over them.

Once the app has started (modules imported, migrations run, pools open) the process
moves every object it holds to the garbage collector's permanent generation
(:func:`_freeze_after_startup`): a full collection then walks only what was made since
(sockets, requests), not the ~130k objects of the code itself. A full collection
stops the event loop; with a thousand realtime sockets it took 110–270 ms on a small
machine before this, about a third of it for those startup objects.

With ``workers > 1`` this process becomes the supervisor: it prepares the data dir and
runs the migrations **once**, starts the local realtime broker when the workers need
one (SQLite without Redis), then lets uvicorn start the workers, each listening on a
``SO_REUSEPORT`` socket of its own. uvicorn restarts a worker that dies. Each worker
builds its app from the settings this process hands down (:func:`worker_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from pydantic import SecretStr

from boxtui.server.app import create_app
from boxtui.server.settings import ServerSettings
from boxtui.server.timeouts import TimedHttpToolsProtocol, timed_protocol

#: Largest websocket frame a client may send.
WS_MAX_FRAME_BYTES = 64 * 1024
#: Where a worker finds what its supervisor hands down (settings, bus socket, log level).
WORKER_SPEC_ENV = "BOXTUI_INTERNAL_WORKER_SPEC"

log = logging.getLogger("boxtui.server")


def _configure_logging(log_level: str) -> None:
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _uvicorn_options(settings: ServerSettings, log_level: str) -> dict[str, Any]:
    return dict(
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws_ping_interval=settings.ws_ping_seconds,
        ws_max_size=WS_MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )


def _freeze_after_startup(app: FastAPI) -> FastAPI:
    """Run ``gc.collect(); gc.freeze()`` once the app's startup is done (see above).

    Only for a real server process: tests build many apps in one process, and frozen
    objects are never collected."""
    startup = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with startup(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan
    return app


def serve(settings: ServerSettings, log_level: str = "info") -> None:
    os.umask(0o077)  # whatever else the process creates is its user's alone
    _configure_logging(log_level)
    if settings.workers > 1:
        _supervise(settings, log_level)
        return
    uvicorn.run(
        _freeze_after_startup(create_app(settings)),
        http=timed_protocol(settings.header_timeout_seconds, settings.body_idle_timeout_seconds),
        loop="asyncio",  # accepts every pending connection at once (see the module doc)
        **_uvicorn_options(settings, log_level),
    )


def needs_local_bus(settings: ServerSettings) -> bool:
    """Workers on SQLite without Redis share realtime through the supervisor's socket
    (on PostgreSQL they use LISTEN/NOTIFY, with Redis Redis)."""
    return not settings.redis_url and not settings.resolved_database_url.startswith("postgresql")


def _supervise(settings: ServerSettings, log_level: str) -> None:
    from boxtui.server.datadir import prepare_data_dir
    from boxtui.server.realtime.bus import LocalBroker

    prepare_data_dir(settings)
    asyncio.run(_migrate(settings.resolved_database_url))
    bus_dir = broker = None
    if needs_local_bus(settings):
        # A private folder with a short path (a Unix socket path has at most 107 bytes).
        bus_dir = Path(tempfile.mkdtemp(prefix="boxtui-bus-"))
        broker = LocalBroker(bus_dir / "bus.sock")
        broker.start()
    os.environ[WORKER_SPEC_ENV] = json.dumps(
        {"settings": settings_for_workers(settings), "bus_socket": str(broker.path) if broker else None, "log_level": log_level}
    )
    log.info("starting %d workers (realtime across them: %s)", settings.workers,
             "Redis" if settings.redis_url else "the local bus" if broker else "PostgreSQL LISTEN/NOTIFY")  # fmt: skip
    try:
        config = uvicorn.Config(
            "boxtui.server.serve:worker_app",
            factory=True,
            workers=settings.workers,
            http=TimedHttpToolsProtocol,  # its timeouts are set in each worker (worker_app)
            **_uvicorn_options(settings, log_level),
        )
        run_workers(config)
    finally:
        os.environ.pop(WORKER_SPEC_ENV, None)
        if broker is not None:
            broker.stop()
        if bus_dir is not None:
            shutil.rmtree(bus_dir, ignore_errors=True)


def run_workers(config: uvicorn.Config) -> None:
    """uvicorn's supervisor (it restarts a worker that dies) over ``config.workers``
    processes, each listening on its own socket (:func:`_port_for_workers`)."""
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[_port_for_workers(config)]).run()


class _PortReservation(socket.socket):
    """The supervisor's hold on the port of ``--workers`` (bound with ``SO_REUSEPORT``,
    never listening). Handed to a worker, it arrives as that worker's own listening
    socket on the same address (:func:`_worker_listener`), not a copy of this one."""

    def __reduce__(self):
        return (_worker_listener, (self.family, self.getsockname()))


def _bound(family: int, address: tuple, *, reuse_port: bool, kind: type[socket.socket] = socket.socket) -> socket.socket:
    sock = kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _worker_listener(family: int, address: tuple) -> socket.socket:
    """A worker's own socket on the supervisor's address (it listens once the app has
    started): the kernel spreads new connections over the workers' sockets evenly."""
    return _bound(family, address, reuse_port=True)


def _port_for_workers(config: uvicorn.Config) -> socket.socket:
    """The socket the supervisor hands its workers: with ``SO_REUSEPORT`` each worker
    listens on its own socket and the kernel spreads new connections over them by a hash
    of their addresses. A single shared socket (uvicorn's way) lets whichever worker
    wakes first take every waiting connection: 16 clients connecting at once were
    split 16/0, 13/3 or 12/4 as often as evenly, and the busier worker set the pace
    (benchmarks/PROFILE.md, "connections over the workers").

    The port is first bound without ``SO_REUSEPORT``, so one already in use (by
    anything, another ``boxtui serve`` included) is refused rather than shared."""
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux and the BSDs have it
        return config.bind_socket()
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        probe = _bound(family, (config.host, config.port), reuse_port=False)
        address = probe.getsockname()
        probe.close()
        reservation = _bound(family, address, reuse_port=True, kind=_PortReservation)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    scheme, host = "https" if config.is_ssl else "http", f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
    log.info("listening on %s://%s:%d: %d workers, each on its own socket (SO_REUSEPORT)", scheme, host, address[1], config.workers)
    return reservation


async def _migrate(database_url: str) -> None:
    from boxtui.server.db import make_engine
    from boxtui.server.migrate import upgrade_to_head

    engine = make_engine(database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def settings_for_workers(settings: ServerSettings) -> dict[str, Any]:
    """Every setting as JSON, secrets included (the environment of one's own child)."""
    data = settings.model_dump(mode="json", exclude={"config_file"})
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    return data


def worker_app() -> FastAPI:
    """The app of one ``--workers`` process (a uvicorn factory), built from the spec the
    supervisor put in the environment; the migrations already ran."""
    spec = json.loads(os.environ[WORKER_SPEC_ENV])
    os.umask(0o077)
    _configure_logging(spec["log_level"])
    settings = ServerSettings(**spec["settings"])
    TimedHttpToolsProtocol.header_timeout = settings.header_timeout_seconds
    TimedHttpToolsProtocol.body_idle_timeout = settings.body_idle_timeout_seconds
    bus_socket = Path(spec["bus_socket"]) if spec.get("bus_socket") else None
    return _freeze_after_startup(create_app(settings, migrate=False, bus_socket=bus_socket))
