"""Concurrent writers: every acknowledged write is there, races end in 409, never 500."""

from __future__ import annotations

import asyncio

from tests.server.helpers import box_with_member, ciphertext, create_box, invite, signup_login


async def test_concurrent_posts_are_all_kept_in_one_order(http):
    alice, bob, box = await box_with_member(http)
    url = f"/boxes/{box['id']}/events"

    async def post(user, n):
        return await http.post(url, json={"type": "msg.text", "content": {"encrypted": ciphertext(8 + n)}}, headers=user.headers)

    responses = await asyncio.gather(*(post(alice if n % 2 else bob, n) for n in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    listed = (await http.get(url, headers=alice.headers)).json()
    assert {r.json()["id"] for r in responses} <= {e["id"] for e in listed}
    times = [e["server_event_created_at"] for e in listed]
    assert times == sorted(times)
    # Each saw the other's ten messages (plus Bob's join for Alice) as unread.
    assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] == 11
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).json()["events_count"] == 10


async def test_racing_joins_of_one_person(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    await invite(http, alice, box["id"], bob.email)
    responses = await asyncio.gather(*(http.post(f"/boxes/{box['id']}/events", json={"type": "member.join"}, headers=bob.headers) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    members = (await http.get(f"/boxes/{box['id']}/members", headers=alice.headers)).json()
    assert [m["id"] for m in members] == [alice.id, bob.id]


async def test_racing_deletes_of_one_message(http):
    alice, bob, box = await box_with_member(http)
    message = (await http.post(f"/boxes/{box['id']}/events", json={"type": "msg.text", "content": {"encrypted": "AAAA"}}, headers=bob.headers)).json()
    body = {"type": "msg.delete", "referrer_id": message["id"]}
    responses = await asyncio.gather(
        http.post(f"/boxes/{box['id']}/events", json=body, headers=bob.headers),
        http.post(f"/boxes/{box['id']}/events", json=body, headers=alice.headers),
        http.post(f"/boxes/{box['id']}/events", json=body, headers=bob.headers),
    )
    assert sorted(r.status_code for r in responses) == [201, 410, 410]
