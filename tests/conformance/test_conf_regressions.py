"""Disagreements with PROTOCOL.md this suite found, fixed since: they stay as regression tests.

- §1 "every list route has a HEAD twin" / pagination: ``/crypto/actions`` had neither.
- §1 "fingerprints are b64u": ``key_fingerprint`` took any string.
- §1 "shares, hashes ... are b64u": ``misakey_share`` / ``other_share_hash`` took the standard alphabet.
- §1 "IDs are lower-case UUID v4": a UUID of another version passed as well-formed.
"""

from __future__ import annotations

import base64
import os
import uuid

from tests.conformance.proto import (
    User,
    assert_error,
    ciphertext,
    key_share,
    new_pubkey,
)


def _std(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_crypto_actions_pagination_validated(alice: User) -> None:
    for params in (
        {"limit": "-1"},
        {"limit": "1001"},
        {"offset": "-3"},
        {"offset": "x"},
    ):
        assert_error(alice.http.get("/crypto/actions", params=params), 400)


def test_head_crypto_actions(alice: User) -> None:
    resp = alice.http.head("/crypto/actions")
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["X-Total-Count"] == "0"


def test_saved_file_fingerprint_must_be_b64u(alice: User) -> None:
    box = alice.box()
    file_id = alice.upload(box["id"]).json()["content"]["encrypted_file_id"]
    resp = alice.http.post(
        "/saved-files",
        json={
            "encrypted_file_id": file_id,
            "identity_id": alice.id,
            "encrypted_metadata": ciphertext(),
            "key_fingerprint": "not b64u!",
        },
    )
    assert_error(resp, 400)
    resp = alice.http.post(
        "/saved-files",
        json={
            "encrypted_file_id": file_id,
            "identity_id": alice.id,
            "encrypted_metadata": ciphertext(),
        },
    )
    assert_error(resp, 400, details={"key_fingerprint": "required"})


def test_other_share_hash_must_be_b64u(alice: User) -> None:
    share = key_share()
    padded_hash = _std(base64.urlsafe_b64decode(share["other_share_hash"] + "=="))
    assert_error(
        alice.http.post(
            "/boxes",
            json={
                "title": "t",
                "public_key": new_pubkey(),
                "key_share": {**share, "other_share_hash": padded_hash},
            },
        ),
        400,
    )


def test_misakey_share_must_be_b64u(alice: User) -> None:
    share = key_share()
    assert_error(
        alice.http.post(
            "/boxes",
            json={
                "title": "t",
                "public_key": new_pubkey(),
                "key_share": {**share, "misakey_share": _std(os.urandom(32))},
            },
        ),
        400,
    )


def test_state_key_share_fields_must_be_b64u(alice: User) -> None:
    box = alice.box()
    share = key_share()
    padded_hash = _std(base64.urlsafe_b64decode(share["other_share_hash"] + "=="))
    assert_error(
        alice.post(
            box["id"],
            "state.key_share",
            extra={**share, "other_share_hash": padded_hash},
        ),
        400,
    )


def test_non_v4_uuid_is_malformed(alice: User) -> None:
    body = assert_error(alice.http.get(f"/boxes/{uuid.uuid1()}"), 400)
    assert "malformed" in body["details"].values()
