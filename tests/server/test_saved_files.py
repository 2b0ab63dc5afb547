"""Saved files (PROTOCOL §6, seed 003): self only, ACR 2, blobs kept while referenced."""

from __future__ import annotations

import json
import asyncio
import os

from tests.server.helpers import assert_error, create_box, invite, join, post_event, signup_login
from tests.server.test_files import blob_files, blob_path, limited_http, upload  # noqa: F401 - fixture

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def save_body(user, file_id, **extra):
    return {"encrypted_file_id": file_id, "identity_id": user["id"], "encrypted_metadata": "sealed-to-vault", "key_fingerprint": "fp", **extra}


async def direct_upload(http, user, data: bytes, status: int = 201, identity_id: str | None = None, **fields):
    response = await http.post(
        f"/box-users/{identity_id or user['id']}/saved-files",
        files={"encrypted_file": ("blob", data)},
        data={"encrypted_metadata": "sealed-to-vault", "key_fingerprint": "fp", **fields},
        headers=user["headers"],
    )
    assert response.status_code == status, response.text
    return response


async def test_save_list_count_and_unsave(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    first, second = [(await upload(http, alice, box)).json()["content"]["encrypted_file_id"] for _ in range(2)]

    # id and created_at from the seed's body are ignored: the server sets them.
    body = save_body(alice, first, id=UNKNOWN, created_at="1994-11-05T08:15:30-05:00")
    saved = await http.post("/saved-files", json=body, headers=alice["headers"])
    assert saved.status_code == 201, saved.text
    saved = saved.json()
    assert saved["id"] != UNKNOWN and not saved["created_at"].startswith("1994")
    assert {k: saved[k] for k in ("encrypted_file_id", "identity_id", "encrypted_metadata", "key_fingerprint")} == {
        "encrypted_file_id": first,
        "identity_id": alice["id"],
        "encrypted_metadata": "sealed-to-vault",
        "key_fingerprint": "fp",
    }
    later = (await http.post("/saved-files", json=save_body(alice, second), headers=alice["headers"])).json()

    listed = await http.get("/saved-files", params={"identity_id": alice["id"]}, headers=alice["headers"])
    assert [s["id"] for s in listed.json()] == [later["id"], saved["id"]]  # newest first
    page = await http.get("/saved-files", params={"identity_id": alice["id"], "offset": 1, "limit": 1}, headers=alice["headers"])
    assert [s["id"] for s in page.json()] == [saved["id"]]
    count = await http.head("/saved-files", params={"identity_id": alice["id"]}, headers=alice["headers"])
    assert count.status_code == 204 and count.headers["x-total-count"] == "2"

    files = (await http.get(f"/boxes/{box['id']}/files", headers=alice["headers"])).json()
    assert {e["content"]["encrypted_file_id"]: e["content"]["is_saved"] for e in files} == {first: True, second: True}

    assert (await http.delete(f"/saved-files/{saved['id']}", headers=alice["headers"])).status_code == 204
    assert_error(await http.delete(f"/saved-files/{saved['id']}", headers=alice["headers"]), 404, id="not_found")
    # Still in the box: the blob stays.
    assert blob_path(http, first).exists()
    count = await http.head("/saved-files", params={"identity_id": alice["id"]}, headers=alice["headers"])
    assert count.headers["x-total-count"] == "1"


async def test_save_rules(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    file_id = (await upload(http, alice, box)).json()["content"]["encrypted_file_id"]

    assert (await http.post("/saved-files", json=save_body(alice, file_id), headers=alice["headers"])).status_code == 201
    assert_error(await http.post("/saved-files", json=save_body(alice, file_id), headers=alice["headers"]), 409, encrypted_file_id="conflict")
    assert_error(await http.post("/saved-files", json=save_body(alice, UNKNOWN), headers=alice["headers"]), 404, encrypted_file_id="not_found")
    assert_error(await http.post("/saved-files", json=save_body(bob, file_id), headers=bob["headers"]), 403, encrypted_file_id="forbidden")
    assert_error(await http.post("/saved-files", json=save_body(bob, file_id), headers=alice["headers"]), 403, identity_id="forbidden")
    assert_error(await http.post("/saved-files", json=save_body(alice, "x"), headers=alice["headers"]), 400, encrypted_file_id="malformed")
    assert_error(await http.post("/saved-files", json=save_body(alice, file_id, identity_id="x"), headers=alice["headers"]), 400, identity_id="malformed")
    for bad in ({"encrypted_metadata": ""}, {"key_fingerprint": "f" * 129}, {"surprise": 1}, {"encrypted_metadata": 5}):
        assert_error(await http.post("/saved-files", json=save_body(alice, file_id, **bad), headers=alice["headers"]), 400)
    incomplete = save_body(alice, file_id)
    del incomplete["key_fingerprint"]
    assert_error(await http.post("/saved-files", json=incomplete, headers=alice["headers"]), 400, key_fingerprint="required")

    # Once Bob is in the box he may save it too.
    await invite(http, alice, box["id"], "bob@example.com")
    await join(http, bob, box["id"])
    assert (await http.post("/saved-files", json=save_body(bob, file_id), headers=bob["headers"])).status_code == 201


async def test_saved_files_are_self_only_and_need_acr2(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    carol = await signup_login(http, "carol@example.com", acr=1)
    saved = (await direct_upload(http, alice, b"alice's file")).json()

    assert_error(await http.get("/saved-files", params={"identity_id": alice["id"]}, headers=bob["headers"]), 403, identity_id="forbidden")
    assert_error(await http.head("/saved-files", params={"identity_id": alice["id"]}, headers=bob["headers"]), 403)
    assert_error(await http.delete(f"/saved-files/{saved['id']}", headers=bob["headers"]), 403, id="forbidden")
    assert_error(await direct_upload(http, bob, b"x", 403, identity_id=alice["id"]), 403, identity_id="forbidden")
    assert_error(await http.get(f"/encrypted-files/{saved['encrypted_file_id']}", headers=bob["headers"]), 403)

    assert_error(await http.get("/saved-files", params={"identity_id": carol["id"]}, headers=carol["headers"]), 403, acr="forbidden", required_acr="2")
    assert_error(await http.get("/saved-files", headers=alice["headers"]), 400, identity_id="required")
    assert_error(await http.get("/saved-files", params={"identity_id": "x"}, headers=alice["headers"]), 400, identity_id="malformed")
    for bad in ({"limit": 1001}, {"limit": -1}, {"offset": "a"}):
        assert_error(await http.get("/saved-files", params={"identity_id": alice["id"], **bad}, headers=alice["headers"]), 400)
    assert_error(await http.delete("/saved-files/nope", headers=alice["headers"]), 400, id="malformed")
    assert_error(await http.get("/saved-files", params={"identity_id": alice["id"]}), 401)


async def test_direct_upload_download_and_blob_removal(http):
    alice = await signup_login(http, "alice@example.com")
    data = os.urandom(70_000)
    saved = (await direct_upload(http, alice, data)).json()
    assert saved["identity_id"] == alice["id"]
    download = await http.get(f"/encrypted-files/{saved['encrypted_file_id']}", headers=alice["headers"])
    assert download.status_code == 200 and download.content == data

    assert_error(await direct_upload(http, alice, b"", 400), 400, encrypted_file="invalid")
    assert_error(await direct_upload(http, alice, b"x", 400, key_fingerprint=""), 400)
    # PostgreSQL cannot store a NUL: a 400 on both backends, not a 500 on one.
    assert_error(await direct_upload(http, alice, b"x", 400, encrypted_metadata="a\x00b"), 400, encrypted_metadata="invalid")
    response = await http.post(f"/box-users/{alice['id']}/saved-files", files={"encrypted_file": ("b", b"x")}, data={"key_fingerprint": "fp"}, headers=alice["headers"])
    assert_error(response, 400, encrypted_metadata="required")
    response = await http.post(f"/box-users/{alice['id']}/saved-files", json={}, headers=alice["headers"])
    assert_error(response, 415)
    assert blob_files(http) == [blob_path(http, saved["encrypted_file_id"])]

    # Nothing else holds a directly uploaded file: unsaving deletes the blob.
    assert (await http.delete(f"/saved-files/{saved['id']}", headers=alice["headers"])).status_code == 204
    assert blob_files(http) == []
    assert_error(await http.get(f"/encrypted-files/{saved['encrypted_file_id']}", headers=alice["headers"]), 404)


async def test_saved_copy_outlives_the_message_until_unsaved(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    event = (await upload(http, alice, box)).json()
    file_id = event["content"]["encrypted_file_id"]
    saved = (await http.post("/saved-files", json=save_body(alice, file_id), headers=alice["headers"])).json()

    await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": event["id"]})
    assert (await http.get(f"/encrypted-files/{file_id}", headers=alice["headers"])).status_code == 200
    assert (await http.delete(f"/saved-files/{saved['id']}", headers=alice["headers"])).status_code == 204
    assert not blob_path(http, file_id).exists()
    assert_error(await http.get(f"/encrypted-files/{file_id}", headers=alice["headers"]), 404)


async def test_direct_upload_limit_and_quota(limited_http):
    http = limited_http
    alice = await signup_login(http, "alice@example.com")
    assert_error(await direct_upload(http, alice, os.urandom(4097), 413), 413, body="too_large")
    await direct_upload(http, alice, os.urandom(4096))
    await direct_upload(http, alice, os.urandom(4096))
    assert_error(await direct_upload(http, alice, os.urandom(4096), 403), 403, quota="forbidden")
    assert len(blob_files(http)) == 2


async def test_file_saved_reaches_the_owner_in_realtime(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    file_id = (await upload(http, alice, box)).json()["content"]["encrypted_file_id"]
    hub = http._transport.app.state.hub  # type: ignore[attr-defined]
    socket = hub.connect(alice["id"])
    try:
        saved = (await http.post("/saved-files", json=save_body(alice, file_id), headers=alice["headers"])).json()
        message = json.loads(await asyncio.wait_for(socket.queue.get(), 5))
        assert message == {"type": "file.saved", "object": {"encrypted_file_id": file_id, "is_saved": True}}
        await http.delete(f"/saved-files/{saved['id']}", headers=alice["headers"])
        message = json.loads(await asyncio.wait_for(socket.queue.get(), 5))
        assert message == {"type": "file.saved", "object": {"encrypted_file_id": file_id, "is_saved": False}}
    finally:
        hub.disconnect(socket)
