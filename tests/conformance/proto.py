"""Black-box helpers for the conformance suite: a real ``boxtui serve`` process, plain HTTP.

Nothing here imports the server or the client: requests are built from PROTOCOL.md
alone, so a disagreement between the two shows up as a failing assertion.
"""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
from nacl.public import PrivateKey
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "conformance-password-1"
RFC822 = {"Content-Type": "message/rfc822"}
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal",
}
ORIGINS = {"body", "query", "path", "headers", "cookies", "acr", "not_defined"}
REASONS = {
    "malformed",
    "required",
    "invalid",
    "forbidden",
    "conflict",
    "not_found",
    "expired",
    "too_large",
}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
UUID4_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
B64U_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unique_email(tag: str = "u") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@conf.example"


def new_pubkey() -> str:
    return b64u(bytes(PrivateKey.generate().public_key))


def ciphertext(size: int = 48) -> str:
    return b64u(os.urandom(size))


def key_share() -> dict[str, str]:
    """A §7 key share: a random invitation share, its hash, a server share."""
    invitation_share = os.urandom(32)
    return {
        "misakey_share": b64u(os.urandom(32)),
        "other_share_hash": b64u(hashlib.sha512(invitation_share).digest()),
        "encrypted_invitation_key_share": ciphertext(),
    }


def assert_error(
    resp: httpx.Response,
    status: int,
    *,
    origin: str | None = None,
    details: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The response is the §1 error body with this status (and origin/details when given)."""
    assert resp.status_code == status, (
        f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    )
    body = resp.json()
    assert set(body) == {"code", "origin", "desc", "details"}, body
    assert body["code"] == ERROR_CODES[status], body
    assert body["origin"] in ORIGINS, body
    assert isinstance(body["desc"], str), body
    assert isinstance(body["details"], dict), body
    assert all(isinstance(v, str) for v in body["details"].values()), body
    if origin is not None:
        assert body["origin"] == origin, body
    if details is not None:
        for key, value in details.items():
            assert body["details"].get(key) == value, body
    return body


def assert_identity_view(
    view: dict[str, Any],
    *,
    identity_id: str | None = None,
    email_shown: str | None = None,
) -> None:
    assert set(view) == {
        "id",
        "display_name",
        "avatar_url",
        "identifier_value",
        "identifier_kind",
    }, view
    if identity_id:
        assert view["id"] == identity_id
    if email_shown is None:
        return
    if email_shown == "":
        assert view["identifier_value"] == "" and view["identifier_kind"] == "", view
    else:
        assert (
            view["identifier_value"] == email_shown
            and view["identifier_kind"] == "email"
        ), view


def mime_with_attachments(
    count: int = 1, *, subject: str = "Hello", text: str = "plain body"
) -> bytes:
    """An RFC 822 message with a text body and ``count`` small attachments."""
    message = EmailMessage()
    message["From"] = "Sender <sender@mail.example>"
    message["To"] = "box@conf.example"
    message["Subject"] = subject
    message.set_content(text)
    for i in range(count):
        message.add_attachment(
            f"attachment {i}".encode(),
            maintype="application",
            subtype="octet-stream",
            filename=f"a{i}.bin",
        )
    return message.as_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    base_url: str
    ws_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=15, **kwargs)

    def latest_code(self, address: str) -> str:
        """The 6-digit code of the newest outbox message addressed to ``address``."""
        outbox = self.data_dir / "outbox"
        found: list[tuple[int, str, str]] = []
        for path in outbox.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if str(message["To"]).strip().lower() != address.lower():
                continue
            body = message.get_body(preferencelist=("plain",))
            text = (
                str(message["Subject"] or "")
                + "\n"
                + (body.get_content() if body else "")
            )
            match = re.search(r"\b(\d{6})\b", text)
            assert match, f"no 6-digit code in {path}"
            found.append((path.stat().st_mtime_ns, path.name, match.group(1)))
        assert found, f"no outbox message for {address} in {outbox}"
        return max(found)[2]


def launch_server(data_dir: Path, *extra: str) -> Server:
    """Starts ``boxtui serve`` without waiting for it (see :func:`wait_ready`)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "BOXTUI_ARGON2_TIME_COST": "1",
        "BOXTUI_ARGON2_MEMORY_KIB": "8192",
        # The whole suite logs in from 127.0.0.1, wrong passwords included: the limit
        # per address across e-mails (PROTOCOL §10.14) would lock every later test out.
        "BOXTUI_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
    }
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "boxtui",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return Server(
        f"http://127.0.0.1:{port}",
        f"ws://127.0.0.1:{port}",
        data_dir,
        process,
        log_path,
    )


