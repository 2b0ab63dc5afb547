"""Login codes over SMTP, and a clear error when the SMTP server is down (PROTOCOL §2)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes

import pytest

from boxtui.server.app import create_app
from boxtui.server.mailer import CODE_HEADER
from tests.conftest import asgi_client, make_settings
from tests.server.helpers import assert_error, free_port


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message per transaction."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.strip().upper()
            if verb.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 test\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.messages.append(data)  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_code_goes_out_over_smtp(tmp_path, smtp_server):
    settings = make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.server_address[1], smtp_from="box@example.org")
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        assert (await http.post("/auth/code", json={"email": "gina@example.com"})).status_code == 204
        (raw,) = smtp_server.messages
        message = message_from_bytes(raw)
        assert message["To"] == "gina@example.com" and message["From"] == "box@example.org"
        code = message[CODE_HEADER]
        assert code in message.get_payload(decode=True).decode()
        assert not settings.outbox_dir.exists() or not any(settings.outbox_dir.iterdir())
        assert (await http.post("/auth/login", json={"email": "gina@example.com", "code": code})).status_code == 200


async def test_smtp_down_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=free_port())
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        response = await http.post("/auth/code", json={"email": "gina@example.com"})
        body = assert_error(response, 503, "service_unavailable")
        assert "could not be sent" in body["desc"] and "Traceback" not in body["desc"]
        assert response.headers["retry-after"].isdigit()
