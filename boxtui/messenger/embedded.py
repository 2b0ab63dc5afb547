"""The embedded local server: ``boxtui serve`` in the background when none is configured.

:func:`ensure_local_server` starts ``python -m boxtui serve`` on a free loopback port
with its data under the profile (``<data dir>/server``), detached from the terminal,
its log in ``local-server.log``, and records url and pid in ``local-server.json``.
The next run reuses it while it still answers ``/healthz``. A lock file keeps two
clients started at once from spawning two servers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from .errors import LocalServerError
from .profile import Profile, write_private_file

__all__ = [
    "LocalServerURL",
    "choose_server",
    "ensure_local_server",
    "local_server_running",
    "stop_local_server",
]

START_TIMEOUT_SECONDS = 20.0
_SECRET_ENV = ("BOXTUI_PASSWORD",)


class LocalServerURL(str):
    """The local server's base URL; ``started`` says whether this call started it."""

    started: bool
    pid: int

    def __new__(cls, url: str, *, pid: int, started: bool) -> LocalServerURL:
        value = super().__new__(cls, url)
        value.started = started
        value.pid = pid
        return value


def ensure_local_server(profile: Profile, *, timeout: float = START_TIMEOUT_SECONDS) -> LocalServerURL:
    """The URL of this profile's local server, starting one if none answers.

    Raises :class:`LocalServerError` (with the end of the server log) when it does
    not come up within ``timeout`` seconds.
    """
    with _lock(profile):
        running = _running_state(profile)
        if running is not None:
            return LocalServerURL(running["url"], pid=running["pid"], started=False)
        # A port picked here can be taken before the server binds it: try twice.
        last_url = _last_local_url(profile)
        port = int(last_url.rsplit(":", 1)[1]) if last_url else None
        for attempt in range(2):
            try:
                return _start(profile, timeout, port)
            except _PortTaken:
                port = None
                if attempt:
                    raise LocalServerError("the local server could not get a free port") from None
        raise AssertionError("unreachable")  # pragma: no cover


def choose_server(profile: Profile, override: str | None = None, *, start: bool = True) -> str | None:
    """The server to talk to: ``override`` (``--server``), else the configured one,
    else the server of the saved session, else this profile's local server (started
    when ``start``; a :class:`LocalServerURL` then says whether it was just started).
    """
    for url in (override, profile.server_url):
        if url:
            return url.rstrip("/")
    session = profile.session
    if session is not None and session.server_url != _last_local_url(profile):
        return session.server_url
    return ensure_local_server(profile) if start else local_server_running(profile)


def local_server_running(profile: Profile) -> str | None:
    """The URL of this profile's local server when it answers, else None."""
    state = _running_state(profile)
    return state["url"] if state else None


def stop_local_server(profile: Profile, *, timeout: float = 10.0) -> bool:
    """Stop this profile's local server; True if one was running."""
    with _lock(profile):
        state = _read_state(profile)
        if state is None:
            return False
        # Keep the url: the next start reuses its port, so links and sessions stay valid.
        _write_state(profile, state["url"], 0)
        if not _pid_alive(state["pid"]):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(state["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(state["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(state["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["pid"], signal.SIGKILL)
        return True


class _PortTaken(Exception):
    pass


def _start(profile: Profile, timeout: float, port: int | None) -> LocalServerURL:
    if port is None or not _port_free(port):
        port = _free_port()
    url = f"http://127.0.0.1:{port}"
    profile.server_data_dir.mkdir(parents=True, exist_ok=True)
    log_path = profile.local_server_log_path
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
    command = [
        sys.executable, "-m", "boxtui", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(profile.server_data_dir),
        "--log-level", "warning",
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        log_start = log.tell()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # survives the terminal and this process
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _log_tail(log_path, log_start)
            if "address already in use" in tail.lower():
                raise _PortTaken
            raise LocalServerError(f"the local server stopped at start (log {log_path}): {tail}")
        if _healthy(url):
            _write_state(profile, url, process.pid)
            return LocalServerURL(url, pid=process.pid, started=True)
        time.sleep(0.1)
    process.terminate()
    raise LocalServerError(f"the local server did not answer within {timeout:.0f} s (log {log_path})")


def _running_state(profile: Profile) -> dict | None:
    state = _read_state(profile)
    if state is None or not _pid_alive(state["pid"]) or not _healthy(state["url"]):
        return None
    return state


def _write_state(profile: Profile, url: str, pid: int) -> None:
    write_private_file(profile.local_server_state_path, json.dumps({"url": url, "pid": pid}))


def _last_local_url(profile: Profile) -> str | None:
    state = _read_state(profile)
    return state["url"] if state else None


def _read_state(profile: Profile) -> dict | None:
    try:
        state = json.loads(profile.local_server_state_path.read_text(encoding="utf-8"))
        if isinstance(state, dict) and isinstance(state.get("url"), str) and isinstance(state.get("pid"), int):
            return state
    except (OSError, ValueError):
        pass
    return None


def _healthy(url: str) -> bool:
    try:
        response = httpx.get(f"{url}/healthz", timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _log_tail(path: Path, start: int, limit: int = 400) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(start)
            text = file.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return text[-limit:].replace("\n", " | ")


@contextlib.contextmanager
def _lock(profile: Profile) -> Iterator[None]:
    profile.data_dir.mkdir(parents=True, exist_ok=True)
    with open(profile.data_dir / "local-server.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
