"""Access batches: all or nothing, kicks, auto-invites (PROTOCOL §4.1)."""

from __future__ import annotations

import json
import uuid

from tests.server.helpers import assert_error, batch, box_with_member, ciphertext, create_box, join, post_text, random_key, rule, signup_login


async def test_batch_returns_events_in_order_then_kicks(http):
    alice, bob, box = await box_with_member(http)
    bob_rule = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()[0]
    bob_join = next(e for e in (await http.get(f"/boxes/{box['id']}/events", headers=bob.headers)).json() if e["type"] == "member.join")
    result = await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": bob_rule["id"]}, rule("carol@example.com")])
    assert [e["type"] for e in result] == ["access.rm", "access.add", "member.kick"]
    removal, added, kick = result
    assert removal["referrer_id"] == bob_rule["id"] and removal["content"] is None
    assert added["content"] == {"restriction_type": "identifier", "value": "carol@example.com"}
    assert kick["sender"]["id"] == bob.id and kick["referrer_id"] == bob_join["id"]
    assert kick["content"]["kicker"]["id"] == alice.id
    assert kick["content"]["kicker"]["identifier_value"] == alice.email  # seen by the admin
    # Bob lost access at once.
    assert_error(await http.get(f"/boxes/{box['id']}/events", headers=bob.headers), 403, reason="no_access")
    assert (await http.get("/boxes/joined", headers=bob.headers)).json() == []
    listed = (await http.get(f"/boxes/{box['id']}/events", headers=alice.headers)).json()
    assert [e["type"] for e in listed] == ["create", "member.join", "member.kick"]
    # A kick counts as unread for the admin.
    assert (await http.get(f"/boxes/{box['id']}", headers=alice.headers)).json()["events_count"] == 2


async def test_member_still_matching_a_rule_is_not_kicked(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@corp.example")
    box = await create_box(http, alice)
    await batch(http, alice, box["id"], [rule("corp.example", "email_domain")])
    await join(http, bob, box["id"])
    rules = {r["content"]["restriction_type"]: r for r in (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()}
    # Removing the identifier rule written at join: the domain rule still lets Bob in.
    result = await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": rules["identifier"]["id"]}])
    assert [e["type"] for e in result] == ["access.rm"]
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).status_code == 200
    # Removing the domain rule too kicks him.
    result = await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": rules["email_domain"]["id"]}])
    assert [e["type"] for e in result] == ["access.rm", "member.kick"]


async def test_public_box_kicks_nobody(http):
    alice, bob, box = await box_with_member(http)
    await http.post(f"/boxes/{box['id']}/events", json={"type": "state.access_mode", "content": {"value": "public"}}, headers=alice.headers)
    bob_rule = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()[0]
    assert [e["type"] for e in await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": bob_rule["id"]}])] == ["access.rm"]
    await post_text(http, bob, box["id"])


async def test_all_or_nothing(http):
    alice, bob, box = await box_with_member(http)
    before = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()
    bob_rule = before[0]
    events = [{"type": "access.rm", "referrer_id": bob_rule["id"]}, rule("x@example.com"), {"type": "access.rm", "referrer_id": str(uuid.uuid4())}]
    assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "accesses", "events": events}, headers=alice.headers), 404, "not_found")
    assert (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json() == before
    assert (await http.get(f"/boxes/{box['id']}", headers=bob.headers)).status_code == 200
    # Removing the same rule twice in one batch: the second finds nothing.
    twice = [{"type": "access.rm", "referrer_id": bob_rule["id"]}, {"type": "access.rm", "referrer_id": bob_rule["id"]}]
    assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "accesses", "events": twice}, headers=alice.headers), 404)
    # An already removed rule.
    await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": bob_rule["id"]}])
    await batch(http, alice, box["id"], [{"type": "access.rm", "referrer_id": bob_rule["id"]}], status=404)


async def test_duplicate_rules_conflict(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    await batch(http, alice, box["id"], [rule("Bob@Example.com")])
    body = assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "accesses", "events": [rule("bob@example.com")]}, headers=alice.headers), 409, "conflict")
    assert "events.0.content" in body["details"]
    assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "accesses", "events": [rule("c@example.com"), rule("c@example.com")]}, headers=alice.headers), 409)
    # The same value under the other restriction type is a different rule.
    await batch(http, alice, box["id"], [rule("example.com", "email_domain")])


