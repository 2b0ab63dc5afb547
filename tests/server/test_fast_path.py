"""The fast path (``boxtui.server.fastpath``) answers exactly as the routes do.

Each test sends the same requests with the fast path on and off (the app's
``state.fast_path`` set aside, what ``fast_path = false`` does) and compares status,
headers and bytes; where a new event is made, its id and time are the only
differences, and the rows written are compared too. Everything the fast path does not
prove valid must reach the route untouched: those answers are compared byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import _truncate_pg, asgi_client, make_settings
from tests.server.helpers import (
    auth,
    batch,
    box_with_member,
    ciphertext,
    create_box,
    invite,
    join,
    post_event,
    post_text,
    random_key,
    rule,
    signup_login,
    until,
    upload_file,
)


@contextlib.contextmanager
def slow(app):
    """The routes answer everything inside the block."""
    fast, app.state.fast_path = app.state.fast_path, None
    try:
        yield
    finally:
        app.state.fast_path = fast


def fast_answers(app) -> int:
    return app.state.fast_path.answered


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, list(response.headers.multi_items()), response.content


async def both(app, http: httpx.AsyncClient, method: str, url: str, **kwargs) -> tuple[httpx.Response, httpx.Response]:
    """The same request through the fast path (if it takes it) and through the route."""
    fast = await http.request(method, url, **kwargs)
    with slow(app):
        routed = await http.request(method, url, **kwargs)
    return fast, routed


def _same_but_new(fast: dict[str, Any], routed: dict[str, Any]) -> None:
    """Two new events' views are the same but for their id and time."""
    assert fast["id"] != routed["id"]
    strip = lambda view: {k: v for k, v in view.items() if k not in ("id", "server_event_created_at")}  # noqa: E731
    assert strip(fast) == strip(routed)


async def _rows(app, event_ids: list[str]) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM events WHERE id IN (" + ",".join(f"'{i}'" for i in event_ids) + ")"))
        return [dict(row._mapping) for row in result]


async def test_a_text_post_is_answered_and_written_as_the_route_does(server_app):
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        body = {"type": "msg.text", "content": {"public_key": random_key(), "encrypted": ciphertext()}}
        before = fast_answers(app)
        fast, routed = await both(app, http, "POST", url, json=body, headers=bob.headers)
        assert fast_answers(app) == before + 1
        assert fast.status_code == routed.status_code == 201
        assert list(fast.headers.multi_items())[1:] == list(routed.headers.multi_items())[1:]  # content-length first
        assert fast.headers["content-length"] == routed.headers["content-length"]
        _same_but_new(fast.json(), routed.json())
        assert list(fast.json()["content"]) == ["encrypted", "public_key"]  # the model's order, as the route stores it
        # The rows written: the same columns, the same values but id, seq, time, position.
        rows = {row["id"]: row for row in await _rows(app, [fast.json()["id"], routed.json()["id"]])}
        a, b = rows[fast.json()["id"]], rows[routed.json()["id"]]
        assert a["pos"] + 1 == b["pos"] and a["seq"] < b["seq"]
        skip = {"id", "seq", "created_at", "pos"}
        assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
        # The box's counters and the unread counts moved the same way for both.
        count = await http.head(url, headers=alice.headers)
        listed = (await http.get(url, headers=alice.headers)).json()
        assert int(count.headers["x-total-count"]) == len(listed)
        assert [e["id"] for e in listed[-2:]] == [fast.json()["id"], routed.json()["id"]]
        assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] >= 2
        assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).json()["events_count"] == 0


async def test_idempotency_keys_are_recorded_and_replayed_alike(server_app):
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        for key in ('"fast-1"', "fast-2"):
            first = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": key})
            assert first.status_code == 201
            # The record the fast path wrote replays the same bytes through the route and through itself.
            with slow(app):
                routed_replay = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": key})
            fast_replay = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": key})
            for replay in (routed_replay, fast_replay):
                assert replay.status_code == 201 and replay.content == first.content
                assert replay.headers["idempotent-replayed"] == "true"
            assert _answer(routed_replay) == _answer(fast_replay)
            # Another body under the same key: the route's 409, whoever gets it first.
            other = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
            fast, routed = await both(app, http, "POST", url, json=other, headers={**bob.headers, "Idempotency-Key": key})
            assert fast.status_code == 409 and _answer(fast) == _answer(routed)
        # A key the route recorded is replayed by the fast path's hand-off.
        with slow(app):
            first = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": "routed"})
        replay = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": "routed"})
        assert replay.content == first.content and replay.headers["idempotent-replayed"] == "true"
        listed = (await http.get(url, headers=bob.headers)).json()
        assert sum(1 for e in listed if e["type"] == "msg.text") == 3  # once per key


async def _box_of_three(http):
    """Alice's box with Bob and Carol in it."""
    alice, bob, box = await box_with_member(http)
    carol = await signup_login(http, "carol@example.com", name="Carol")
    await invite(http, alice, box["id"], carol.email)
    await join(http, carol, box["id"])
    return alice, bob, carol, box


