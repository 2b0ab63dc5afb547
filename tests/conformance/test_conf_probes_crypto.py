"""Fourth pass: the server as a §8 writer (e-mail ingest), batch duplicates, cursors on raw events, deleted boxes."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

from nacl.public import Box, PrivateKey, PublicKey
from nacl.secret import SecretBox

from tests.conformance.proto import (
    Server,
    User,
    access_add,
    assert_error,
    b64u,
    ciphertext,
    key_share,
    mime_with_attachments,
)


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _open_cryptogram(encrypted: str, secret: PrivateKey) -> bytes:
    """§8: encrypted = b64u(utf8(cryptogram_json)); checks the JSON is written as JSON.stringify writes it."""
    raw = _b64u_decode(encrypted).decode()
    cryptogram = json.loads(raw)
    assert list(cryptogram) == ["ephemeralSenderPublicKey", "nonce", "ciphertext"], raw
    for value in cryptogram.values():
        assert (
            list(value) == ["type", "encoding", "value"]
            and value["type"] == "Uint8Array"
            and value["encoding"] == "base64"
        ), raw
    assert raw == json.dumps(cryptogram, separators=(",", ":"), ensure_ascii=False), (
        "not JSON.stringify form"
    )
    eph = base64.b64decode(
        cryptogram["ephemeralSenderPublicKey"]["value"], validate=True
    )
    nonce = base64.b64decode(cryptogram["nonce"]["value"], validate=True)
    body = base64.b64decode(cryptogram["ciphertext"]["value"], validate=True)
    assert len(nonce) == 24
    return Box(secret, PublicKey(eph)).decrypt(body, nonce)


def test_email_ingest_writes_section8_ciphertext(alice: User) -> None:
    secret = PrivateKey.generate()
    box = alice.http.post(
        "/boxes", json={"title": "mail", "public_key": b64u(bytes(secret.public_key))}
    ).json()
    mail = mime_with_attachments(1, subject="Quarterly report", text="the text body é")
    events = alice.http.post(
        f"/boxes/{box['id']}/email",
        content=mail,
        headers={"Content-Type": "message/rfc822"},
    ).json()["events"]
    text = _open_cryptogram(events[0]["content"]["encrypted"], secret).decode()
    assert (
        "Quarterly report" in text
        and "the text body é" in text
        and "sender@mail.example" in text
    )
    file_event = events[1]
    metadata_raw = _open_cryptogram(file_event["content"]["encrypted"], secret).decode()
    metadata = json.loads(metadata_raw)
    assert list(metadata) == ["encryption", "fileName", "fileSize", "fileType"], (
        metadata_raw
    )
    assert list(metadata["encryption"]) == ["key", "nonce"]
    assert metadata["fileName"] == "a0.bin"
    assert metadata_raw == json.dumps(
        metadata, separators=(",", ":"), ensure_ascii=False
    )
    key = _b64u_decode(metadata["encryption"]["key"])
    nonce = base64.b64decode(metadata["encryption"]["nonce"], validate=True)
    blob = alice.http.get(
        f"/encrypted-files/{file_event['content']['encrypted_file_id']}"
    ).content
    assert SecretBox(key).decrypt(blob, nonce) == b"attachment 0"
    assert metadata["fileSize"] == len(b"attachment 0")


# --- batches: duplicates inside one batch -----------------------------------------------------------


def test_duplicate_rule_inside_one_batch_409(alice: User) -> None:
    box = alice.box()
    assert_error(
        alice.batch(
            box["id"], [access_add("same@x.example"), access_add("same@x.example")]
        ),
        409,
    )
    assert alice.http.get(f"/boxes/{box['id']}/accesses").json() == []


def test_duplicate_domain_rule_409(alice: User) -> None:
    box = alice.box()
    alice.batch(box["id"], [access_add("x.example", "email_domain")])
    assert_error(alice.batch(box["id"], [access_add("x.example", "email_domain")]), 409)


def test_rm_twice_in_one_batch_404(alice: User) -> None:
    box = alice.box()
    rule = alice.allow(box["id"], "a@x.example")
    assert_error(
        alice.batch(
            box["id"],
            [
                {"type": "access.rm", "referrer_id": rule["id"]},
                {"type": "access.rm", "referrer_id": rule["id"]},
            ],
        ),
        404,
    )
    assert [r["id"] for r in alice.http.get(f"/boxes/{box['id']}/accesses").json()] == [
        rule["id"]
    ]


# --- cursors on ids the client got raw over realtime -------------------------------------------------


def test_after_cursor_accepts_raw_edit_and_access_ids(alice: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    edit = alice.post(
        box["id"],
        "msg.edit",
        {"new_encrypted": ciphertext()},
        referrer_id=message["id"],
    ).json()
    later = alice.text(box["id"])
    resp = alice.http.get(f"/boxes/{box['id']}/events", params={"after": edit["id"]})
    assert resp.status_code == 200, resp.text
    assert [e["id"] for e in resp.json()] == [later["id"]]
    rule = alice.allow(box["id"], "r@x.example")
    last = alice.text(box["id"])
    resp = alice.http.get(f"/boxes/{box['id']}/events", params={"after": rule["id"]})
    assert resp.status_code == 200 and [e["id"] for e in resp.json()] == [last["id"]]


def test_after_cursor_of_other_box_404(alice: User) -> None:
    box, other = alice.box(), alice.box()
    foreign = alice.text(other["id"])
    assert_error(
        alice.http.get(f"/boxes/{box['id']}/events", params={"after": foreign["id"]}),
        404,
    )
    assert_error(
        alice.http.get(
            f"/boxes/{box['id']}/events", params={"before": str(uuid.uuid4())}
        ),
        404,
    )


# --- key shares and deleted boxes -------------------------------------------------------------------


def test_rotated_link_preview_404(srv: Server, alice: User) -> None:
    share = key_share()
    box = alice.box("Rotate", key_share=share)
    alice.post(box["id"], "state.key_share", extra=key_share())
    with srv.client() as anon:
        assert_error(
            anon.get(
                f"/boxes/{box['id']}/public",
                params={"other_share_hash": share["other_share_hash"]},
            ),
            404,
        )


def test_deleted_box_shares_gone(srv: Server, alice: User) -> None:
    share = key_share()
    box = alice.box("Gone", key_share=share)
    alice.http.request(
        "DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}
    )
    with srv.client() as anon:
        assert_error(
            anon.get(
                f"/boxes/{box['id']}/public",
                params={"other_share_hash": share["other_share_hash"]},
            ),
            404,
        )
    assert alice.http.get(
        f"/box-key-shares/{share['other_share_hash']}"
    ).status_code in (403, 404)


def test_encrypted_invitation_key_share_needs_box_id(alice: User) -> None:
    assert_error(alice.http.get("/box-key-shares/encrypted-invitation-key-share"), 400)


def test_key_share_hash_is_sha512_size(alice: User) -> None:
    share = key_share()
    assert len(_b64u_decode(share["other_share_hash"])) == hashlib.sha512().digest_size
    assert alice.box(key_share=share)["id"]


def test_edit_over_64k_400(alice: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    assert_error(
        alice.post(
            box["id"],
            "msg.edit",
            {"new_encrypted": "A" * (64 * 1024 + 1)},
            referrer_id=message["id"],
        ),
        400,
    )


def test_upload_reply_to_other_box_404(alice: User) -> None:
    box, other = alice.box(), alice.box()
    foreign = alice.text(other["id"])
    assert_error(alice.upload(box["id"], referrer_id=foreign["id"]), 404)


def test_last_event_of_deleted_message_is_folded(alice: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    alice.post(box["id"], "msg.delete", referrer_id=message["id"])
    last = alice.http.get(f"/boxes/{box['id']}").json()["last_event"]
    assert last["id"] == message["id"]
    assert set(last["content"]) == {"deleted"}
