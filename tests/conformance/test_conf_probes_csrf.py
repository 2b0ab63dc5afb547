"""Eighth pass: CSRF on every unsafe route when authenticated by cookies (§2)."""

from __future__ import annotations

import uuid

from tests.conformance.proto import (
    RFC822,
    Server,
    User,
    assert_error,
    cookie_client,
    mime_with_attachments,
    new_pubkey,
    saved_form,
)


def test_every_unsafe_route_needs_csrf_with_cookies(srv: Server, alice: User) -> None:
    box = alice.box()
    message = alice.text(box["id"])
    file_id = alice.upload(box["id"]).json()["content"]["encrypted_file_id"]
    saved = alice.save(file_id).json()
    multipart = {"files": {"encrypted_file": ("b", b"blob")}}
    calls = [
        ("POST", "/boxes", {"json": {"title": "t", "public_key": new_pubkey()}}),
        (
            "POST",
            f"/boxes/{box['id']}/events",
            {"json": {"type": "msg.text", "content": {"encrypted": "YQ"}}},
        ),
        (
            "POST",
            f"/boxes/{box['id']}/batch-events",
            {"json": {"batch_type": "accesses", "events": []}},
        ),
        ("PUT", f"/boxes/{box['id']}/new-events-count/ack", {}),
        ("DELETE", f"/boxes/{box['id']}", {"json": {"user_confirmation": "delete"}}),
        ("POST", f"/events/{message['id']}/shares", {"json": {"targets": []}}),
        (
            "POST",
            f"/boxes/{box['id']}/email",
            {"content": mime_with_attachments(0), "headers": RFC822},
        ),
        (
            "POST",
            f"/boxes/{box['id']}/encrypted-files",
            {
                "data": {"msg_encrypted_content": "YQ", "msg_public_key": new_pubkey()},
                **multipart,
            },
        ),
        (
            "POST",
            "/saved-files",
            {
                "json": {
                    "encrypted_file_id": file_id,
                    "identity_id": alice.id,
                    **saved_form(),
                }
            },
        ),
        ("DELETE", f"/saved-files/{saved['id']}", {}),
        (
            "POST",
            f"/box-users/{alice.id}/saved-files",
            {"data": saved_form(), **multipart},
        ),
        ("DELETE", f"/crypto/actions/{uuid.uuid4()}", {}),
        ("PUT", "/crypto/secret-storage", {"json": {"data": "x"}}),
        ("PATCH", f"/identities/{alice.id}", {"json": {"display_name": "x"}}),
    ]
    with cookie_client(srv, alice) as http:
        for method, path, kwargs in calls:
            resp = http.request(method, path, **kwargs)
            assert resp.status_code == 400, (
                method,
                path,
                resp.status_code,
                resp.text[:200],
            )
            assert_error(resp, 400)
            wrong = http.request(
                method,
                path,
                **{
                    **kwargs,
                    "headers": {**kwargs.get("headers", {}), "X-CSRF-Token": "nope"},
                },
            )
            assert wrong.status_code == 403, (
                method,
                path,
                wrong.status_code,
                wrong.text[:200],
            )
    assert (
        alice.http.get(f"/boxes/{box['id']}").status_code == 200
    )  # nothing above went through