async def test_batch_validation(http):
    alice, bob, box = await box_with_member(http)
    url = f"/boxes/{box['id']}/batch-events"
    cases = [
        ({"batch_type": "other", "events": [rule("a@example.com")]}, "batch_type"),
        ({"batch_type": "accesses", "events": []}, "events"),
        ({"batch_type": "accesses"}, "events"),
        ({"batch_type": "accesses", "events": [{"type": "msg.text", "content": {"encrypted": "AAAA"}}]}, "events.0.type"),
        ({"batch_type": "accesses", "events": [rule("a@example.com"), {"type": "member.kick"}]}, "events.1.type"),
        ({"batch_type": "accesses", "events": [rule("not an email")]}, "events.0.content.value"),
        ({"batch_type": "accesses", "events": [rule("a@example.com", "email_domain")]}, "events.0.content.value"),
        ({"batch_type": "accesses", "events": [rule("a@example.com", "group")]}, "events.0.content.restriction_type"),
        ({"batch_type": "accesses", "events": [{"type": "access.add"}]}, "events.0.content"),
        ({"batch_type": "accesses", "events": [{"type": "access.rm"}]}, "events.0.referrer_id"),
        ({"batch_type": "accesses", "events": [{"type": "access.rm", "referrer_id": "zzz"}]}, "events.0.referrer_id"),
        ({"batch_type": "accesses", "events": [{**rule("a@example.com"), "extra": {random_key(): "x"}}]}, "events.0.extra"),
    ]
    for body, field in cases:
        err = assert_error(await http.post(url, json=body, headers=alice.headers), 400, "bad_request")
        assert field in err["details"], (body, err)
    assert_error(await http.post(url, json={"batch_type": "accesses", "events": [rule("a@example.com")]}, headers=bob.headers), 403)
    assert_error(await http.post(f"/boxes/{uuid.uuid4()}/batch-events", json={"batch_type": "accesses", "events": [rule("a@example.com")]}, headers=alice.headers), 403)
    carol = await signup_login(http, "carol@example.com", acr=1)
    carol_box = await create_box(http, carol)
    assert_error(await http.post(f"/boxes/{carol_box['id']}/batch-events", json={"batch_type": "accesses", "events": [rule("a@example.com")]}, headers=carol.headers), 403, acr="forbidden")


async def test_auto_invite(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice, "Invited")
    url = f"/boxes/{box['id']}/batch-events"
    invitation = ciphertext()

    def invite_rule(email: str, extra=None):
        return {"batch_type": "accesses", "events": [{**rule(email, auto_invite=True), **({"extra": extra} if extra is not None else {})}]}

    # Bob has no public key yet → 409.
    assert_error(await http.post(url, json=invite_rule(bob.email, {random_key(): invitation}), headers=alice.headers), 409, "conflict")
    assert_error(await http.post(url, json=invite_rule("nobody@example.com", {random_key(): invitation}), headers=alice.headers), 409)
    bob_key = random_key()
    await http.patch(f"/identities/{bob.id}", json={"public_key": bob_key}, headers=bob.headers)
    assert_error(await http.post(url, json=invite_rule(bob.email, {random_key(): invitation}), headers=alice.headers), 400)  # not his key
    assert_error(await http.post(url, json=invite_rule(bob.email), headers=alice.headers), 400)  # extra missing
    assert_error(await http.post(url, json=invite_rule(bob.email, {bob_key: invitation, random_key(): invitation}), headers=alice.headers), 400)
    assert_error(await http.post(url, json=invite_rule(bob.email, {bob_key: 5}), headers=alice.headers), 400)
    domain_invite = {"batch_type": "accesses", "events": [{**rule("example.com", "email_domain", auto_invite=True), "extra": {bob_key: invitation}}]}
    assert_error(await http.post(url, json=domain_invite, headers=alice.headers), 400)

    hub = http._transport.app.state.hub
    bob_socket = hub.connect(bob.id)
    try:
        (added,) = await batch(http, alice, box["id"], invite_rule(bob.email, {bob_key: invitation})["events"])
        assert added["content"] == {"restriction_type": "identifier", "value": bob.email, "auto_invite": True}
        assert added["extra"] == {bob_key: invitation}
        (action,) = (await http.get("/crypto/actions", headers=bob.headers)).json()
        assert action["type"] == "invitation" and action["box_id"] == box["id"]
        assert action["encryption_public_key"] == bob_key and action["encrypted"] == invitation
        notification = json.loads(bob_socket.queue.get_nowait())
        assert notification == {"type": "notification", "object": {"type": "box.auto_invite", "details": {"box_id": box["id"], "box_title": "Invited", "cryptoaction_id": action["id"]}}}
        assert bob_socket.queue.empty()  # access events go to the admin only
    finally:
        hub.disconnect(bob_socket)
    await join(http, bob, box["id"])
