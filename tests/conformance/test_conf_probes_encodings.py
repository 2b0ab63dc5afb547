"""Sixth pass: the §1 encodings (b64u for keys/shares/hashes/fingerprints, either alphabet for ``encrypted*``), ids, token lifetime."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

from nacl.public import PrivateKey

from tests.conformance.proto import (
    Server,
    User,
    assert_error,
    b64u,
    ciphertext,
    key_share,
)

PADDED = "ab+/cd=="  # standard alphabet, padded: valid for encrypted* fields only


def _std(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _std_key() -> str:
    key = _std(bytes(PrivateKey.generate().public_key))
    assert "=" in key
    return key


def test_encrypted_fields_accept_standard_alphabet(alice: User) -> None:
    box = alice.box()
    message = alice.post(box["id"], "msg.text", {"encrypted": PADDED})
    assert message.status_code == 201
    assert (
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": PADDED},
            referrer_id=message.json()["id"],
        ).status_code
        == 201
    )
    upload = alice.upload(box["id"], msg_encrypted_content=PADDED)
    assert upload.status_code == 201, upload.text
    saved = alice.http.post(
        "/saved-files",
        json={
            "encrypted_file_id": upload.json()["content"]["encrypted_file_id"],
            "identity_id": alice.id,
            "encrypted_metadata": '{"nonce":"AAAA","ciphertext":{}}',
            "key_fingerprint": b64u(os.urandom(64)),
        },
    )
    assert saved.status_code == 201, saved.text
    share = {**key_share(), "encrypted_invitation_key_share": PADDED}
    assert alice.post(box["id"], "state.key_share", extra=share).status_code == 201


def test_box_public_key_must_be_b64u(alice: User) -> None:
    assert_error(
        alice.http.post("/boxes", json={"title": "t", "public_key": _std_key()}), 400
    )


def test_identity_public_key_must_be_b64u(alice: User) -> None:
    assert_error(
        alice.http.patch(f"/identities/{alice.id}", json={"public_key": _std_key()}),
        400,
    )


def test_text_public_key_must_be_b64u(alice: User) -> None:
    box = alice.box()
    assert_error(
        alice.post(
            box["id"], "msg.text", {"encrypted": ciphertext(), "public_key": _std_key()}
        ),
        400,
    )


def test_upload_public_key_must_be_b64u(alice: User) -> None:
    box = alice.box()
    assert_error(alice.upload(box["id"], msg_public_key=_std_key()), 400)
    assert_error(alice.upload(box["id"], msg_public_key="short"), 400)


def test_token_lifetime_30_days(srv: Server, alice: User) -> None:
    expires = datetime.strptime(
        alice.login["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ"
    ).replace(tzinfo=UTC)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(
        minutes=5
    )


def test_unread_counts_uploads_and_kicks(alice: User, bob: User, carol: User) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], bob.email)
    alice.allow(box["id"], carol.email)
    bob.post(box["id"], "member.join")
    carol.post(box["id"], "member.join")
    carol.http.put(f"/boxes/{box['id']}/new-events-count/ack")
    alice.upload(box["id"])
    alice.batch(
        box["id"], [{"type": "access.rm", "referrer_id": rule["id"]}]
    )  # bob kicked
    assert carol.http.get(f"/boxes/{box['id']}").json()["events_count"] == 2