async def test_pages_are_byte_for_byte_the_routes(server_app):
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, carol, box = await _box_of_three(http)
        first = await post_text(http, alice, box["id"])
        await post_event(http, bob, box["id"], {"type": "msg.text", "content": {"encrypted": ciphertext(), "public_key": random_key()}})
        await post_event(http, bob, box["id"], {"type": "msg.text", "content": {"encrypted": ciphertext()}, "referrer_id": first["id"]})
        await post_event(http, alice, box["id"], {"type": "msg.edit", "referrer_id": first["id"], "content": {"new_encrypted": "AAAA"}})
        gone = await post_text(http, carol, box["id"])
        await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": gone["id"]})
        shared = await upload_file(http, bob, box["id"])
        saved = await http.post(
            "/saved-files", json={"encrypted_file_id": shared["content"]["encrypted_file_id"], "identity_id": alice.id, "encrypted_metadata": "sealed", "key_fingerprint": "fp"}, headers=alice.headers
        )
        assert saved.status_code == 201, saved.text
        await upload_file(http, carol, box["id"])
        await post_event(http, carol, box["id"], {"type": "member.leave"})
        dave = await signup_login(http, "dave@example.com", name="Dave")
        dave_rule = await invite(http, alice, box["id"], dave.email)
        await join(http, dave, box["id"])
        await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": dave_rule["id"]}])  # Dave is kicked
        await post_event(http, alice, box["id"], {"type": "state.access_mode", "content": {"value": "limited"}})
        await post_text(http, bob, box["id"], encrypted="Zm9vYmFy")
        queries = ["", "?tail=true&limit=3", "?tail=1", "?offset=2&limit=2", "?tail=true&offset=1&limit=4", "?limit=0", "?tail=true&offset=1000", "?offset=1000", "?tail=FALSE&limit=1000&x=1"]
        before = fast_answers(app)
        for user in (alice, bob):  # the admin sees e-mails, a member does not
            for query in queries:
                fast, routed = await both(app, http, "GET", f"/boxes/{box['id']}/events{query}", headers=user.headers)
                assert fast.status_code == 200, fast.text
                assert _answer(fast) == _answer(routed), query
        assert fast_answers(app) == before + 2 * len(queries)
        listed = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()
        assert {e["type"] for e in listed} >= {"create", "member.join", "msg.text", "msg.file", "member.leave", "member.kick", "state.access_mode"}
        assert any(e["content"].get("is_saved") for e in listed if e["type"] == "msg.file")
        assert any("deleted" in (e["content"] or {}) for e in listed) and any("last_edited_at" in (e["content"] or {}) for e in listed)


