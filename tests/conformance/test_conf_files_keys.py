"""PROTOCOL §5 (encrypted files), §6 (saved files) and §7 (keys), black-box."""

from __future__ import annotations

import hashlib
import os
import uuid

from tests.conformance.proto import (
    TIME_RE,
    UUID4_RE,
    Server,
    User,
    assert_error,
    auto_invite,
    b64u,
    ciphertext,
    key_share,
    make_user,
    new_pubkey,
)

# --- §5 -------------------------------------------------------------------------------------


def test_upload_and_download(alice: User, bob: User) -> None:
    box = alice.box()
    blob = os.urandom(5000)
    meta, key = ciphertext(), new_pubkey()
    resp = alice.upload(box["id"], blob, msg_encrypted_content=meta, msg_public_key=key)
    assert resp.status_code == 201, resp.text
    event = resp.json()
    assert event["type"] == "msg.file" and event["box_id"] == box["id"]
    assert (
        event["content"]["encrypted"] == meta and event["content"]["public_key"] == key
    )
    file_id = event["content"]["encrypted_file_id"]
    assert UUID4_RE.match(file_id)
    download = alice.http.get(f"/encrypted-files/{file_id}")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/octet-stream")
    assert download.content == blob
    assert_error(bob.http.get(f"/encrypted-files/{file_id}"), 403)
    assert_error(alice.http.get(f"/encrypted-files/{uuid.uuid4()}"), 404)


def test_upload_reply(alice: User) -> None:
    box = alice.box()
    parent = alice.text(box["id"])
    resp = alice.upload(box["id"], referrer_id=parent["id"])
    assert resp.status_code == 201 and resp.json()["referrer_id"] == parent["id"]
    assert_error(alice.upload(box["id"], referrer_id=str(uuid.uuid4())), 404)


def test_upload_errors(alice: User, bob: User) -> None:
    box = alice.box()
    assert_error(alice.upload(box["id"], b""), 400)
    assert_error(bob.upload(box["id"]), 403)
    missing = alice.http.post(
        f"/boxes/{box['id']}/encrypted-files",
        data={"msg_encrypted_content": ciphertext()},
        files={"encrypted_file": ("b", b"xx")},
    )
    assert_error(missing, 400)
    no_file = alice.http.post(
        f"/boxes/{box['id']}/encrypted-files",
        data={"msg_encrypted_content": ciphertext(), "msg_public_key": new_pubkey()},
        files={"other": ("b", b"xx")},
    )
    assert_error(no_file, 400)
    assert alice.http.get(f"/boxes/{box['id']}/files").json() == []


def test_upload_too_large_413_and_quota_403(small_srv: Server) -> None:
    user = make_user(small_srv)
    box = user.box()
    assert_error(user.upload(box["id"], os.urandom(5000)), 413)
    assert user.upload(box["id"], os.urandom(3000)).status_code == 201
    assert user.upload(box["id"], os.urandom(3000)).status_code == 201
    assert_error(
        user.upload(box["id"], os.urandom(3000)), 403, details={"quota": "forbidden"}
    )
    assert len(user.http.get(f"/boxes/{box['id']}/files").json()) == 2


def test_blob_deleted_with_last_reference(alice: User) -> None:
    box = alice.box()
    event = alice.upload(box["id"]).json()
    file_id = event["content"]["encrypted_file_id"]
    other = alice.box()
    shared = alice.http.post(
        f"/events/{event['id']}/shares",
        json={
            "targets": [
                {
                    "box_id": other["id"],
                    "content": {"encrypted": ciphertext(), "public_key": new_pubkey()},
                }
            ]
        },
    ).json()["events"][0]
    alice.post(box["id"], "msg.delete", referrer_id=event["id"])
    assert (
        alice.http.get(f"/encrypted-files/{file_id}").status_code == 200
    )  # still referred by the share
    alice.post(other["id"], "msg.delete", referrer_id=shared["id"])
    assert_error(alice.http.get(f"/encrypted-files/{file_id}"), 404)


def test_blob_deleted_with_box(alice: User) -> None:
    box = alice.box()
    file_id = alice.upload(box["id"]).json()["content"]["encrypted_file_id"]
    alice.http.request(
        "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
    )
    assert_error(alice.http.get(f"/encrypted-files/{file_id}"), 404)


# --- §6 -------------------------------------------------------------------------------------


