"""Run the server with uvicorn (``boxtui serve``).

What uvicorn is told, and why:

* ``proxy_headers=False``: uvicorn would otherwise trust ``X-Forwarded-For`` /
  ``X-Forwarded-Proto`` from loopback by default. The app trusts them itself, and only
  from ``settings.forwarded_allow_ips`` (none by default; see ``create_app``).
* ``http=``: uvicorn's httptools protocol with a request-head deadline and a body idle
  timeout (:mod:`boxtui.server.timeouts`).
* ``ws_max_size``: a client only ever sends small acks; a bigger frame closes the
  socket with 1009.
* ``ssl_certfile``/``ssl_keyfile`` when given: HTTPS directly (cookies are then Secure).
"""

from __future__ import annotations

import logging
import os

import uvicorn

from boxtui.server.app import create_app
from boxtui.server.settings import ServerSettings
from boxtui.server.timeouts import timed_protocol

#: Largest websocket frame a client may send.
WS_MAX_FRAME_BYTES = 64 * 1024


def serve(settings: ServerSettings, log_level: str = "info") -> None:
    os.umask(0o077)  # whatever else the process creates is its user's alone
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws_ping_interval=settings.ws_ping_seconds,
        ws_max_size=WS_MAX_FRAME_BYTES,
        proxy_headers=False,
        http=timed_protocol(settings.header_timeout_seconds, settings.body_idle_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )
