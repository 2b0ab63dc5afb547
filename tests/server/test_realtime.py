"""Realtime fan-out from the real app's hub: who gets what (PROTOCOL §9).

Sockets here are hub subscriptions of the running app (the websocket route itself is
exercised against a real uvicorn process in ``tests/e2e/test_server_process.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from boxtui.server.realtime.bus import RedisBus
from boxtui.server.realtime.hub import BusHub, Hub, start_hub
from tests.conftest import asgi_client, make_settings
from tests.server.helpers import batch, box_with_member, create_box, free_port, invite, join, post_event, post_text, signup_login


def drain(subscription) -> list[dict]:
    """The messages queued for a socket (each queued as the text frame it is sent as)."""
    messages = []
    while not subscription.queue.empty():
        messages.append(json.loads(subscription.queue.get_nowait()))
    return messages


@contextlib.contextmanager
def sockets(http, *users):
    hub = http._transport.app.state.hub
    subs = [hub.connect(user.id) for user in users]
    try:
        yield subs
    finally:
        for sub in subs:
            hub.disconnect(sub)


async def test_event_new_to_members_and_sender_rendered_per_recipient(http):
    alice, bob, box = await box_with_member(http)
    eve = await signup_login(http, "eve@example.com")
    with sockets(http, alice, bob, eve) as (alice_ws, bob_ws, eve_ws):
        message = await post_text(http, alice, box["id"])
        (to_alice,) = drain(alice_ws)
        (to_bob,) = drain(bob_ws)
        assert drain(eve_ws) == []
        assert to_alice["type"] == to_bob["type"] == "event.new"
        assert to_alice["object"]["id"] == to_bob["object"]["id"] == message["id"]
        assert to_alice["object"]["sender"]["identifier_value"] == alice.email
        assert to_bob["object"]["sender"]["identifier_value"] == ""

        edit = await post_event(http, alice, box["id"], {"type": "msg.edit", "referrer_id": message["id"], "content": {"new_encrypted": "AAAA"}})
        delete = await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": message["id"]})
        assert [m["object"]["id"] for m in drain(bob_ws)] == [edit["id"], delete["id"]]
        drain(alice_ws)

        await http.put(f"/boxes/{box['id']}/new-events-count/ack", headers=alice.headers)
        assert drain(alice_ws) == [] and drain(bob_ws) == []


async def test_join_and_leave_reach_the_member_who_is_no_longer_in(http):
    alice, bob, box = await box_with_member(http)
    with sockets(http, alice, bob) as (alice_ws, bob_ws):
        leave = await post_event(http, bob, box["id"], {"type": "member.leave"})
        assert [m["object"]["id"] for m in drain(bob_ws)] == [leave["id"]]
        assert [m["object"]["type"] for m in drain(alice_ws)] == ["member.leave"]
        await post_text(http, alice, box["id"])
        assert drain(bob_ws) == []


async def test_kick_notification_and_box_delete(http):
    alice, bob, box = await box_with_member(http)
    other = await create_box(http, alice, "Other")
    await batch(http, alice, other["id"], [{"type": "access.add", "content": {"restriction_type": "identifier", "value": bob.email}}])
    await post_event(http, bob, other["id"], {"type": "member.join"})
    bob_rule = next(r for r in (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json() if r["content"]["value"] == bob.email)
    with sockets(http, alice, bob) as (alice_ws, bob_ws):
        result = await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": bob_rule["id"]}])
        to_bob = drain(bob_ws)
        assert [m["type"] for m in to_bob] == ["event.new", "notification"]
        assert to_bob[0]["object"]["id"] == result[1]["id"]
        assert to_bob[1]["object"] == {"type": "member.kick", "details": {"box_id": box["id"], "title": box["title"]}}
        assert [m["object"]["type"] for m in drain(alice_ws)] == ["access.rm", "member.kick"]

        deleted = await http.request("DELETE", f"/boxes/{other['id']}", json={"user_confirmation": "delete"}, headers=alice.headers)
        assert deleted.status_code == 204
        assert drain(bob_ws) == [{"type": "box.delete", "object": {"id": other["id"]}}]
        assert drain(alice_ws) == [{"type": "box.delete", "object": {"id": other["id"]}}]


async def test_an_event_is_serialised_once_for_every_socket_that_shares_its_view(http):
    """Members who see the same view get the very same text frame (one ``json.dumps``
    per view, not one per socket); the sender's own view is its own."""
    alice, bob, box = await box_with_member(http)
    others = [bob]
    for name in ("carol", "dave"):
        member = await signup_login(http, f"{name}@example.com")
        await invite(http, alice, box["id"], member.email)
        await join(http, member, box["id"])
        others.append(member)
    with sockets(http, alice, *others, bob) as subs:
        alice_ws, shared = subs[0], subs[1:]
        message = await post_text(http, alice, box["id"])
        frames = [ws.queue.get_nowait() for ws in shared]
        assert all(ws.queue.empty() for ws in shared)
        assert all(frame is frames[0] for frame in frames)  # Bob's two sockets, Carol's, Dave's: one str
        assert json.loads(frames[0])["object"]["id"] == message["id"]
        own = alice_ws.queue.get_nowait()
        assert own is not frames[0] and json.loads(own)["object"]["id"] == message["id"]