def test_saved_files_flow(alice: User, bob: User) -> None:
    box = alice.box()
    event = alice.upload(box["id"]).json()
    file_id = event["content"]["encrypted_file_id"]
    resp = alice.save(
        file_id, id=str(uuid.uuid4()), created_at="2000-01-01T00:00:00.000000Z"
    )
    assert resp.status_code == 201, resp.text
    saved = resp.json()
    assert set(saved) == {
        "id",
        "encrypted_file_id",
        "identity_id",
        "encrypted_metadata",
        "key_fingerprint",
        "created_at",
    }
    assert saved["encrypted_file_id"] == file_id and saved["identity_id"] == alice.id
    assert TIME_RE.match(saved["created_at"]) and not saved["created_at"].startswith(
        "2000"
    )
    assert_error(alice.save(file_id), 409)
    assert_error(alice.save(str(uuid.uuid4())), 404)
    assert_error(bob.save(file_id), 403)
    assert_error(alice.save(file_id, identity_id=bob.id), 403)
    listed = alice.http.get(f"/boxes/{box['id']}/events").json()[-1]
    assert listed.get("is_saved", listed["content"].get("is_saved")) is True
    # list, count
    box2_file = alice.upload(box["id"]).json()["content"]["encrypted_file_id"]
    newer = alice.save(box2_file).json()
    page = alice.http.get("/saved-files", params={"identity_id": alice.id})
    assert page.status_code == 200 and [s["id"] for s in page.json()] == [
        newer["id"],
        saved["id"],
    ]
    assert (
        alice.http.head("/saved-files", params={"identity_id": alice.id}).headers[
            "X-Total-Count"
        ]
        == "2"
    )
    assert_error(alice.http.get("/saved-files", params={"identity_id": bob.id}), 403)
    # delete; the blob stays while the message refers to it
    assert_error(bob.http.delete(f"/saved-files/{saved['id']}"), 403)
    assert_error(alice.http.delete(f"/saved-files/{uuid.uuid4()}"), 404)
    resp = alice.http.delete(f"/saved-files/{saved['id']}")
    assert resp.status_code == 204
    assert alice.http.get(f"/encrypted-files/{file_id}").status_code == 200


