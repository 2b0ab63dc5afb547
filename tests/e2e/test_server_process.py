"""``boxtui serve`` as a real process: HTTP and the realtime websocket together (PROTOCOL §2–§4, §9).

Two people over the network: Alice creates a box and lets Bob in, Bob joins and
posts, Alice's socket receives it; Alice removes Bob's rule and Bob's socket gets the
``member.kick`` notification as he loses access.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.server.helpers import User, create_box, invite, join, post_text, serve_process, signup_login

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("server") / "data"
    with serve_process(data_dir, env={"BOXTUI_WS_PING_SECONDS": "1"}) as process:
        yield {"base_url": process.url, "ws_url": process.ws_url, "outbox": data_dir / "outbox", "log": process.log}


async def _next(ws: ClientConnection, match: Callable[[dict[str, Any]], bool], timeout: float = 5) -> dict[str, Any]:
    """The next message satisfying ``match`` (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            assert set(message) == {"type", "object"}, message
            if match(message):
                return message


def _socket(server: dict[str, Any], user: User, **headers: str):
    return connect(f"{server['ws_url']}/box-users/{user.id}/ws", additional_headers=headers or user.headers, open_timeout=5)


async def test_two_users_over_http_and_websocket(server):
    async with httpx.AsyncClient(base_url=server["base_url"], timeout=10) as http:
        alice = await signup_login(http, "alice@example.com", name="Alice")
        bob = await signup_login(http, "bob@example.com", name="Bob", acr=1, outbox=server["outbox"])

        async with _socket(server, alice) as alice_ws, _socket(server, bob) as bob_ws:
            box = await create_box(http, alice, "Over the wire")
            rule = await invite(http, alice, box["id"], bob.email)
            joined = await join(http, bob, box["id"])
            got = await _next(alice_ws, lambda m: m["type"] == "event.new" and m["object"]["type"] == "member.join")
            assert got["object"]["id"] == joined["id"]
            assert got["object"]["sender"]["identifier_value"] == bob.email  # Alice is the admin

            message = await post_text(http, bob, box["id"])
            got = await _next(alice_ws, lambda m: m["type"] == "event.new" and m["object"]["type"] == "msg.text")
            assert got["object"]["id"] == message["id"] and got["object"]["content"] == message["content"]
            # The sender gets his own event too, and sees no e-mail but his own.
            own = await _next(bob_ws, lambda m: m["type"] == "event.new" and m["object"]["id"] == message["id"])
            assert own["object"]["sender"]["identifier_value"] == bob.email

            # ack over the socket resets Alice's unread count.
            assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] == 2
            await alice_ws.send(json.dumps({"type": "ack", "object": {"box_id": box["id"]}}))
            for _ in range(50):
                if (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] == 0:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the ack did not reset the unread count")

            # Alice removes Bob's rule: Bob is kicked and told so.
            response = await http.post(
                f"/boxes/{box['id']}/batch-events",
                json={"batch_type": "accesses", "events": [{"type": "access.rm", "referrer_id": rule["id"]}]},
                headers=alice.headers,
            )
            assert response.status_code == 201, response.text
            notification = await _next(bob_ws, lambda m: m["type"] == "notification")
            assert notification["object"] == {"type": "member.kick", "details": {"box_id": box["id"], "title": "Over the wire"}}
            kicked = await http.get(f"/boxes/{box['id']}/events", headers=bob.headers)
            assert kicked.status_code == 403 and kicked.json()["details"]["reason"] == "no_access"

            # A reconnecting client catches up with ?after=.
            catch_up = await http.get(f"/boxes/{box['id']}/events", params={"after": message["id"]}, headers=alice.headers)
            assert [e["type"] for e in catch_up.json()] == ["member.kick"]

            # box.delete reaches the members.
            deleted = await http.request("DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}, headers=alice.headers)
            assert deleted.status_code == 204
            assert (await _next(alice_ws, lambda m: m["type"] == "box.delete"))["object"] == {"id": box["id"]}
    assert "Traceback" not in Path(server["log"]).read_text()


async def test_socket_refused_without_token_or_for_someone_else(server):
    async with httpx.AsyncClient(base_url=server["base_url"], timeout=10) as http:
        alice = await signup_login(http, "carol@example.com")
        bob = await signup_login(http, "dave@example.com")
        response = await http.post("/auth/login", json={"email": "carol@example.com", "password": "correct horse battery"})
        cookie_token = response.json()["access_token"]

    url = f"{server['ws_url']}/box-users/{alice.id}/ws"
    for headers in ({}, {"Authorization": "Bearer nope"}, bob.headers):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers, open_timeout=5):
                pass
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with connect(f"{server['ws_url']}/box-users/not-a-uuid/ws", additional_headers=alice.headers, open_timeout=5):
            pass
    # The session cookies work as well as the bearer header.
    async with connect(url, additional_headers={"Cookie": f"accesstoken={cookie_token}; tokentype=bearer"}, open_timeout=5) as ws:
        await ws.ping()
        # Logging out closes the socket of that session (checked every ws_ping_seconds).
        async with httpx.AsyncClient(base_url=server["base_url"], timeout=10) as http:
            assert (await http.post("/auth/logout", headers={"Authorization": f"Bearer {cookie_token}"})).status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                await ws.recv()
        assert closed.value.rcvd.code == 4401
    assert "Traceback" not in Path(server["log"]).read_text()


@pytest.mark.redis
async def test_two_server_processes_share_events_through_redis(tmp_path):
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at 127.0.0.1:6379: {exc}")
    data_dir = tmp_path / "data"
    redis_args = ("--redis-url", "redis://127.0.0.1:6379/0")
    # One database (SQLite in WAL mode) and one Redis behind two processes.
    with serve_process(data_dir, *redis_args) as first_process, serve_process(data_dir, *redis_args) as second_process:
        async with httpx.AsyncClient(base_url=first_process.url, timeout=10) as first, httpx.AsyncClient(base_url=second_process.url, timeout=10) as second:
            alice = await signup_login(first, "alice@example.com")
            bob = await signup_login(second, "bob@example.com")
            box = await create_box(first, alice)
            await invite(first, alice, box["id"], bob.email)
            await join(second, bob, box["id"])
            server = {"ws_url": first_process.ws_url}
            async with _socket(server, alice) as alice_ws:
                message = await post_text(second, bob, box["id"])
                got = await _next(alice_ws, lambda m: m["type"] == "event.new" and m["object"]["type"] == "msg.text")
                assert got["object"]["id"] == message["id"]
    for process in (first_process, second_process):
        assert "Traceback" not in process.log.read_text()
