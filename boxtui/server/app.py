"""``create_app(settings)``: the whole server as one ASGI app."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from boxtui import __version__
from boxtui.server.db import make_engine, make_sessionmaker
from boxtui.server.errors import install_error_handlers
from boxtui.server.files.blobs import BlobStore
from boxtui.server.migrate import upgrade_to_head
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

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    """Each domain contributes one router; added here as the domains land."""
    import importlib

    for domain in ("auth", "identities", "boxes", "events", "files", "saved_files", "keys", "realtime"):
        try:
            module = importlib.import_module(f"boxtui.server.{domain}.router")
        except ModuleNotFoundError as exc:
            if exc.name == f"boxtui.server.{domain}.router" or exc.name == f"boxtui.server.{domain}":
                continue
            raise
        app.include_router(module.router)


async def _start_services(app: FastAPI, settings: ServerSettings) -> None:
    """Realtime hub, blob store, mailer: wired by their domains (see realtime/)."""
    try:
        from boxtui.server.realtime.hub import start_hub
    except ModuleNotFoundError:
        return
    app.state.hub = await start_hub(settings)


async def _stop_services(app: FastAPI) -> None:
    hub = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.close()