def wait_ready(server: Server, timeout: float = 60) -> Server:
    """Waits until the server answers ``/healthz``; raises with its log if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{server.log.read_text()}"
            )
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.process.kill()
            raise RuntimeError(
                f"server did not answer /healthz:\n{server.log.read_text()}"
            )
        time.sleep(0.05)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@dataclass
class User:
    """A signed-up, logged-in identity talking bearer-authenticated HTTP."""

    server: Server
    email: str
    id: str
    token: str
    acr: int
    login: dict[str, Any]
    http: httpx.Client = field(repr=False)
    password: str = PASSWORD

    def box(self, title: str = "conformance box", **extra: Any) -> dict[str, Any]:
        resp = self.http.post(
            "/boxes", json={"title": title, "public_key": new_pubkey(), **extra}
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    def post(
        self,
        box_id: str,
        type_: str,
        content: dict[str, Any] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {"type": type_, **extra}
        if content is not None:
            body["content"] = content
        return self.http.post(f"/boxes/{box_id}/events", json=body)

    def text(self, box_id: str, **extra: Any) -> dict[str, Any]:
        resp = self.post(
            box_id,
            "msg.text",
            {"encrypted": ciphertext(), "public_key": new_pubkey()},
            **extra,
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    def batch(self, box_id: str, events: list[dict[str, Any]]) -> httpx.Response:
        return self.http.post(
            f"/boxes/{box_id}/batch-events",
            json={"batch_type": "accesses", "events": events},
        )

    def allow(self, box_id: str, address: str) -> dict[str, Any]:
        resp = self.batch(box_id, [access_add(address)])
        assert resp.status_code == 201, resp.text
        return resp.json()[0]

    def save(self, file_id: str, **over: Any) -> httpx.Response:
        """``POST /saved-files`` of ``file_id`` for this identity (fields in ``over`` replace the defaults)."""
        return self.http.post(
            "/saved-files",
            json={
                "encrypted_file_id": file_id,
                "identity_id": self.id,
                **saved_form(),
                **over,
            },
        )

    def save_upload(self, blob: bytes, owner_id: str | None = None) -> httpx.Response:
        """``POST /box-users/{id}/saved-files``: a direct upload to saved files."""
        return self.http.post(
            f"/box-users/{owner_id or self.id}/saved-files",
            data=saved_form(),
            files={"encrypted_file": ("blob", blob)},
        )

    def upload(
        self, box_id: str, blob: bytes = b"ciphertext-blob", **form: str
    ) -> httpx.Response:
        data = {
            "msg_encrypted_content": ciphertext(),
            "msg_public_key": new_pubkey(),
            **form,
        }
        return self.http.post(
            f"/boxes/{box_id}/encrypted-files",
            data=data,
            files={"encrypted_file": ("blob", blob, "application/octet-stream")},
        )


def access_add(value: str, kind: str = "identifier", **content: Any) -> dict[str, Any]:
    """An ``access.add`` batch item (§4.1)."""
    return {
        "type": "access.add",
        "content": {"restriction_type": kind, "value": value, **content},
    }


def auto_invite(
    address: str, invitee_key: str, encrypted: str | None = None
) -> dict[str, Any]:
    """An auto-invite ``access.add``: ``extra`` maps the invitee's identity key to the sealed invitation."""
    return {
        **access_add(address, auto_invite=True),
        "extra": {invitee_key: encrypted or ciphertext()},
    }


def signup(
    server: Server, address: str | None = None, *, name: str = "Conformance"
) -> tuple[str, httpx.Response]:
    address = address or unique_email()
    with server.client() as http:
        resp = http.post(
            "/auth/signup",
            json={"email": address, "password": PASSWORD, "display_name": name},
        )
    return address, resp


def make_user(server: Server, *, acr: int = 2, name: str = "Conformance") -> User:
    """Signs up (ACR 2, password) or logs in with a mailed code (ACR 1)."""
    address = unique_email()
    if acr == 2:
        _, resp = signup(server, address, name=name)
        assert resp.status_code == 201, resp.text
        with server.client() as http:
            login = http.post(
                "/auth/login", json={"email": address, "password": PASSWORD}
            )
    else:
        with server.client() as http:
            assert http.post("/auth/code", json={"email": address}).status_code == 204
            login = http.post(
                "/auth/login",
                json={"email": address, "code": server.latest_code(address)},
            )
    assert login.status_code == 200, login.text
    body = login.json()
    client = server.client(headers={"Authorization": f"Bearer {body['access_token']}"})
    return User(
        server,
        address,
        body["identity"]["id"],
        body["access_token"],
        body["acr"],
        body,
        client,
    )


def saved_form() -> dict[str, str]:
    """The §6 saved-file fields besides the file: sealed metadata and a vault key fingerprint."""
    return {"encrypted_metadata": ciphertext(), "key_fingerprint": b64u(os.urandom(64))}


def cookie_client(server: Server, user: User) -> httpx.Client:
    """A client authenticated by the two cookies (no bearer header, no CSRF header)."""
    http = server.client()
    http.cookies.set("accesstoken", user.token)
    http.cookies.set("tokentype", "bearer")
    return http


def open_socket(
    server: Server, user: User, headers: dict[str, str] | None = None
) -> Any:
    """``connect(...)`` to ``user``'s realtime socket, bearer-authenticated unless ``headers`` say otherwise."""
    return connect(
        f"{server.ws_url}/box-users/{user.id}/ws",
        additional_headers={"Authorization": f"Bearer {user.token}"}
        if headers is None
        else headers,
        open_timeout=5,
    )


async def next_message(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """The next §9 envelope satisfying ``match`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            assert set(message) == {"type", "object"}, message
            if match(message):
                return message


async def collect(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every envelope that arrives within ``seconds``."""
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                got.append(json.loads(await ws.recv()))
    except TimeoutError:
        return got


#: The seven keys of an event view (PROTOCOL §4).
EVENT_VIEW_KEYS = frozenset({"id", "type", "box_id", "server_event_created_at", "referrer_id", "sender", "content"})
