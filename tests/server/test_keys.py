"""Keys between people (PROTOCOL §7): link key shares, the public preview, crypto actions."""

from __future__ import annotations

import os

from boxtui.core.encoding import b64_decode_any, b64u_encode
from boxtui.crypto import (
    combine_shares,
    generate_box_keypair,
    open_invitation_key_share,
    seal_invitation_key_share,
    share_hash,
    split_secret_key,
)
from tests.server.helpers import assert_error, batch, create_box, invite, join, post_event, random_key, rule, signup_login

UNKNOWN_BOX = "00000000-0000-4000-8000-000000000000"


def link_share(secret_key: bytes, public_key: bytes) -> tuple[bytes, dict[str, str]]:
    """``(invitation share, key_share body)`` for a box key, as a client makes them."""
    invitation, server = split_secret_key(secret_key)
    body = {
        "misakey_share": b64u_encode(server),
        "other_share_hash": share_hash(invitation),
        "encrypted_invitation_key_share": seal_invitation_key_share(invitation, public_key),
    }
    return invitation, body


async def box_with_link(http, user, title="Linked"):
    pair = generate_box_keypair()
    invitation, key_share = link_share(pair.secret_key, pair.public_key)
    response = await http.post("/boxes", json={"title": title, "public_key": b64u_encode(pair.public_key), "key_share": key_share}, headers=user["headers"])
    assert response.status_code == 201, response.text
    return response.json(), pair, invitation, key_share


async def test_member_rebuilds_the_box_key_from_a_link(http):
    alice = await signup_login(http, "alice@example.com", name="Alice")
    bob = await signup_login(http, "bob@example.com")
    box, pair, invitation, key_share = await box_with_link(http, alice)
    digest = key_share["other_share_hash"]

    # Bob, holding the link, previews the box without logging in...
    preview = await http.get(f"/boxes/{box['id']}/public", params={"other_share_hash": digest})
    assert preview.status_code == 200, preview.text
    assert preview.json() == {
        "title": "Linked",
        "creator": {"id": alice["id"], "display_name": "Alice", "avatar_url": None, "identifier_value": "", "identifier_kind": ""},
    }
    # ...but gets the server share only once he is a member.
    assert_error(await http.get(f"/box-key-shares/{digest}", headers=bob["headers"]), 403)
    await batch(http, alice, box["id"], [rule("example.com", "email_domain")])
    await join(http, bob, box["id"])
    share = await http.get(f"/box-key-shares/{digest}", headers=bob["headers"])
    assert share.status_code == 200, share.text
    assert share.json() == {
        "other_share_hash": digest,
        "share": key_share["misakey_share"],
        "box_id": box["id"],
        "invitation_share_hash": digest,
        "misakey_share": key_share["misakey_share"],
    }
    assert combine_shares(b64_decode_any(share.json()["share"]), invitation) == pair.secret_key

    # Any member can show the link again.
    encrypted = await http.get("/box-key-shares/encrypted-invitation-key-share", params={"box_id": box["id"]}, headers=bob["headers"])
    assert encrypted.status_code == 200
    assert open_invitation_key_share(encrypted.json()["encrypted_invitation_key_share"], pair.secret_key) == invitation


async def test_key_share_errors(http):
    alice = await signup_login(http, "alice@example.com")
    eve = await signup_login(http, "eve@example.com")
    box, _, _, key_share = await box_with_link(http, alice)
    plain = await create_box(http, alice, "No link")
    unknown = share_hash(os.urandom(32))

    assert_error(await http.get(f"/box-key-shares/{unknown}", headers=alice["headers"]), 404, other_share_hash="not_found")
    assert_error(await http.get("/box-key-shares/short", headers=alice["headers"]), 400, other_share_hash="malformed")
    assert_error(await http.get(f"/box-key-shares/{key_share['other_share_hash']}"), 401)

    url = "/box-key-shares/encrypted-invitation-key-share"
    assert (await http.get(url, params={"box_id": plain["id"]}, headers=alice["headers"])).json() == {"encrypted_invitation_key_share": None}
    assert_error(await http.get(url, headers=alice["headers"]), 400, box_id="required")
    assert_error(await http.get(url, params={"box_id": "x"}, headers=alice["headers"]), 400, box_id="malformed")
    assert_error(await http.get(url, params={"box_id": box["id"]}, headers=eve["headers"]), 403)
    assert_error(await http.get(url, params={"box_id": UNKNOWN_BOX}, headers=eve["headers"]), 403)