def test_saved_copy_outlives_message_and_box(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    event = alice.upload(box["id"], b"keep me").json()
    file_id = event["content"]["encrypted_file_id"]
    saved = bob.save(file_id).json()
    alice.http.request(
        "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
    )
    assert (
        bob.http.get(f"/encrypted-files/{file_id}").content == b"keep me"
    )  # owner of a saved copy
    assert_error(alice.http.get(f"/encrypted-files/{file_id}"), 403)
    bob.http.delete(f"/saved-files/{saved['id']}")
    assert_error(bob.http.get(f"/encrypted-files/{file_id}"), 404)


def test_direct_saved_upload(alice: User, bob: User) -> None:
    resp = alice.save_upload(b"direct")
    assert resp.status_code == 201, resp.text
    saved = resp.json()
    assert saved["identity_id"] == alice.id
    assert (
        alice.http.get(f"/encrypted-files/{saved['encrypted_file_id']}").content
        == b"direct"
    )
    assert_error(
        bob.save_upload(b"x", alice.id),
        403,
    )
    assert_error(
        alice.save_upload(b""),
        400,
    )


def test_saved_files_need_acr2(srv: Server) -> None:
    guest = make_user(srv, acr=1)
    assert_error(
        guest.save_upload(b"x"),
        403,
        origin="acr",
    )
    assert_error(guest.http.delete(f"/saved-files/{uuid.uuid4()}"), 403, origin="acr")
    assert_error(guest.save(str(uuid.uuid4())), 403, origin="acr")


# --- §7 keys --------------------------------------------------------------------------------


def test_key_shares(alice: User, bob: User) -> None:
    share = key_share()
    box = alice.box(key_share=share)
    resp = alice.http.get(f"/box-key-shares/{share['other_share_hash']}")
    assert resp.status_code == 200
    assert resp.json() == {
        "other_share_hash": share["other_share_hash"],
        "share": share["misakey_share"],
        "box_id": box["id"],
        # The later reference client's names for the same values (§10.13).
        "invitation_share_hash": share["other_share_hash"],
        "misakey_share": share["misakey_share"],
    }
    assert_error(
        alice.http.get(f"/box-key-shares/{b64u(hashlib.sha512(b'nope').digest())}"), 404
    )
    assert_error(bob.http.get(f"/box-key-shares/{share['other_share_hash']}"), 403)
    enc = alice.http.get(
        "/box-key-shares/encrypted-invitation-key-share", params={"box_id": box["id"]}
    )
    assert enc.status_code == 200
    assert enc.json() == {
        "encrypted_invitation_key_share": share["encrypted_invitation_key_share"]
    }
    assert_error(
        bob.http.get(
            "/box-key-shares/encrypted-invitation-key-share",
            params={"box_id": box["id"]},
        ),
        403,
    )
    plain = alice.box()
    assert alice.http.get(
        "/box-key-shares/encrypted-invitation-key-share", params={"box_id": plain["id"]}
    ).json() == {"encrypted_invitation_key_share": None}


def test_key_share_rotation_and_actions(alice: User, bob: User, carol: User) -> None:
    share = key_share()
    box = alice.box(key_share=share)
    for other in (bob, carol):
        alice.allow(box["id"], other.email)
        other.post(box["id"], "member.join")
    bob_key = new_pubkey()
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": bob_key})
    new = key_share()
    event = alice.post(box["id"], "state.key_share", extra=new)
    assert event.status_code == 201
    assert event.json()["content"] is None
    assert_error(
        alice.http.get(f"/box-key-shares/{share['other_share_hash']}"), 404
    )  # old link stops working
    assert (
        alice.http.get(f"/box-key-shares/{new['other_share_hash']}").json()["share"]
        == new["misakey_share"]
    )
    actions = bob.http.get("/crypto/actions").json()
    assert [a["type"] for a in actions] == ["set_box_key_share"]
    assert actions[0]["box_id"] == box["id"]
    assert actions[0]["encrypted"] == new["encrypted_invitation_key_share"]
    assert carol.http.get("/crypto/actions").json() == []  # no identity key
    assert (
        alice.http.get("/crypto/actions").json() == []
    )  # not the other members' sender
    assert_error(alice.http.delete(f"/crypto/actions/{actions[0]['id']}"), 404)
    assert_error(bob.http.delete(f"/crypto/actions/{uuid.uuid4()}"), 404)
    resp = bob.http.delete(f"/crypto/actions/{actions[0]['id']}")
    assert resp.status_code == 204
    assert bob.http.get("/crypto/actions").json() == []


def test_crypto_actions_oldest_first(alice: User, bob: User) -> None:
    key = new_pubkey()
    bob.http.patch(f"/identities/{bob.id}", json={"public_key": key})
    boxes = [alice.box(f"b{i}") for i in range(3)]
    for box in boxes:
        alice.batch(
            box["id"],
            [auto_invite(bob.email, key)],
        )
    assert [a["box_id"] for a in bob.http.get("/crypto/actions").json()] == [
        b["id"] for b in boxes
    ]


def test_secret_storage(alice: User) -> None:
    assert_error(alice.http.get("/crypto/secret-storage"), 404)
    first = alice.http.put("/crypto/secret-storage", json={"data": "blob-1"})
    assert first.status_code == 200 and first.json() == {"version": 1}
    got = alice.http.get("/crypto/secret-storage")
    assert got.status_code == 200 and got.json() == {"version": 1, "data": "blob-1"}
    assert got.headers["ETag"] == '"1"'
    assert_error(alice.http.put("/crypto/secret-storage", json={"data": "blob-2"}), 412)
    assert_error(
        alice.http.put(
            "/crypto/secret-storage",
            json={"data": "blob-2"},
            headers={"If-Match": '"7"'},
        ),
        412,
    )
    second = alice.http.put(
        "/crypto/secret-storage", json={"data": "blob-2"}, headers={"If-Match": '"1"'}
    )
    assert second.status_code == 200 and second.json() == {"version": 2}
    assert alice.http.get("/crypto/secret-storage").headers["ETag"] == '"2"'
    assert_error(
        alice.http.put(
            "/crypto/secret-storage",
            json={"data": "blob-3"},
            headers={"If-Match": '"1"'},
        ),
        412,
    )
    assert_error(
        alice.http.put(
            "/crypto/secret-storage", json={"wrong": 1}, headers={"If-Match": '"2"'}
        ),
        400,
    )
