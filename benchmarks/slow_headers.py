"""How long a slow-header client holds a connection (issue 7 part 3).

A client sends a request head one byte per second, forever. Measured against
(1) the app under plain ``uvicorn`` as ``boxtui serve`` ran it before (the baseline:
no head timeout), and (2) ``boxtui serve`` today (``header_timeout_seconds``, 10 s by
default). Prints the seconds each held the connection, capped at ``--cap``.

Run: ``python benchmarks/slow_headers.py [--cap 60]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.helpers import FAST_SERVER_ENV, free_port, serve_process  # noqa: E402

_PLAIN_UVICORN = """
import sys, uvicorn
from boxtui.server.app import create_app
from boxtui.server.settings import ServerSettings
settings = ServerSettings(data_dir=sys.argv[2], port=int(sys.argv[1]))
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def held_seconds(host: str, port: int, cap: float) -> float:
    """Seconds until the server closes a connection whose head arrives a byte a second."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.settimeout(1.0)
        started = time.monotonic()
        for byte in head:
            if time.monotonic() - started > cap:
                return cap
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(4096) == b"":
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            else:
                break  # it answered (408): it will close now
    return time.monotonic() - started


def main(cap: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, **FAST_SERVER_ENV}
        plain = subprocess.Popen([sys.executable, "-c", _PLAIN_UVICORN, str(port), str(Path(tmp) / "plain")], env=env)
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            baseline = held_seconds("127.0.0.1", port, cap)
        finally:
            plain.terminate()
            plain.wait()
        with serve_process(Path(tmp) / "served") as server:
            served_port = int(server.url.rsplit(":", 1)[1])
            served = held_seconds("127.0.0.1", served_port, cap)
    print(f"plain uvicorn (before):       held {baseline:5.1f} s{' (cap reached: never cut off)' if baseline >= cap else ''}  [baseline]")
    print(f"boxtui serve (header timeout): held {served:5.1f} s  ({served / baseline:.2f} × the baseline)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=60.0)
    main(parser.parse_args().cap)