async def test_public_preview_rules(http):
    alice = await signup_login(http, "alice@example.com")
    box, _, _, key_share = await box_with_link(http, alice)
    other, _, _, other_share = await box_with_link(http, alice, "Other")
    digest = key_share["other_share_hash"]
    url = f"/boxes/{box['id']}/public"

    assert_error(await http.get(url, params={"other_share_hash": share_hash(os.urandom(32))}), 404, other_share_hash="not_found")
    assert_error(await http.get(url, params={"other_share_hash": other_share["other_share_hash"]}), 403, other_share_hash="forbidden")
    assert_error(await http.get(url), 400, other_share_hash="required")
    assert_error(await http.get(url, params={"other_share_hash": "not a hash"}), 400, other_share_hash="malformed")
    assert_error(await http.get("/boxes/nope/public", params={"other_share_hash": digest}), 400, box_id="malformed")
    assert (await http.get(url, params={"other_share_hash": digest})).status_code == 200
    assert (await http.get(f"/boxes/{other['id']}/public", params={"other_share_hash": digest})).status_code == 403


async def test_new_key_share_retires_the_old_link_and_notifies_members(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box, pair, _, old = await box_with_link(http, alice)
    await invite(http, alice, box["id"], "bob@example.com")
    await join(http, bob, box["id"])
    bob_key = random_key()
    assert (await http.patch(f"/identities/{bob['id']}", json={"public_key": bob_key}, headers=bob["headers"])).status_code == 200

    _, new = link_share(pair.secret_key, pair.public_key)
    await post_event(http, alice, box["id"], {"type": "state.key_share", "extra": new})
    assert_error(await http.get(f"/box-key-shares/{old['other_share_hash']}", headers=bob["headers"]), 404)
    assert_error(await http.get(f"/boxes/{box['id']}/public", params={"other_share_hash": old["other_share_hash"]}), 404)
    assert (await http.get(f"/box-key-shares/{new['other_share_hash']}", headers=bob["headers"])).status_code == 200

    actions = await http.get("/crypto/actions", headers=bob["headers"])
    assert actions.status_code == 200
    (action,) = actions.json()
    assert action["type"] == "set_box_key_share"
    assert action["box_id"] == box["id"]
    assert action["encrypted"] == new["encrypted_invitation_key_share"]
    assert set(action) == {"id", "type", "box_id", "encryption_public_key", "encrypted", "created_at"}
    assert (await http.get("/crypto/actions", headers=alice["headers"])).json() == []


async def test_crypto_actions_are_own_oldest_first_and_deletable(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    bob_key = random_key()
    await http.patch(f"/identities/{bob['id']}", json={"public_key": bob_key}, headers=bob["headers"])
    boxes = [await create_box(http, alice, f"Box {n}") for n in range(2)]
    for box in boxes:
        await batch(http, alice, box["id"], [{**rule("bob@example.com", auto_invite=True), "extra": {bob_key: "sealed-invitation"}}])

    actions = (await http.get("/crypto/actions", headers=bob["headers"])).json()
    assert [(a["type"], a["box_id"], a["encryption_public_key"], a["encrypted"]) for a in actions] == [
        ("invitation", boxes[0]["id"], bob_key, "sealed-invitation"),
        ("invitation", boxes[1]["id"], bob_key, "sealed-invitation"),
    ]
    first = actions[0]["id"]
    assert_error(await http.delete(f"/crypto/actions/{first}", headers=alice["headers"]), 404, id="not_found")
    assert (await http.delete(f"/crypto/actions/{first}", headers=bob["headers"])).status_code == 204
    assert_error(await http.delete(f"/crypto/actions/{first}", headers=bob["headers"]), 404)
    assert_error(await http.delete("/crypto/actions/x", headers=bob["headers"]), 400, id="malformed")
    assert [a["id"] for a in (await http.get("/crypto/actions", headers=bob["headers"])).json()] == [actions[1]["id"]]
    assert_error(await http.get("/crypto/actions"), 401)


async def test_a_link_share_cannot_serve_two_boxes(http):
    alice = await signup_login(http, "alice@example.com")
    box, pair, _, key_share = await box_with_link(http, alice)
    response = await http.post("/boxes", json={"title": "Copy", "public_key": random_key(), "key_share": key_share}, headers=alice["headers"])
    assert_error(response, 409, other_share_hash="conflict")
    # The same box may re-send its own share.
    await post_event(http, alice, box["id"], {"type": "state.key_share", "extra": key_share})
    assert (await http.get(f"/box-key-shares/{key_share['other_share_hash']}", headers=alice["headers"])).status_code == 200


async def test_crypto_actions_page_and_count(http):
    user = await signup_login(http, "pager@example.org")
    assert (await http.get("/crypto/actions", params={"limit": "2"}, headers=user["headers"])).json() == []
    head = await http.head("/crypto/actions", headers=user["headers"])
    assert head.status_code == 204 and head.headers["X-Total-Count"] == "0" and head.content == b""
    for params in ({"limit": "-1"}, {"limit": "1001"}, {"offset": "x"}):
        response = await http.get("/crypto/actions", params=params, headers=user["headers"])
        assert response.status_code == 400 and response.json()["code"] == "bad_request"
