"""Shared helpers for server tests: accounts, boxes, events, against the real app.

Every helper talks HTTP to the app (in-process ``http`` fixture or a real process)
and asserts the status it expects, so a test reads as the protocol story it tells.
``serve_process`` runs ``boxtui serve`` as a real process for end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from boxtui.core.encoding import b64u_encode
from boxtui.server.mailer import latest_code
from tests.conftest import PASSWORD


def random_key() -> str:
    """A fresh b64u 32-byte value, shaped like an X25519 public key."""
    return b64u_encode(os.urandom(32))


def ciphertext(size: int = 48) -> str:
    """An opaque b64u payload standing in for a client-side cryptogram."""
    return b64u_encode(os.urandom(size))


@dataclass
class User:
    """A logged-in test user. Fields read as attributes or keys (``user.headers``, ``user["id"]``)."""

    headers: dict[str, str]
    identity: dict[str, Any]
    session: dict[str, Any]
    email: str

    @property
    def id(self) -> str:
        return self.identity["id"]

    @property
    def token(self) -> str:
        return self.session["access_token"]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def outbox_of(http: httpx.AsyncClient) -> Path:
    """The outbox of the in-process app behind ``http``."""
    return http._transport.app.state.settings.outbox_dir  # type: ignore[attr-defined]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login_with_code(http: httpx.AsyncClient, email: str, outbox: Path | None = None) -> dict[str, Any]:
    response = await http.post("/auth/code", json={"email": email})
    assert response.status_code == 204, response.text
    code = latest_code(outbox or outbox_of(http), email)
    assert code is not None, f"no code in the outbox for {email}"
    response = await http.post("/auth/login", json={"email": email, "code": code})
    assert response.status_code == 200, response.text
    http.cookies.clear()  # several users share one client: they authenticate by bearer
    return response.json()


async def signup_login(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, name: str | None = None, acr: int = 2, outbox: Path | None = None
) -> dict[str, Any]:
    """A logged-in user: ``{"headers", "identity", "session", "email"}``.

    ``acr=2``: signs up with ``password`` and logs in with it. ``acr=1``: no account,
    logs in with the code read from the outbox (``outbox`` for a real process).
    """
    if acr == 2:
        response = await http.post("/auth/signup", json={"email": email, "password": password, "display_name": name or email.split("@")[0]})
        assert response.status_code == 201, response.text
        response = await http.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        http.cookies.clear()  # several users share one client: they authenticate by bearer
        session = response.json()
    else:
        session = await login_with_code(http, email, outbox)
        if name:
            response = await http.patch(f"/identities/{session['identity']['id']}", json={"display_name": name}, headers=auth(session["access_token"]))
            assert response.status_code == 200, response.text
            session["identity"] = response.json()
    return User(headers=auth(session["access_token"]), identity=session["identity"], session=session, email=email)


async def create_box(http: httpx.AsyncClient, user: User, title: str = "Project", **extra: Any) -> dict[str, Any]:
    response = await http.post("/boxes", json={"title": title, "public_key": random_key(), **extra}, headers=user["headers"])
    assert response.status_code == 201, response.text
    return response.json()


async def post_event(http: httpx.AsyncClient, user: User, box_id: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await http.post(f"/boxes/{box_id}/events", json=body, headers=user["headers"])
    assert response.status_code == status, response.text
    return response.json()


async def post_text(http: httpx.AsyncClient, user: User, box_id: str, encrypted: str | None = None, **fields: Any) -> dict[str, Any]:
    return await post_event(http, user, box_id, {"type": "msg.text", "content": {"encrypted": encrypted or ciphertext()}, **fields})


async def batch(http: httpx.AsyncClient, admin: User, box_id: str, events: list[dict[str, Any]], status: int = 201) -> Any:
    response = await http.post(f"/boxes/{box_id}/batch-events", json={"batch_type": "accesses", "events": events}, headers=admin["headers"])
    assert response.status_code == status, response.text
    return response.json()


def rule(value: str, restriction_type: str = "identifier", **content: Any) -> dict[str, Any]:
    return {"type": "access.add", "content": {"restriction_type": restriction_type, "value": value, **content}}


async def invite(http: httpx.AsyncClient, admin: User, box_id: str, email: str) -> dict[str, Any]:
    """Add an identifier rule for ``email``; returns the ``access.add`` event."""
    return (await batch(http, admin, box_id, [rule(email)]))[0]


async def join(http: httpx.AsyncClient, user: User, box_id: str, status: int = 201) -> dict[str, Any]:
    return await post_event(http, user, box_id, {"type": "member.join"}, status)


def assert_error(response: httpx.Response, status: int, code: str | None = None, **details: str) -> dict[str, Any]:
    """The response is the protocol error ``status`` with at least these ``details``."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    if response.request.method == "HEAD":
        assert response.content == b""
        return {}
    body = response.json()
    assert set(body) == {"code", "origin", "desc", "details"}, body
    if code is not None:
        assert body["code"] == code, body
    for key, value in details.items():
        assert body["details"].get(key) == value, body
    return body


