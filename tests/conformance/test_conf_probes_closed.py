"""Ninth pass: what a closed box still allows (§4: read-only means events and uploads only)."""

from __future__ import annotations

from tests.conformance.proto import User, assert_error, ciphertext


def _closed_box_with_file(alice: User) -> tuple[dict, dict, dict]:
    box = alice.box()
    message = alice.text(box["id"])
    upload = alice.upload(box["id"]).json()
    assert (
        alice.post(box["id"], "state.lifecycle", {"state": "closed"}).status_code == 201
    )
    return box, message, upload


def test_closed_box_still_readable_and_ackable(alice: User) -> None:
    box, message, upload = _closed_box_with_file(alice)
    assert alice.http.get(f"/boxes/{box['id']}/events").status_code == 200
    assert (
        alice.http.get(
            f"/encrypted-files/{upload['content']['encrypted_file_id']}"
        ).status_code
        == 200
    )
    assert alice.http.put(f"/boxes/{box['id']}/new-events-count/ack").status_code == 204
    assert alice.http.get(f"/events/{message['id']}").status_code == 200


def test_closed_box_files_can_be_saved_and_shared_out(alice: User) -> None:
    _box, message, upload = _closed_box_with_file(alice)
    assert alice.save(upload["content"]["encrypted_file_id"]).status_code == 201
    target = alice.box()
    resp = alice.http.post(
        f"/events/{message['id']}/shares",
        json={
            "targets": [
                {"box_id": target["id"], "content": {"encrypted": ciphertext()}}
            ]
        },
    )
    assert resp.status_code == 201, resp.text


def test_closed_box_can_be_deleted(alice: User) -> None:
    box, _, _ = _closed_box_with_file(alice)
    assert (
        alice.http.request(
            "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
        ).status_code
        == 204
    )
    assert_error(alice.http.get(f"/boxes/{box['id']}"), 403)


def test_is_saved_is_per_caller(alice: User, bob: User) -> None:
    box = alice.box()
    alice.allow(box["id"], bob.email)
    bob.post(box["id"], "member.join")
    upload = alice.upload(box["id"]).json()
    alice.save(upload["content"]["encrypted_file_id"])

    def is_saved(user: User) -> bool:
        event = user.http.get(f"/events/{upload['id']}").json()
        return event.get("is_saved", event["content"].get("is_saved"))

    assert is_saved(alice) is True
    assert is_saved(bob) is False


def test_direct_saved_upload_blob_goes_with_the_copy(alice: User) -> None:
    saved = alice.save_upload(b"direct").json()
    assert alice.http.delete(f"/saved-files/{saved['id']}").status_code == 204
    assert_error(alice.http.get(f"/encrypted-files/{saved['encrypted_file_id']}"), 404)
