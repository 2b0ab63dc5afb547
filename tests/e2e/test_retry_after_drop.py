"""A lost answer, for real: ``boxtui.client`` → a TCP proxy → ``boxtui serve`` (PROTOCOL §10.12).

The proxy, written here, relays bytes both ways until it is armed for one request;
then it forwards that request to the server, waits for the server's answer to start
(the server commits before it answers), and closes the client's connection without
relaying a byte of it. The client sees "server disconnected", sends the request again
with the same ``Idempotency-Key`` on a new connection, and gets the first answer. The
box ends up with exactly one message. Without a key, the same drop and resend makes
two, which shows the drop happens after the server acted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from boxtui.client import BoxClient
from tests.conftest import PASSWORD
from tests.server.helpers import ciphertext, random_key, serve_process

pytestmark = pytest.mark.e2e


class DroppingProxy:
    """A loopback TCP proxy that loses the response to requests whose request line
    starts with one of the prefixes it is armed with (one drop per arming)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.armed: list[bytes] = []
        self.dropped: list[bytes] = []
        self.seen: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> DroppingProxy:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def arm(self, request_line_prefix: str) -> None:
        self.armed.append(request_line_prefix.encode())

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        drop_next_response: list[bytes] = []

        async def to_server() -> None:
            while data := await client_reader.read(65536):
                # httpx writes a request's line and headers in one go: a chunk that starts
                # with a method is the start of the next request on this connection.
                line = data.split(b"\r\n", 1)[0]
                if line.split(b" ", 1)[0] in (b"GET", b"POST", b"PUT", b"HEAD", b"PATCH", b"DELETE"):
                    self.seen.append(line)
                    for prefix in self.armed:
                        if line.startswith(prefix):
                            self.armed.remove(prefix)
                            drop_next_response.append(line)
                            break
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                if drop_next_response:
                    # The server has answered (so it has committed): lose the answer.
                    self.dropped.append(drop_next_response.pop())
                    return
                client_writer.write(data)
                await client_writer.drain()

        pumps = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (client_writer, upstream_writer):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            self._tasks.discard(task)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    with serve_process(tmp_path_factory.mktemp("drop") / "data") as process:
        yield process.url


async def _messages(server: str, token: str, box_id: str, type_: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server, timeout=10) as direct:
        response = await direct.get(f"/boxes/{box_id}/events", headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return [event for event in response.json() if event["type"] == type_]


async def test_a_dropped_answer_is_retried_and_the_box_has_one_message(server):
    host, port = urlsplit(server).hostname, urlsplit(server).port
    async with DroppingProxy(host, port) as proxy, BoxClient(proxy.url, timeout=10) as client:
        await client.auth.signup("ada@example.org", PASSWORD, "Ada")
        session = await client.auth.login("ada@example.org", password=PASSWORD)
        box = await client.boxes.create("Lossy link", random_key())
        path = f"/boxes/{box.id}/events"

        proxy.arm(f"POST {path} ")
        event = await client.events.post(box.id, "msg.text", {"encrypted": ciphertext()})
        assert proxy.dropped == [f"POST {path} HTTP/1.1".encode()]
        assert proxy.seen.count(f"POST {path} HTTP/1.1".encode()) == 2  # sent, lost, sent again
        messages = await _messages(server, session.access_token, box.id, "msg.text")
        assert [m["id"] for m in messages] == [event.id]

        # An upload too: the multipart body is rebuilt for the retry and matches.
        upload_path = f"/boxes/{box.id}/encrypted-files"
        proxy.arm(f"POST {upload_path} ")
        file_event = await client.files.upload(box.id, b"\x00sealed\xff" * 40_000, msg_encrypted_content=ciphertext(), msg_public_key=random_key())
        assert proxy.dropped[-1] == f"POST {upload_path} HTTP/1.1".encode()
        files = await _messages(server, session.access_token, box.id, "msg.file")
        assert [f["id"] for f in files] == [file_event.id]

        # The premise: the same drop with a plain resend and no key makes two messages.
        async with httpx.AsyncClient(base_url=proxy.url, timeout=10, headers={"Authorization": f"Bearer {session.access_token}"}) as raw:
            body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
            proxy.arm(f"POST {path} ")
            with pytest.raises(httpx.TransportError):
                await raw.post(path, json=body)
            assert (await raw.post(path, json=body)).status_code == 201
        messages = await _messages(server, session.access_token, box.id, "msg.text")
        assert len(messages) == 3  # one from the client, two from the keyless resend
