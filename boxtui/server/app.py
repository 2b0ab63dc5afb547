"""``create_app(settings)``: the whole server as one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from boxtui import __version__
from boxtui.server.auth.router import router as auth
from boxtui.server.boxes.router import router as boxes
from boxtui.server.db import make_engine, make_sessionmaker
from boxtui.server.errors import install_error_handlers
from boxtui.server.events.router import router as events
from boxtui.server.files.blobs import BlobStore
from boxtui.server.files.router import router as files
from boxtui.server.identities.router import router as identities
from boxtui.server.idempotency.service import BodyDigestMiddleware, Replay, purge_expired
from boxtui.server.keys.router import router as keys
from boxtui.server.migrate import upgrade_to_head
from boxtui.server.realtime.hub import start_hub
from boxtui.server.realtime.router import router as realtime
from boxtui.server.saved_files.router import router as saved_files
from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server")


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the app. Nothing touches the disk or the database until startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.blob_dir.mkdir(parents=True, exist_ok=True)
        if removed := BlobStore(settings.blob_dir).clear_staging():
            log.info("removed %d half-written upload(s) left by an earlier stop", removed)
        engine = make_engine(settings.resolved_database_url)
        await upgrade_to_head(engine)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        await _start_services(app, settings)
        try:
            yield
        finally:
            await _stop_services(app)
            await engine.dispose()

    app = FastAPI(title="boxtui", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    _install_idempotency(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/server-info", tags=["health"])
    async def server_info() -> dict[str, object]:
        """Says this is a boxtui server, and what sign-up and login codes need (PROTOCOL §10.15)."""
        return {
            "service": "boxtui",
            "version": __version__,
            "signup_requires_code": settings.signup_requires_code,
            "login_codes": "email" if settings.smtp_host else "outbox",
        }

    _include_routers(app)
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


async def _start_services(app: FastAPI, settings: ServerSettings) -> None:
    app.state.hub = await start_hub(settings)
    app.state.idempotency_purge = asyncio.create_task(_purge_idempotency_keys(app))


async def _stop_services(app: FastAPI) -> None:
    purge = getattr(app.state, "idempotency_purge", None)
    if purge is not None:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.close()
