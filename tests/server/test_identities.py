"""``/identities/me``, ``PATCH /identities/{id}``, ``/identities/pubkey`` (PROTOCOL §2)."""

from __future__ import annotations

from tests.server.helpers import assert_error, random_key, signup_login


async def test_me_and_patch_self(http):
    alice = await signup_login(http, "alice@example.com", name="Alice")
    me = await http.get("/identities/me", headers=alice.headers)
    assert me.status_code == 200
    assert me.json() == {**alice.identity, "public_key": None}
    key = random_key()
    patched = await http.patch(f"/identities/{alice.id}", json={"display_name": "Alice L.", "avatar_url": "https://example.com/a.png", "public_key": key}, headers=alice.headers)
    assert patched.status_code == 200
    assert patched.json()["display_name"] == "Alice L."
    assert patched.json()["avatar_url"] == "https://example.com/a.png"
    assert patched.json()["public_key"] == key
    assert (await http.get("/identities/me", headers=alice.headers)).json()["public_key"] == key
    # Fields left out stay as they are; null clears the avatar.
    cleared = await http.patch(f"/identities/{alice.id}", json={"avatar_url": None}, headers=alice.headers)
    assert cleared.json()["avatar_url"] is None and cleared.json()["display_name"] == "Alice L."


async def test_patch_rules(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    assert_error(await http.patch(f"/identities/{bob.id}", json={"display_name": "x"}, headers=alice.headers), 403, "forbidden")
    assert_error(await http.patch("/identities/not-a-uuid", json={"display_name": "x"}, headers=alice.headers), 400, id="malformed")
    for bad_key in ("short", random_key() + "AAAA", "a+b/" * 11, 42):
        assert_error(await http.patch(f"/identities/{alice.id}", json={"public_key": bad_key}, headers=alice.headers), 400)
    assert_error(await http.patch(f"/identities/{alice.id}", json={"display_name": ""}, headers=alice.headers), 400, display_name="invalid")
    assert_error(await http.patch(f"/identities/{alice.id}", json={"display_name": None}, headers=alice.headers), 400)
    assert_error(await http.patch(f"/identities/{alice.id}", json={"email": "x@example.com"}, headers=alice.headers), 400, email="invalid")
    assert_error(await http.patch(f"/identities/{alice.id}", json={"avatar_url": "javascript:alert(1)"}, headers=alice.headers), 400, avatar_url="invalid")


async def test_pubkey_lookup(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    key = random_key()
    await http.patch(f"/identities/{bob.id}", json={"public_key": key}, headers=bob.headers)
    found = await http.get("/identities/pubkey", params={"identifier_value": "BOB@example.com"}, headers=alice.headers)
    assert found.status_code == 200 and found.json() == [key]
    assert (await http.get("/identities/pubkey", params={"identifier_value": "nobody@example.com"}, headers=alice.headers)).json() == []
    # An identity without a key answers [] too.
    carol = await signup_login(http, "carol@example.com")
    assert (await http.get("/identities/pubkey", params={"identifier_value": carol.email}, headers=alice.headers)).json() == []
    assert_error(await http.get("/identities/pubkey", headers=alice.headers), 400, identifier_value="required")
    assert_error(await http.get("/identities/pubkey", params={"identifier_value": "bob@example.com"}), 401)