async def upload_file(http: httpx.AsyncClient, user: User, box_id: str, data: bytes = b"ciphertext bytes", **fields: str) -> dict[str, Any]:
    """A ``msg.file`` through the upload route (PROTOCOL §5)."""
    form = {"msg_encrypted_content": ciphertext(), "msg_public_key": random_key(), **fields}
    response = await http.post(f"/boxes/{box_id}/encrypted-files", data=form, files={"encrypted_file": ("blob", data)}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def box_with_member(http: httpx.AsyncClient) -> tuple[User, User, dict[str, Any]]:
    """Alice (admin, ACR 2), Bob (ACR 2) who joined her box, and the box."""
    alice = await signup_login(http, "alice@example.com", name="Alice")
    bob = await signup_login(http, "bob@example.com", name="Bob")
    box = await create_box(http, alice)
    await invite(http, alice, box["id"], bob.email)
    await join(http, bob, box["id"])
    return alice, bob, box


#: Cheap password hashing for a server started by tests.
FAST_SERVER_ENV = {"BOXTUI_ARGON2_TIME_COST": "1", "BOXTUI_ARGON2_MEMORY_KIB": "8192"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess(str):
    """A running server: its base URL (this string itself), its log file and websocket URL."""

    log: Path
    pid: int

    def __new__(cls, url: str, log: Path, pid: int = 0) -> ServerProcess:
        process = super().__new__(cls, url)
        process.log = log
        process.pid = pid
        return process

    @property
    def url(self) -> str:
        return str(self)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)


@contextlib.contextmanager
def serve_process(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30, port: int | None = None
) -> Iterator[ServerProcess]:
    """``python -m boxtui serve`` on a free loopback port until the block ends.

    The process gets this environment without ``BOXTUI_*`` settings, plus
    :data:`FAST_SERVER_ENV` and ``env``; its output goes to ``data_dir/../server-<port>.log``.
    """
    port = port or free_port()  # a given port brings a stopped server back at its address
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOXTUI_")}
    command = [sys.executable, "-m", "boxtui", "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning", *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**clean, **FAST_SERVER_ENV, **(env or {})})
    try:
        wait_until_answers(process, f"{url}/healthz", log_path, "boxtui serve", timeout)
        yield ServerProcess(url, log_path, process.pid)
    finally:
        stop_process(process)


def wait_until_answers(process: subprocess.Popen, url: str, log_path: Path, what: str, timeout: float) -> None:
    """Until ``GET url`` answers 200; the test fails (with the log's tail) if ``process``
    exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer {url} within {timeout} s:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def until(condition, timeout: float = 15.0, what: str = "the condition") -> None:
    """Wait, without blocking the event loop, until ``condition()`` holds; fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
