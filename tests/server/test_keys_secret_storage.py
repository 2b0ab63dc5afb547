"""Key backup (PROTOCOL §7): GET/PUT /crypto/secret-storage with ETag / If-Match."""

from __future__ import annotations

from tests.server.helpers import signup_login


async def test_secret_storage_versions_with_if_match(http):
    alice = await signup_login(http, "alice@example.com")
    headers = alice["headers"]

    missing = await http.get("/crypto/secret-storage", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"

    created = await http.put("/crypto/secret-storage", json={"data": "vault-v1"}, headers=headers)
    assert created.status_code == 200
    assert created.json() == {"version": 1}
    assert created.headers["etag"] == '"1"'

    read = await http.get("/crypto/secret-storage", headers=headers)
    assert read.status_code == 200
    assert read.json() == {"version": 1, "data": "vault-v1"}
    assert read.headers["etag"] == '"1"'

    # A second PUT without If-Match would overwrite blindly: refused.
    blind = await http.put("/crypto/secret-storage", json={"data": "other"}, headers=headers)
    assert blind.status_code == 412
    assert blind.json()["code"] == "precondition_failed"

    updated = await http.put("/crypto/secret-storage", json={"data": "vault-v2"}, headers={**headers, "If-Match": read.headers["etag"]})
    assert updated.status_code == 200
    assert updated.json() == {"version": 2}

    stale = await http.put("/crypto/secret-storage", json={"data": "lost"}, headers={**headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await http.get("/crypto/secret-storage", headers=headers)).json() == {"version": 2, "data": "vault-v2"}

    garbled = await http.put("/crypto/secret-storage", json={"data": "x"}, headers={**headers, "If-Match": "two"})
    assert garbled.status_code == 400
    assert garbled.json()["details"] == {"if-match": "malformed"}


async def test_secret_storage_is_per_identity_and_needs_acr2(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    assert (await http.put("/crypto/secret-storage", json={"data": "alice"}, headers=alice["headers"])).status_code == 200
    assert (await http.get("/crypto/secret-storage", headers=bob["headers"])).status_code == 404
    # If-Match against a backup that does not exist yet is stale by definition.
    assert (await http.put("/crypto/secret-storage", json={"data": "b"}, headers={**bob["headers"], "If-Match": '"1"'})).status_code == 412

    carol = await signup_login(http, "carol@example.com", acr=1)
    low = await http.get("/crypto/secret-storage", headers=carol["headers"])
    assert low.status_code == 403
    assert low.json()["details"] == {"acr": "forbidden", "required_acr": "2"}
    assert (await http.get("/crypto/secret-storage")).status_code == 401


async def test_secret_storage_rejects_bad_bodies(http):
    alice = await signup_login(http, "alice@example.com")
    for body in ({}, {"data": ""}, {"data": 3}, {"data": "x", "extra": 1}):
        answer = await http.put("/crypto/secret-storage", json=body, headers=alice["headers"])
        assert answer.status_code == 400, body
        assert answer.json()["code"] == "bad_request"
    not_json = await http.put("/crypto/secret-storage", content=b"{nope", headers={**alice["headers"], "Content-Type": "application/json"})
    assert not_json.status_code == 400
