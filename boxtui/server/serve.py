"""Run the server with uvicorn (``boxtui serve``)."""

from __future__ import annotations

import logging

import uvicorn

from boxtui.server.app import create_app
from boxtui.server.settings import ServerSettings


def serve(settings: ServerSettings, log_level: str = "info") -> None:
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, ws_ping_interval=settings.ws_ping_seconds)
