"""Slow or stalled clients are cut off (PROTOCOL §10.14): a real ``boxtui serve``, raw sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.server.helpers import serve_process

pytestmark = pytest.mark.e2e

HEAD_TIMEOUT = 2.0
BODY_IDLE = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("server") / "data"
    env = {"BOXTUI_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT), "BOXTUI_BODY_IDLE_TIMEOUT_SECONDS": str(BODY_IDLE)}
    with serve_process(data_dir, env=env) as process:
        yield process


def _connect(server) -> socket.socket:
    url = urlparse(server.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.settimeout(0.2)
    return sock


def _drip(sock: socket.socket, data: bytes, interval: float, limit: float) -> tuple[float, bytes]:
    """Send ``data`` a byte every ``interval`` s until the server closes; (seconds held, what it answered)."""
    started = time.monotonic()
    answer = b""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        deadline = time.monotonic() + interval
        closed = False
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            answer += chunk
        if closed or time.monotonic() - started > limit:
            break
    return time.monotonic() - started, answer


def test_a_slow_request_head_is_answered_408_and_closed(server):
    with _connect(server) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
        held, answer = _drip(sock, head, interval=0.25, limit=30)
    assert held < HEAD_TIMEOUT + 5, f"held {held:.1f} s"
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code": "request_timeout"' in answer or b'"code":"request_timeout"' in answer


@pytest.mark.parametrize("first", [b"", b"G"])
def test_a_silent_connection_is_closed_after_the_head_timeout(server, first):
    with _connect(server) as sock:
        sock.sendall(first)
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < 30:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
        held = time.monotonic() - started
    assert held < HEAD_TIMEOUT + 5 and answer.startswith(b"HTTP/1.1 408")


def test_a_stalled_body_is_cut_off_but_a_steady_one_is_not(server):
    body = b'{"email": "slow@example.com"}'
    head = b"POST /auth/code HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    # Stalled: half the body, then nothing.
    with _connect(server) as sock:
        sock.sendall(head + body[:10])
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 30:
            try:
                if not sock.recv(4096):
                    closed = True
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
                break
        held = time.monotonic() - started
    assert closed and held < BODY_IDLE + 5, f"held {held:.1f} s"
    # Steady: a byte every half second, 6 s in all (longer than the idle timeout, never idle that long).
    with _connect(server) as sock:
        sock.sendall(head)
        held, answer = _drip(sock, body[:12], interval=0.5, limit=30)
        sock.sendall(body[12:])
        sock.settimeout(10)
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 204"), answer[:200]
    assert "Traceback" not in Path(server.log).read_text()


def test_a_kept_alive_connection_gets_the_head_timeout_again(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while b'{"status":"ok"}' not in first:
            first += sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        sock.settimeout(0.2)
        held, answer = _drip(sock, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X: " + b"b" * 100, interval=0.25, limit=30)
    assert held < HEAD_TIMEOUT + 5 and answer.startswith(b"HTTP/1.1 408")
