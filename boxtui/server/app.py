"""``create_app(settings)``: the whole server as one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from boxtui import __version__
from boxtui.core.wire import ServerInfo
from boxtui.server.auth.router import router as auth
from boxtui.server.boxes.router import router as boxes
from boxtui.server.db import connection_tag, open_database
from boxtui.server.errors import install_error_handlers
from boxtui.server.datadir import prepare_data_dir
from boxtui.server.fastpath import FastPathMiddleware, hook_into, open_fast_path
from boxtui.server.headers import SecurityHeadersMiddleware
from boxtui.server.realtime.wire import RawSendMiddleware
from boxtui.server.openapi import doc, install_openapi
from boxtui.server.events.router import router as events
from boxtui.server.files.blobs import BlobStoreUnavailable
from boxtui.server.files.service import blob_store, close_blob_store, sweep_orphan_blobs
from boxtui.server.files.router import router as files
from boxtui.server.identities.router import router as identities
from boxtui.server.idempotency.service import BodyDigestMiddleware, Replay, purge_expired
from boxtui.server.keys.router import router as keys
from boxtui.server.migrate import upgrade_to_head
from boxtui.server.realtime.hub import start_hub
from boxtui.server.realtime.router import router as realtime
from boxtui.server.realtime.router import watch_sessions
from boxtui.server.saved_files.router import router as saved_files
from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server")


def create_app(settings: ServerSettings, *, migrate: bool = True, bus_socket: Path | None = None) -> FastAPI:
    """Build the app. Nothing touches the disk or the database until startup.

    ``boxtui serve --workers N`` builds one per worker with ``migrate=False`` (its
    supervisor ran the migrations once, before starting them) and, on SQLite without
    Redis, the supervisor's realtime socket as ``bus_socket``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        prepare_data_dir(settings)
        database = open_database(settings.resolved_database_url, connection_tag())
        if migrate:
            await upgrade_to_head(database.engine)
        app.state.database = database
        app.state.engine = database.engine
        app.state.sessionmaker = database.sessionmaker
        app.state.read_sessionmaker = database.read_sessionmaker
        try:
            await _start_services(app, settings, bus_socket)
            app.state.fast_path = await open_fast_path(app.state, settings, database)
            if app.state.fast_path is not None:
                hook_into(app.state.hub, app.state.fast_path)
            yield
        finally:
            fast, app.state.fast_path = getattr(app.state, "fast_path", None), None
            if fast is not None:
                await fast.close()
            await _stop_services(app)
            await close_blob_store(settings)
            await database.dispose()

    app = FastAPI(title="boxtui", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    _install_idempotency(app)

    @app.get("/healthz", tags=["health"], **doc(auth=None))
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/server-info", tags=["health"], **doc(auth=None, ok=ServerInfo))
    async def server_info() -> dict[str, object]:
        """Says this is a boxtui server, and what sign-up and login codes need (PROTOCOL §10.15)."""
        return {
            "service": "boxtui",
            "version": __version__,
            "signup_requires_code": settings.signup_requires_code,
            "login_codes": "email" if settings.smtp_host else "outbox",
        }

    _include_routers(app)
    install_openapi(app)
    # Inside the security headers (they are added to its answers too), outside the rest.
    app.add_middleware(FastPathMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.forwarded_allow_ips.strip():
        # Outermost, so every layer sees the client and scheme the trusted proxy names.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.add_middleware(RawSendMiddleware)  # outermost: the server's own send, unwrapped
    return app


def _include_routers(app: FastAPI) -> None:
    for router in (auth, identities, boxes, events, files, saved_files, keys, realtime):
        app.include_router(router)


def _install_idempotency(app: FastAPI) -> None:
    """``Idempotency-Key`` (PROTOCOL §10.12): raw bodies hashed as they stream, replays answered."""
    app.add_middleware(BodyDigestMiddleware)

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay) -> Response:
        return exc.response


#: How often expired ``Idempotency-Key`` records are deleted (also once at start).
IDEMPOTENCY_PURGE_SECONDS = 3600.0


async def _purge_idempotency_keys(app: FastAPI) -> None:
    while True:
        try:
            if removed := await purge_expired(app.state.sessionmaker):
                log.info("purged %d expired idempotency key(s)", removed)
        except Exception:  # noqa: BLE001 - a failed purge is retried at the next tick
            log.exception("purging expired idempotency keys failed")
        await asyncio.sleep(IDEMPOTENCY_PURGE_SECONDS)


async def _sweep_blobs(app: FastAPI, settings: ServerSettings) -> None:
    """The orphan-blob sweep, at start and every ``blob_sweep_interval_seconds``
    (``app.state.first_blob_sweep`` is set once the first pass has ended)."""
    while True:
        try:
            if removed := await sweep_orphan_blobs(app.state.sessionmaker, settings):
                log.info("removed %d orphaned blob file(s) (older than %s s, no row)", removed, settings.blob_sweep_grace_seconds)
        except Exception:  # noqa: BLE001 - retried at the next tick
            log.exception("the orphan-blob sweep failed")
        app.state.first_blob_sweep.set()
        await asyncio.sleep(settings.blob_sweep_interval_seconds)


async def _check_blob_store(settings: ServerSettings) -> None:
    """Say at start whether an S3 blob store answers. One that does not is no startup
    error: file requests answer ``503`` until it does, everything else works."""
    store = blob_store(settings)
    check = getattr(store, "check", None)
    if check is None:
        return
    try:
        await check()
    except BlobStoreUnavailable as exc:
        log.error("the S3 blob store does not answer (%s); file uploads and downloads answer 503 until it does", exc.reason)
    else:
        log.info("blobs in %s", settings.blob_store)


async def _start_services(app: FastAPI, settings: ServerSettings, bus_socket: Path | None) -> None:
    await _check_blob_store(settings)
    app.state.first_blob_sweep = asyncio.Event()
    app.state.hub = await start_hub(settings, bus_socket, app.state.database.tag)
    app.state.background = [
        asyncio.create_task(watch_sessions(app.state.hub, app.state.read_sessionmaker, settings.ws_session_check_seconds), name="boxtui-session-watch"),
        asyncio.create_task(_purge_idempotency_keys(app), name="boxtui-idempotency-purge"),
        asyncio.create_task(_sweep_blobs(app, settings), name="boxtui-blob-sweep"),
    ]


async def _stop_services(app: FastAPI) -> None:
    for task in getattr(app.state, "background", ()):
        task.cancel()
    for task in getattr(app.state, "background", ()):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.close()