async def test_box_lists_are_byte_for_byte_the_routes(server_app):
    """``GET /boxes/joined``: each box with its last event (of every kind of view) and the
    caller's unread count, in the route's order and pages; what it would refuse, and a
    caller it does not know, reach the route."""
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, carol, box = await _box_of_three(http)
        first = await post_text(http, alice, box["id"])
        await post_event(http, bob, box["id"], {"type": "msg.text", "content": {"encrypted": ciphertext(), "public_key": random_key()}})
        edited = await create_box(http, alice, title="Edited")
        await invite(http, alice, edited["id"], bob.email)
        await join(http, bob, edited["id"])
        note = await post_text(http, bob, edited["id"])
        await post_event(http, bob, edited["id"], {"type": "msg.edit", "referrer_id": note["id"], "content": {"new_encrypted": "AAAA"}})
        deleted = await create_box(http, bob, title="Bob's, deleted message")
        await invite(http, bob, deleted["id"], alice.email)
        await join(http, alice, deleted["id"])
        gone = await post_text(http, alice, deleted["id"])
        await post_event(http, bob, deleted["id"], {"type": "msg.delete", "referrer_id": gone["id"]})
        files = await create_box(http, alice, title="Files — \u00e9t\u00e9 \U0001f4c1")
        await invite(http, alice, files["id"], bob.email)
        await join(http, bob, files["id"])
        shared = await upload_file(http, bob, files["id"])
        saved = await http.post(
            "/saved-files", json={"encrypted_file_id": shared["content"]["encrypted_file_id"], "identity_id": alice.id, "encrypted_metadata": "sealed", "key_fingerprint": "fp"}, headers=alice.headers
        )
        assert saved.status_code == 201, saved.text
        kicked = await create_box(http, alice, title="Kick")
        dave = await signup_login(http, "dave@example.com", name="Dave")
        for who in (bob, dave):
            invited = await invite(http, alice, kicked["id"], who.email)
            await join(http, who, kicked["id"])
        await batch(http, alice, kicked["id"], [{"type": "access.rm", "referrer_id": invited["id"]}])  # Dave is kicked
        closed = await create_box(http, alice, title="Closed")
        await invite(http, alice, closed["id"], bob.email)
        await join(http, bob, closed["id"])
        await post_event(http, alice, closed["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
        await create_box(http, bob, title="Only created")
        await post_text(http, carol, box["id"])  # the first box is the latest again
        queries = ["", "?limit=2", "?offset=1&limit=3", "?offset=100", "?limit=0", "?limit=1000&x=1", "?tail=true&offset=2"]
        before = fast_answers(app)
        for user in (alice, bob, carol):  # the admin of some boxes, a member of others
            for query in queries:
                fast, routed = await both(app, http, "GET", f"/boxes/joined{query}", headers=user.headers)
                assert fast.status_code == 200, fast.text
                assert _answer(fast) == _answer(routed), (user.email, query)
        assert fast_answers(app) == before + 3 * len(queries)
        listed = (await http.get("/boxes/joined", headers=bob.headers)).json()
        assert [b["title"] for b in listed][:2] == ["Project", "Only created"]
        assert {b["last_event"]["type"] for b in listed} >= {"msg.text", "msg.file", "member.kick", "state.lifecycle", "create"}
        assert any(b["last_event"]["content"].get("last_edited_at") for b in listed) and any("deleted" in b["last_event"]["content"] for b in listed)
        assert {b["title"]: b["events_count"] for b in listed}["Project"] > 0
        mine = {b["title"]: b for b in (await http.get("/boxes/joined", headers=alice.headers)).json()}
        assert mine["Files — \u00e9t\u00e9 \U0001f4c1"]["last_event"]["content"]["is_saved"] is True
        # What get_page refuses, no token, an unknown token: the route's own answers.
        before = fast_answers(app)
        for query, headers in (("?limit=1001", alice.headers), ("?offset=-1", alice.headers), ("?limit=x", alice.headers), ("", {}), ("", auth("not-a-token"))):
            fast, routed = await both(app, http, "GET", f"/boxes/joined{query}", headers=headers)
            assert fast.status_code in (400, 401) and _answer(fast) == _answer(routed), query
        assert fast_answers(app) == before


async def test_everything_else_is_the_routes_own_answer(server_app):
    """Requests the fast path does not prove valid reach the route as they came."""
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        stranger = await signup_login(http, "eve@example.com", name="Eve")
        closed = await create_box(http, alice, title="Closed")
        await post_event(http, alice, closed["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
        coded = await signup_login(http, "dan@example.com", acr=1)
        url = f"/boxes/{box['id']}/events"
        text_body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        posts: list[tuple[str, dict[str, Any]]] = [
            ("no token", {"json": text_body}),
            ("bad token", {"json": text_body, "headers": auth("nope")}),
            ("not bearer", {"json": text_body, "headers": {"Authorization": "Basic abc"}}),
            ("not a member", {"json": text_body, "headers": stranger.headers}),
            ("malformed key", {"json": text_body, "headers": {**bob.headers, "Idempotency-Key": "a b"}}),
            ("two keys", {"json": text_body, "headers": [*bob.headers.items(), ("Idempotency-Key", "k1"), ("Idempotency-Key", "k2")]}),
            ("extra", {"json": {**text_body, "extra": {"a": 1}}, "headers": bob.headers}),
            ("unknown field", {"json": {**text_body, "color": "red"}, "headers": bob.headers}),
            ("content extra key", {"json": {"type": "msg.text", "content": {"encrypted": "AAAA", "x": 1}}, "headers": bob.headers}),
            ("bad public key", {"json": {"type": "msg.text", "content": {"encrypted": "AAAA", "public_key": "abc"}}, "headers": bob.headers}),
            ("not base64", {"json": {"type": "msg.text", "content": {"encrypted": "!!!"}}, "headers": bob.headers}),
            ("empty", {"json": {"type": "msg.text", "content": {"encrypted": ""}}, "headers": bob.headers}),
            ("too long", {"json": {"type": "msg.text", "content": {"encrypted": "A" * (64 * 1024 + 4)}}, "headers": bob.headers}),
            ("number", {"json": {"type": "msg.text", "content": {"encrypted": 5}}, "headers": bob.headers}),
            ("no content", {"json": {"type": "msg.text"}, "headers": bob.headers}),
            ("NUL", {"content": b'{"type": "msg.text", "content": {"encrypted": "AAAA"}, "referrer_id": null, "extra": null, "x": "\\u0000"}', "headers": bob.headers}),
            ("not JSON", {"content": b"{", "headers": bob.headers}),
            ("NaN", {"content": b'{"type": "msg.text", "content": {"encrypted": NaN}}', "headers": bob.headers}),
            ("empty body", {"content": b"", "headers": bob.headers}),
            ("a list", {"json": [text_body], "headers": bob.headers}),
            ("server-only type", {"json": {"type": "create"}, "headers": bob.headers}),
            ("bad reply", {"json": {**text_body, "referrer_id": "nope"}, "headers": bob.headers}),
            ("unknown reply", {"json": {**text_body, "referrer_id": box["id"]}, "headers": bob.headers}),
        ]
        for name, kwargs in posts:
            fast, routed = await both(app, http, "POST", url, **kwargs)
            assert fast.status_code >= 400, name
            assert _answer(fast) == _answer(routed), name
        for name, target, kwargs in [
            ("closed box", f"/boxes/{closed['id']}/events", {"json": text_body, "headers": alice.headers}),
            ("unknown box", f"/boxes/{stranger.id}/events", {"json": text_body, "headers": alice.headers}),
            ("not a uuid", "/boxes/NOT-A-UUID-NOT-A-UUID-NOT-A-UUID-1234/events", {"json": text_body, "headers": alice.headers}),
            ("too large", url, {"content": b" " * (1 << 20) + b"{}", "headers": bob.headers}),
        ]:
            fast, routed = await both(app, http, "POST", target, **kwargs)
            assert fast.status_code >= 400, name
            assert _answer(fast) == _answer(routed), name
        # ACR 1 is enough to post (the fast path answers it); cookies go to the route.
        made = await http.post(url, json=text_body, headers=bob.headers)
        assert made.status_code == 201
        assert (await http.post(url, json=text_body, headers=coded.headers)).status_code == 403  # not a member: the route says so
        login = await http.post("/auth/login", json={"email": bob.email, "password": "correct horse battery"})
        cookies = dict(login.cookies)
        http.cookies.clear()
        before = fast_answers(app)
        fast, routed = await both(app, http, "POST", url, json=text_body, cookies=cookies)
        assert fast.status_code == routed.status_code == 400 and _answer(fast) == _answer(routed)  # X-CSRF-Token required
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        fast, routed = await both(app, http, "POST", url, json=text_body, cookies=cookies, headers=csrf)
        assert fast.status_code == routed.status_code == 201
        _same_but_new(fast.json(), routed.json())
        assert fast_answers(app) == before  # cookie sessions are the route's
        # Successes the route handles: a reply, the msg.txt alias, a query string.
        for kwargs in (
            {"json": {**text_body, "referrer_id": made.json()["id"]}},
            {"json": {"type": "msg.txt", "content": {"encrypted": "AAAA"}}},
            {"json": text_body, "params": {"x": "1"}},
            {"json": {"type": "msg.text", "content": {"encrypted": "AAAA"}, "referrer_id": None, "extra": None}},
            {"json": {"type": "msg.text", "content": {"encrypted": "AAAA", "public_key": None}}},
        ):
            fast, routed = await both(app, http, "POST", url, headers=bob.headers, **kwargs)
            assert fast.status_code == routed.status_code == 201
            _same_but_new(fast.json(), routed.json())
        for name, query, headers in [
            ("no token", "", {}),
            ("not a member", "", stranger.headers),
            ("after", f"?after={made.json()['id']}", bob.headers),
            ("before", f"?before={made.json()['id']}", bob.headers),
            ("bad limit", "?limit=-1", bob.headers),
            ("big limit", "?limit=1001", bob.headers),
            ("bad tail", "?tail=maybe", bob.headers),
            ("bad offset", "?offset=1e3", bob.headers),
        ]:
            fast, routed = await both(app, http, "GET", url + query, headers=headers)
            assert _answer(fast) == _answer(routed), name
            assert name in ("after", "before") or fast.status_code >= 400, name


async def test_realtime_envelopes_are_the_routes(server_app):
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, carol, box = await _box_of_three(http)
        hub = app.state.hub
        sockets = {user.id: hub.connect(user.id) for user in (alice, bob, carol)}
        try:
            for sub in sockets.values():
                while not sub.queue.empty():
                    sub.queue.get_nowait()
            url = f"/boxes/{box['id']}/events"
            body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
            fast, routed = await both(app, http, "POST", url, json=body, headers=bob.headers)
            for user_id, sub in sockets.items():
                got = [json.loads(await asyncio.wait_for(sub.queue.get(), 5)) for _ in range(2)]
                assert [m["object"]["id"] for m in got] == [fast.json()["id"], routed.json()["id"]]
                assert got[0]["type"] == got[1]["type"] == "event.new"
                _same_but_new(got[0]["object"], got[1]["object"])
                if user_id == bob.id:
                    assert got[0]["object"] == fast.json()  # the sender's view is the answer
                assert sub.queue.empty()
        finally:
            for sub in sockets.values():
                hub.disconnect(sub)


async def test_a_logged_out_token_stops_at_once(server_app):
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        before = fast_answers(app)
        assert (await http.post(url, json=body, headers=bob.headers)).status_code == 201
        assert (await http.get(url, headers=bob.headers)).status_code == 200
        assert fast_answers(app) == before + 2  # Bob's session is cached now
        assert (await http.post("/auth/logout", headers=bob.headers)).status_code == 204
        for method, kwargs in (("POST", {"json": body}), ("GET", {})):
            fast, routed = await both(app, http, method, url, headers=bob.headers, **kwargs)
            assert fast.status_code == 401 and _answer(fast) == _answer(routed)


@pytest.mark.postgres
async def test_a_logout_in_another_process_reaches_its_token_cache(tmp_path, pg_database):
    """Two apps on one PostgreSQL (its LISTEN/NOTIFY bus) stand for two processes: a
    logout through one stops the token in the other as soon as the bus carries it,
    long before the cache's time-to-live."""
    from boxtui.server import fastpath
    from boxtui.server.app import create_app

    await _truncate_pg(pg_database)
    settings = make_settings(tmp_path / "data", pg_database)
    first, second = create_app(settings), create_app(settings, migrate=False)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        async with asgi_client(first) as one, asgi_client(second) as two:
            alice, bob, box = await box_with_member(one)
            url = f"/boxes/{box['id']}/events"
            body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
            assert (await two.post(url, json=body, headers=bob.headers)).status_code == 201
            assert second.state.fast_path.tokens.get(fastpath.hash_token(bob.token)) is not None
            assert (await one.post("/auth/logout", headers=bob.headers)).status_code == 204
            await until(lambda: second.state.fast_path.tokens.get(fastpath.hash_token(bob.token)) is None, timeout=fastpath.TOKEN_CACHE_SECONDS / 2, what="the logout to reach the other process")
            response = await two.post(url, json=body, headers=bob.headers)
            assert response.status_code == 401


async def test_posts_to_several_boxes_share_a_commit_and_keep_each_box_in_order(server_app):
    """Posts to different boxes that arrive together share one transaction (on
    PostgreSQL their boxes are locked in one order first); each box keeps its own
    order of seq, position and time, and a post the fast path cannot write (not a
    member, a closed box) is answered by the route, as it would be alone."""
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, first = await box_with_member(http)
        boxes = [first["id"]]
        for title in ("Second", "Third"):
            box = await create_box(http, alice, title=title)
            await invite(http, alice, box["id"], bob.email)
            await join(http, bob, box["id"])
            boxes.append(box["id"])
        closed = await create_box(http, alice, title="Closed")
        await post_event(http, alice, closed["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
        eve = await signup_login(http, "eve@example.com", name="Eve")

        def send(user, box_id):
            return http.post(f"/boxes/{box_id}/events", json={"type": "msg.text", "content": {"encrypted": ciphertext()}}, headers=user.headers)

        sent = [send(alice if n % 2 else bob, boxes[n % 3]) for n in range(60)] + [send(eve, boxes[0]), send(alice, closed["id"])]
        with slow(app):
            refused = [await send(eve, boxes[0]), await send(alice, closed["id"])]
        # Shares into the same boxes at the same time: the route locks its boxes in the
        # same order as a transaction of several boxes does (no deadlock, no 503).
        source = await post_text(http, alice, boxes[0])
        shares = [
            http.post(f"/events/{source['id']}/shares", json={"targets": [{"box_id": b, "content": {"encrypted": ciphertext()}} for b in reversed(boxes)]}, headers=alice.headers)
            for _ in range(4)
        ]
        answers = await asyncio.gather(*sent, *shares)
        assert [a.status_code for a in answers[62:]] == [201] * 4, [a.text for a in answers[62:]]
        answers = answers[:62]
        assert [a.status_code for a in answers[:60]] == [201] * 60, [a.text for a in answers if a.status_code != 201]
        assert [_answer(a)[0::2] for a in answers[60:]] == [_answer(a)[0::2] for a in refused]
        for n, box_id in enumerate(boxes):
            url = f"/boxes/{box_id}/events"
            texts = [e for e in (await http.get(url, headers=bob.headers)).json() if e["type"] == "msg.text"]
            mine = [e for e in texts if "shared_from" not in e["content"] and e["id"] != source["id"]]
            assert sorted(e["id"] for e in mine) == sorted(a.json()["id"] for a in answers[n:60:3])
            assert len(texts) - len(mine) == 4 + (n == 0)  # the shares (and the shared message)
            assert [e["server_event_created_at"] for e in texts] == sorted(e["server_event_created_at"] for e in texts)
            assert int((await http.head(url, headers=bob.headers)).headers["x-total-count"]) == len(texts) + 2  # the box made, Bob joined
        async with app.state.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT box_id, pos FROM events WHERE pos IS NOT NULL ORDER BY seq"))).all()
        for box_id in boxes:
            positions = [r.pos for r in rows if r.box_id == box_id]
            assert positions == list(range(1, len(positions) + 1))
        if app.state.engine.dialect.name == "postgresql":  # one transaction wrote events of several boxes
            async with app.state.engine.connect() as conn:
                shared = (await conn.execute(text("SELECT count(*) FROM (SELECT xmin::text FROM events WHERE type = 'msg.text' GROUP BY xmin::text HAVING count(DISTINCT box_id) > 1) t"))).scalar()
            assert shared >= 1


async def test_two_processes_on_one_sqlite_file_take_turns_and_lose_nothing(tmp_path):
    """Two apps on one SQLite file stand for the processes of ``boxtui serve --workers``:
    their fast paths take the writers' lock file in turn (neither waits forever, neither
    holds it while the other writes), every post is answered once and written once, and
    the box keeps one order of seq, position and time across both."""
    from boxtui.server.app import create_app

    settings = make_settings(tmp_path / "data")
    first, second = create_app(settings), create_app(settings, migrate=False)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        assert first.state.fast_path is not None and second.state.fast_path is not None
        async with asgi_client(first) as one, asgi_client(second) as two:
            alice, bob, box = await box_with_member(one)
            url = f"/boxes/{box['id']}/events"
            body = lambda: {"type": "msg.text", "content": {"encrypted": ciphertext()}}  # noqa: E731
            # A third writer (another process) holds the lock file: posts wait for it,
            # and go on as soon as it is let go.
            held = os.open(f"{first.state.fast_path.path}-writers.lock", os.O_RDWR)
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                sent = [asyncio.ensure_future((one if n % 2 else two).post(url, json=body(), headers=(alice if n % 3 else bob).headers)) for n in range(120)]
                await asyncio.sleep(0.3)
                assert not any(task.done() for task in sent)
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)
                os.close(held)
            answers = await asyncio.wait_for(asyncio.gather(*sent), 10)
            assert [a.status_code for a in answers] == [201] * 120, [a.text for a in answers if a.status_code != 201]
            assert first.state.fast_path.answered == 60 and second.state.fast_path.answered == 60
            ids = [a.json()["id"] for a in answers]
            listed = [e for e in (await two.get(url, headers=alice.headers)).json() if e["type"] == "msg.text"]
            assert sorted(e["id"] for e in listed) == sorted(ids)
            assert [e["server_event_created_at"] for e in listed] == sorted(e["server_event_created_at"] for e in listed)
        async with first.state.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT pos FROM events WHERE box_id = :b AND pos IS NOT NULL ORDER BY seq"), {"b": box["id"]})).all()
        assert [r.pos for r in rows] == list(range(1, len(rows) + 1))


async def test_a_writers_lock_file_held_too_long_hands_posts_to_the_routes(sqlite_app, monkeypatch):
    """A process stopped while holding the writers' lock file does not leave posts
    waiting for ever: after ``LOCK_WAIT_SECONDS`` the routes write them (they wait on
    SQLite's own lock, free here, and would answer 503 if it stayed taken)."""
    from boxtui.server import fastpath

    monkeypatch.setattr(fastpath, "LOCK_WAIT_SECONDS", 0.3)
    app = sqlite_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        before = fast_answers(app)
        held = os.open(f"{app.state.fast_path.path}-writers.lock", os.O_RDWR)
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            message = await asyncio.wait_for(post_text(http, bob, box["id"]), 5)
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
            os.close(held)
        assert fast_answers(app) == before  # the route's answer
        listed = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()
        assert listed[-1]["id"] == message["id"]
        before = fast_answers(app)
        assert (await post_text(http, bob, box["id"]))["type"] == "msg.text" and fast_answers(app) == before + 1  # and the fast path again


async def test_the_setting_turns_it_off(tmp_path):
    from tests.conftest import _running

    async for app in _running(make_settings(tmp_path / "data", fast_path=False)):
        assert app.state.fast_path is None
        async with asgi_client(app) as http:
            alice, bob, box = await box_with_member(http)
            assert (await post_text(http, bob, box["id"]))["type"] == "msg.text"


async def test_concurrent_posts_share_commits_and_keep_the_order(server_app):
    """Posts that arrive together are committed together (group commit), each with its
    own answer: a box's events keep one order of seq, position and time, every key is
    recorded once, and a key sent twice at once is answered once and replayed once."""
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        stranger = await signup_login(http, "eve@example.com", name="Eve")
        url = f"/boxes/{box['id']}/events"

        def send(user, key=None, body=None):
            headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
            return http.post(url, json=body or {"type": "msg.text", "content": {"encrypted": ciphertext()}}, headers=headers)

        twice = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        bodies = [{"type": "msg.text", "content": {"encrypted": ciphertext()}} for _ in range(30)]
        requests = [send(alice if n % 2 else bob, key=f"k{n}" if n % 3 else None, body=bodies[n]) for n in range(30)]
        requests += [send(bob, key="same", body=twice), send(bob, key="same", body=twice), send(stranger)]
        with slow(app):  # a route's writer among them
            routed = send(alice)
        answers = await asyncio.gather(*requests, routed)
        made, same, stranger_answer = answers[:30], answers[30:32], answers[32]
        assert all(a.status_code == 201 for a in made + same + [answers[-1]]), [a.text for a in answers]
        assert stranger_answer.status_code == 403
        assert same[0].content == same[1].content and sorted(a.headers.get("idempotent-replayed", "") for a in same) == ["", "true"]
        ids = {a.json()["id"] for a in made} | {same[0].json()["id"], answers[-1].json()["id"]}
        assert len(ids) == 32
        listed = (await http.get(url, headers=alice.headers)).json()
        texts = [e for e in listed if e["type"] == "msg.text"]
        assert {e["id"] for e in texts} == ids
        assert [e["server_event_created_at"] for e in texts] == sorted(e["server_event_created_at"] for e in texts)
        async with app.state.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT seq, pos FROM events WHERE box_id = :b ORDER BY seq"), {"b": box["id"]})).all()
        assert [r.pos for r in rows if r.pos is not None] == list(range(1, len([r for r in rows if r.pos is not None]) + 1))
        count = await http.head(url, headers=alice.headers)
        assert int(count.headers["x-total-count"]) == len(listed)
        for n in range(30):  # every key replays its own answer
            if n % 3:
                replay = await send(alice if n % 2 else bob, key=f"k{n}", body=bodies[n])
                assert replay.status_code == 201 and replay.content == made[n].content
        assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] == 15 + 1 + 1  # Bob's posts, his key sent twice, his join
        # Counters moved once per group for all its posts: Bob's unread are Alice's posts.
        assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).json()["events_count"] == 15 + 1


@pytest.mark.postgres
async def test_a_saturated_fast_pool_hands_requests_to_the_routes(tmp_path, pg_database, monkeypatch):
    """The fast path's own connections all busy for the pool's timeout: the routes answer
    (from their pool), nothing is lost or written twice."""
    from boxtui.server import db as server_db
    from boxtui.server import fastpath
    from tests.conftest import _running

    monkeypatch.setattr(fastpath, "PG_POOL_SIZE", 1)
    monkeypatch.setattr(server_db, "POOL_TIMEOUT", 0.3)
    await _truncate_pg(pg_database)
    async for app in _running(make_settings(tmp_path / "data", pg_database)):
        async with asgi_client(app) as http:
            alice, bob, box = await box_with_member(http)
            url = f"/boxes/{box['id']}/events"
            before = fast_answers(app)
            async with app.state.fast_path._connection():  # its only connection
                posted = await http.post(url, json={"type": "msg.text", "content": {"encrypted": "QUJD"}}, headers={**bob.headers, "Idempotency-Key": "k"})
                page = await http.get(url, headers=bob.headers)
            assert posted.status_code == 201 and page.status_code == 200
            assert fast_answers(app) == before
            again = await http.post(url, json={"type": "msg.text", "content": {"encrypted": "QUJD"}}, headers={**bob.headers, "Idempotency-Key": "k"})
            assert again.content == posted.content and again.headers["idempotent-replayed"] == "true"
            assert [e["id"] for e in (await http.get(url, headers=bob.headers)).json()][-1] == posted.json()["id"]


@pytest.mark.postgres
async def test_requests_waiting_for_a_fast_path_connection_get_it_in_turn(tmp_path, pg_database, monkeypatch):
    """The fast path's requests wait for a connection in turn: the one given back goes
    to the request that has waited longest, and one that asks as it comes back waits
    behind those already waiting (asyncpg's pool queue lets such a newcomer take it
    when it asks before the woken waiter runs, and sends the waiter to the back of the
    line: the tail of a loaded server's latency, benchmarks/PROFILE.md)."""
    from boxtui.server import fastpath
    from tests.conftest import _running

    monkeypatch.setattr(fastpath, "PG_POOL_SIZE", 1)
    await _truncate_pg(pg_database)
    async for app in _running(make_settings(tmp_path / "data", pg_database)):
        fast, order = app.state.fast_path, []

        async def page(name: str) -> None:
            async with fast._connection() as conn:
                order.append((name, await conn.fetchval("SELECT 1")))

        held = await fast._acquire()
        waiting = [asyncio.create_task(page(name)) for name in ("first", "second")]
        await until(lambda: len(fast.turns._waiters or ()) == 2)
        await fast._release(held)
        await page("newcomer")  # asks in the same turn of the loop as the connection comes back
        await asyncio.gather(*waiting)
        assert order == [("first", 1), ("second", 1), ("newcomer", 1)]


async def test_a_recorded_key_in_a_group_sends_only_its_post_to_the_route(server_app):
    """Posts committed together, one of them under an Idempotency-Key another request
    recorded first: that one is the route's replay, the others are written once (on
    PostgreSQL the call that met the key wrote nothing, and the others go again)."""
    app = server_app
    calls: list[tuple[bool, bool, int]] | None = None
    if app.state.engine.dialect.name == "postgresql":
        calls, write = [], app.state.fast_path._write_posts

        async def spied(conn, posts, **options):  # (the taken key among them, it went to the app, posts written)
            written, again = await write(conn, posts, **options)
            keyed = [n for n, post in enumerate(posts) if post.text.key == "taken"]
            calls.append((bool(keyed), all(n not in written and n not in again for n in keyed), len(written)))
            return written, again

        app.state.fast_path._write_posts = spied
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        taken = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        with slow(app):
            first = await http.post(url, json=taken, headers={**bob.headers, "Idempotency-Key": "taken"})
        assert first.status_code == 201
        before = fast_answers(app)
        bodies = [{"type": "msg.text", "content": {"encrypted": ciphertext()}} for _ in range(8)]
        answers = await asyncio.gather(
            http.post(url, json=taken, headers={**bob.headers, "Idempotency-Key": "taken"}),
            *(http.post(url, json=body, headers={**alice.headers, "Idempotency-Key": f"fresh-{n}"}) for n, body in enumerate(bodies)),
        )
        replay, fresh = answers[0], answers[1:]
        assert replay.content == first.content and replay.headers["idempotent-replayed"] == "true"
        assert [a.status_code for a in fresh] == [201] * 8 and fast_answers(app) == before + 8
        texts = [e for e in (await http.get(url, headers=alice.headers)).json() if e["type"] == "msg.text"]
        assert texts[0]["id"] == first.json()["id"] and len(texts) == 9
        assert {e["id"] for e in texts[1:]} == {a.json()["id"] for a in fresh}
        if calls is not None:  # PostgreSQL: the call that met the key wrote nothing, and handed that post to the app
            assert [(met, handed, written) for met, handed, written in calls if met] == [(True, True, 0)]


async def test_an_expired_key_is_recorded_again_by_the_fast_path(server_app):
    """A key whose record has expired is a new key: the fast path writes the post and
    takes the record over (a live one it leaves to the route's replay)."""
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        headers = {**bob.headers, "Idempotency-Key": "daily"}
        first = await http.post(url, json=body, headers=headers)
        async with app.state.sessionmaker() as db:  # a day passes for this key
            await db.execute(text("UPDATE idempotency_keys SET expires_at = created_at WHERE key = 'daily'"))
            await db.commit()
        before = fast_answers(app)
        again = await http.post(url, json=body, headers=headers)
        assert fast_answers(app) == before + 1
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers and again.json()["id"] != first.json()["id"]
        replay = await http.post(url, json=body, headers=headers)
        assert replay.content == again.content and replay.headers["idempotent-replayed"] == "true" and fast_answers(app) == before + 1
        texts = [e["id"] for e in (await http.get(url, headers=alice.headers)).json() if e["type"] == "msg.text"]
        assert texts == [first.json()["id"], again.json()["id"]]


async def test_a_post_right_after_a_rename_shows_the_new_name(server_app):
    """The fast path keeps what a post's answer shows of its sender and box for a few
    seconds (PostgreSQL); a rename inside that time is in the next answer all the same
    (the call checks it under the lock, and a post it does not place goes again, read
    afresh)."""
    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        before = fast_answers(app)
        first = await http.post(url, json={"type": "msg.text", "content": {"encrypted": ciphertext()}}, headers=bob.headers)
        renamed = await http.patch(f"/identities/{bob.id}", json={"display_name": "Robert", "avatar_url": "https://example.com/r.png"}, headers=bob.headers)
        assert renamed.status_code == 200, renamed.text
        second = await http.post(url, json={"type": "msg.text", "content": {"encrypted": ciphertext()}}, headers=bob.headers)
        assert first.status_code == second.status_code == 201 and fast_answers(app) == before + 2
        assert first.json()["sender"] != second.json()["sender"]
        with slow(app):
            routed = await http.post(url, json={"type": "msg.text", "content": {"encrypted": ciphertext()}}, headers=bob.headers)
        assert second.json()["sender"] == routed.json()["sender"]


@pytest.mark.postgres
async def test_a_post_whose_time_is_behind_its_boxs_newest_event_takes_that_time(tmp_path, pg_database, monkeypatch):
    """PostgreSQL renders a post's answer (with the app's time) before the call that
    places it; another process may take the box's lock first with a later time, or its
    clock may be ahead. The call places the post at once, at the box's newest event's
    time (times never go backwards along seq), and the answer and the Idempotency-Key
    record show the time placed: no second call, nothing for the route."""
    from datetime import timedelta

    from boxtui.core.timefmt import utcnow
    from boxtui.server import fastpath
    from tests.conftest import _running

    await _truncate_pg(pg_database)
    async for app in _running(make_settings(tmp_path / "data", pg_database)):
        async with asgi_client(app) as http:
            alice, bob, box = await box_with_member(http)
            url = f"/boxes/{box['id']}/events"
            newest = await post_text(http, alice, box["id"])  # the box's newest event: now
            calls: list[int] = []
            write_posts = fastpath.PostgresFastPath._write_posts

            async def counted(self, conn, posts, **kwargs):
                calls.append(len(posts))
                return await write_posts(self, conn, posts, **kwargs)

            monkeypatch.setattr(fastpath.PostgresFastPath, "_write_posts", counted)
            monkeypatch.setattr(fastpath, "utcnow", lambda: utcnow() - timedelta(hours=1))  # this process an hour behind
            before = fast_answers(app)
            body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
            behind = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": "behind"})
            assert behind.status_code == 201 and fast_answers(app) == before + 1
            assert calls == [1]  # one call, placed
            monkeypatch.setattr(fastpath, "utcnow", utcnow)
            assert behind.json()["server_event_created_at"] == newest["server_event_created_at"]
            listed = (await http.get(url, headers=bob.headers)).json()
            assert listed[-1] == behind.json()
            stamps = [e["server_event_created_at"] for e in listed]
            assert stamps == sorted(stamps)
            replay = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": "behind"})
            assert replay.content == behind.content and replay.headers["idempotent-replayed"] == "true"


async def test_a_boxs_times_never_go_backwards_whatever_the_clocks(server_app):
    """The box's newest event is an hour ahead of this process's clock (written by a
    server whose clock is ahead, or before this one's was set back). Every way an event
    is written — the fast path, the text route, the routes' other events — gives the new
    event that time rather than going back, and each answer shows the time written."""
    from datetime import timedelta

    from sqlalchemy import update

    from boxtui.core.timefmt import format_time, utcnow
    from boxtui.server.events.models import EventRow

    app = server_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        ahead = utcnow() + timedelta(hours=1)
        first = await post_text(http, alice, box["id"])
        async with app.state.sessionmaker() as db:
            await db.execute(update(EventRow).where(EventRow.id == first["id"]).values(created_at=ahead))
            await db.commit()
        body = {"type": "msg.text", "content": {"encrypted": ciphertext()}}
        before = fast_answers(app)
        fast = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": "fast"})
        assert fast.status_code == 201 and fast_answers(app) == before + 1
        with slow(app):
            routed = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": "routed"})
            assert routed.status_code == 201
            added = await batch(http, alice, box["id"], [rule("dora@example.com")])  # an access.add, through append_event
        assert fast_answers(app) == before + 1
        listed = (await http.get(url, headers=alice.headers)).json()
        assert [e["id"] for e in listed[-3:]] == [first["id"], fast.json()["id"], routed.json()["id"]]
        assert [e["server_event_created_at"] for e in listed[-3:]] == [format_time(ahead)] * 3
        assert [e["server_event_created_at"] for e in added] == [format_time(ahead)]
        for key, answer in (("fast", fast), ("routed", routed)):
            assert answer.json()["server_event_created_at"] == format_time(ahead)
            replay = await http.post(url, json=body, headers={**bob.headers, "Idempotency-Key": key})
            assert replay.content == answer.content
        # Once the clock is past the box's newest time, events take the clock's time again.
        async with app.state.sessionmaker() as db:
            await db.execute(update(EventRow).where(EventRow.box_id == box["id"]).values(created_at=utcnow() - timedelta(minutes=1)))
            await db.commit()
        later = await post_text(http, bob, box["id"])
        assert format_time(utcnow() - timedelta(seconds=30)) < later["server_event_created_at"] <= format_time(utcnow())


async def test_a_database_error_in_the_fast_path_goes_to_the_routes(sqlite_app):
    """SQLite refusing the fast path's statements (here: its connections closed under it)
    is never a 500: the routes do the request again, and answer."""
    import sqlite3

    app = sqlite_app
    async with asgi_client(app) as http:
        alice, bob, box = await box_with_member(http)
        url = f"/boxes/{box['id']}/events"
        fast = app.state.fast_path
        reader, writer = fast.reader, fast.writer
        fast.reader = sqlite3.connect(":memory:")
        fast.writer = sqlite3.connect(":memory:")
        fast.reader.close()
        fast.writer.close()
        try:
            before = fast_answers(app)
            posted = await http.post(url, json={"type": "msg.text", "content": {"encrypted": "QUJD"}}, headers=bob.headers)
            page = await http.get(url, headers=bob.headers)
            assert posted.status_code == 201 and page.status_code == 200
            assert page.json()[-1]["id"] == posted.json()["id"]
            assert fast_answers(app) == before
        finally:
            fast.reader, fast.writer = reader, writer
        assert (await http.get(url, headers=bob.headers)).status_code == 200
        assert fast_answers(app) == before + 1


@given(st.recursive(st.none() | st.booleans() | st.text() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20))  # fmt: skip
@settings(max_examples=400, deadline=None)
def test_orjson_writes_the_bytes_json_writes_for_views_without_floats(value):
    """Pages and text answers are written by orjson when what clients wrote in them has
    no float: byte for byte what the routes' ``JSONResponse`` writes, control
    characters, quotes, U+2028, astral characters, empty keys and 64-bit integers
    included (lone surrogates cannot be stored)."""
    from boxtui.server import fastpath

    try:
        expected = fastpath._json_body(value)
    except UnicodeEncodeError:  # a lone surrogate: refused on the way in, never in a view
        return
    assert fastpath._orjson_body(value) == expected
    assert fastpath._orjson_safe(value)
    assert not fastpath._orjson_safe({"n": [1.5]}) and not fastpath._orjson_safe([2**64]) and not fastpath._orjson_safe({1: "x"})