async def test_a_socket_too_far_behind_closes_and_the_others_still_get_everything():
    hub = Hub(queue_size=3)
    slow, fast = hub.connect("slow"), hub.connect("fast")
    closing = slow.closing()
    for index in range(5):
        await hub.publish(["slow", "fast"], {"type": "event.new", "object": {"n": index}})
        fast.queue.get_nowait()  # this one keeps up
    assert closing.done() and closing.result() is slow.overflowed
    assert [json.loads(slow.queue.get_nowait())["object"]["n"] for _ in range(3)] == [0, 1, 2]  # in order, then nothing
    assert not fast.overflowed.is_set() and not fast.closing().done()


async def test_hub_drops_a_socket_that_falls_too_far_behind():
    hub = Hub()
    sub = hub.connect("someone")
    for index in range(sub.queue.maxsize + 1):
        await hub.publish(["someone"], {"type": "event.new", "object": {"n": index}})
    assert sub.overflowed.is_set()
    hub.disconnect(sub)
    assert hub.connected("someone") == 0


def _redis_unavailable() -> str | None:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis"
        return f"no Redis answers at 127.0.0.1:6379: {exc}"
    return None


@pytest.mark.redis
async def test_redis_fan_out_between_two_server_processes(tmp_path):
    reason = _redis_unavailable()
    if reason:
        pytest.skip(reason)
    # Two apps = two server processes: one database, one Redis, separate hubs.
    settings = make_settings(tmp_path / "data", redis_url="redis://127.0.0.1:6379/0")
    from boxtui.server.app import create_app

    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        assert all(isinstance(app.state.hub, BusHub) and isinstance(app.state.hub.bus, RedisBus) for app in (first, second))
        async with asgi_client(first) as http_first, asgi_client(second) as http_second:
            alice, bob, box = await box_with_member(http_first)
            bob_ws = second.state.hub.connect(bob.id)
            try:
                message = await post_text(http_first, alice, box["id"])
                received = json.loads(await asyncio.wait_for(bob_ws.queue.get(), timeout=5))
                assert received["type"] == "event.new" and received["object"]["id"] == message["id"]
                # And back: a post on the second process reaches a socket on the first.
                alice_ws = first.state.hub.connect(alice.id)
                reply = await post_text(http_second, bob, box["id"])
                got = json.loads(await asyncio.wait_for(alice_ws.queue.get(), timeout=5))
                assert got["object"]["id"] == reply["id"]
                # Each message arrives once, not once per process.
                await asyncio.sleep(0.2)
                assert bob_ws.queue.qsize() == 1 and alice_ws.queue.empty()
            finally:
                second.state.hub.disconnect(bob_ws)


async def test_unreachable_redis_is_a_clear_startup_error(tmp_path):
    settings = make_settings(tmp_path / "data", redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(RuntimeError, match="cannot reach Redis"):
        await start_hub(settings)
