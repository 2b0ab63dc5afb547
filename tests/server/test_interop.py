"""Interoperability with later releases of the original web client (PROTOCOL §10.13).

They name the link hash ``invitation_share_hash`` where the seeds say
``other_share_hash``, read the server share as ``misakey_share``, and expect an access
batch to report every invalid field at once.
"""

from __future__ import annotations

import pytest

from boxtui.core.encoding import b64u_encode
from boxtui.crypto import generate_box_keypair
from tests.server.helpers import assert_error, batch, box_with_member, create_box, post_event, random_key, rule, signup_login
from tests.server.test_keys import link_share


def renamed(key_share: dict[str, str]) -> dict[str, str]:
    """The key share as the later reference client sends it."""
    body = dict(key_share)
    body["invitation_share_hash"] = body.pop("other_share_hash")
    return body


async def test_a_box_made_with_invitation_share_hash_answers_under_both_names(http):
    alice = await signup_login(http, "alice@example.com")
    pair = generate_box_keypair()
    _, key_share = link_share(pair.secret_key, pair.public_key)
    digest = key_share["other_share_hash"]
    response = await http.post("/boxes", json={"title": "New client", "public_key": b64u_encode(pair.public_key), "key_share": renamed(key_share)}, headers=alice.headers)
    assert response.status_code == 201, response.text
    box = response.json()

    share = await http.get(f"/box-key-shares/{digest}", headers=alice.headers)
    assert share.json() == {
        "other_share_hash": digest,
        "invitation_share_hash": digest,
        "share": key_share["misakey_share"],
        "misakey_share": key_share["misakey_share"],
        "box_id": box["id"],
    }
    for name in ("invitation_share_hash", "other_share_hash"):
        preview = await http.get(f"/boxes/{box['id']}/public", params={name: digest})
        assert preview.status_code == 200 and preview.json()["title"] == "New client"
    both = await http.get(f"/boxes/{box['id']}/public", params={"other_share_hash": digest, "invitation_share_hash": digest})
    assert both.status_code == 200
    other_digest = link_share(pair.secret_key, pair.public_key)[1]["other_share_hash"]
    assert_error(
        await http.get(f"/boxes/{box['id']}/public", params={"other_share_hash": digest, "invitation_share_hash": other_digest}),
        400,
        invitation_share_hash="invalid",
    )
    assert_error(await http.get(f"/boxes/{box['id']}/public", params={"invitation_share_hash": "not-a-hash"}), 400, other_share_hash="malformed")
    assert_error(await http.get(f"/boxes/{box['id']}/public"), 400, other_share_hash="required")


async def test_key_share_bodies_take_either_name_but_not_two_different_values(http):
    alice = await signup_login(http, "alice@example.com")
    pair = generate_box_keypair()
    _, key_share = link_share(pair.secret_key, pair.public_key)
    _, another = link_share(pair.secret_key, pair.public_key)
    url, public_key = "/boxes", b64u_encode(pair.public_key)
    same = {**key_share, "invitation_share_hash": key_share["other_share_hash"]}
    assert (await http.post(url, json={"title": "Both", "public_key": public_key, "key_share": same}, headers=alice.headers)).status_code == 201
    clash = {**another, "invitation_share_hash": key_share["other_share_hash"]}
    assert_error(await http.post(url, json={"title": "Clash", "public_key": public_key, "key_share": clash}, headers=alice.headers), 400, **{"key_share.invitation_share_hash": "invalid"})
    neither = {k: v for k, v in another.items() if k != "other_share_hash"}
    assert_error(await http.post(url, json={"title": "None", "public_key": public_key, "key_share": neither}, headers=alice.headers), 400, **{"key_share.other_share_hash": "required"})
    short = renamed({**another, "other_share_hash": b64u_encode(b"short")})
    assert_error(await http.post(url, json={"title": "Short", "public_key": public_key, "key_share": short}, headers=alice.headers), 400, **{"key_share.other_share_hash": "invalid"})


async def test_state_key_share_takes_invitation_share_hash(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    pair = generate_box_keypair()
    _, key_share = link_share(pair.secret_key, pair.public_key)
    event = await post_event(http, alice, box["id"], {"type": "state.key_share", "extra": renamed(key_share)})
    assert event["extra"]["other_share_hash"] == key_share["other_share_hash"]
    share = await http.get(f"/box-key-shares/{key_share['other_share_hash']}", headers=alice.headers)
    assert share.json()["misakey_share"] == key_share["misakey_share"]
    clash = {**renamed(key_share), "other_share_hash": link_share(pair.secret_key, pair.public_key)[1]["other_share_hash"]}
    assert_error(await http.post(f"/boxes/{box['id']}/events", json={"type": "state.key_share", "extra": clash}, headers=alice.headers), 400, **{"extra.invitation_share_hash": "invalid"})


# --- access batches report every invalid field --------------------------------------------------


async def test_the_references_example_reports_both_fields(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    body = assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "mallformed"}, headers=alice.headers), 400, "bad_request")
    assert body["details"] == {"batch_type": "malformed", "events": "required"}
    body = assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": "other", "events": []}, headers=alice.headers), 400)
    assert body["details"] == {"batch_type": "malformed", "events": "required"}


async def test_every_problem_of_every_event_is_reported_and_nothing_changes(http):
    alice, bob, box = await box_with_member(http)
    url = f"/boxes/{box['id']}/batch-events"
    before = (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json()
    events = [
        {"type": "msg.text", "content": {"encrypted": "AAAA"}},
        {"type": "access.rm"},
        rule("not an email"),
        {"type": "access.add", "content": {"restriction_type": "group", "value": "x"}},
        {"type": "access.rm", "referrer_id": "zzz", "content": {}},
        {**rule("carol@example.com", auto_invite=True), "extra": {random_key(): "a", random_key(): "b"}},
        {**rule("example.com", "email_domain"), "extra": {random_key(): "x"}, "referrer_id": box["id"]},
        {"type": "access.add", "content": "not an object"},
        rule("dave@example.com"),  # fine on its own
    ]
    body = assert_error(await http.post(url, json={"batch_type": "access", "events": events}, headers=alice.headers), 400, "bad_request")
    assert body["origin"] == "body"
    assert body["details"] == {
        "batch_type": "malformed",
        "events.0.type": "malformed",
        "events.1.referrer_id": "required",
        "events.2.content.value": "invalid",
        "events.3.content.restriction_type": "invalid",
        "events.4.content": "invalid",
        "events.4.referrer_id": "malformed",
        "events.5.extra": "invalid",
        "events.6.extra": "invalid",
        "events.6.referrer_id": "invalid",
        "events.7.content": "malformed",
    }
    assert (await http.get(f"/boxes/{box['id']}/accesses", headers=alice.headers)).json() == before
    # The valid event alone goes through; problems that need the box still come one at a time.
    assert [e["content"]["value"] for e in await batch(http, alice, box["id"], [rule("dave@example.com")])] == ["dave@example.com"]
    assert_error(await http.post(url, json={"batch_type": "accesses", "events": [rule("dave@example.com")]}, headers=alice.headers), 409, **{"events.0.content": "conflict"})


@pytest.mark.parametrize("events", ["all", [5], [{"type": 5}]])
async def test_wrong_json_types_are_reported_with_the_other_problems(http, events):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    body = assert_error(await http.post(f"/boxes/{box['id']}/batch-events", json={"batch_type": 7, "events": events}, headers=alice.headers), 400)
    assert body["details"]["batch_type"] == "malformed"
    assert any(key.startswith("events") for key in body["details"]), body
