"""Encrypted files (PROTOCOL §5): streamed uploads, downloads, limits, quota, orphans.

The helpers at the top (``box_with_keys``, ``upload``, ``blob_files``, ``limited_app``)
are shared by the saved-files and e-mail tests.
"""

from __future__ import annotations

import json
import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from boxtui.core.encoding import b64u_encode
from boxtui.crypto import (
    FileMetadata,
    decrypt_file,
    encrypt_file,
    generate_box_keypair,
    open_file_metadata,
    seal_file_metadata,
)
from tests.conftest import _running, asgi_client
from tests.server.helpers import assert_error, ciphertext, create_box, invite, join, post_event, post_text, signup_login

# --- shared helpers --------------------------------------------------------------------


async def box_with_keys(http: httpx.AsyncClient, user: dict[str, Any], title: str = "Files") -> tuple[dict[str, Any], bytes]:
    """A box whose secret key the test holds: ``(box view, box secret key)``."""
    pair = generate_box_keypair()
    response = await http.post("/boxes", json={"title": title, "public_key": b64u_encode(pair.public_key)}, headers=user["headers"])
    assert response.status_code == 201, response.text
    return response.json(), pair.secret_key


def sealed_file(box: dict[str, Any], data: bytes, name: str = "notes.txt", file_type: str = "text/plain") -> tuple[bytes, str]:
    """``(blob, msg_encrypted_content)`` for ``data``, as a client would make them."""
    from boxtui.core.encoding import b64_decode_any

    blob, key = encrypt_file(data)
    meta = FileMetadata(file_name=name, file_size=len(data), file_type=file_type, key=key)
    return blob, seal_file_metadata(meta, b64_decode_any(box["public_key"]))


async def upload(
    http: httpx.AsyncClient,
    user: dict[str, Any],
    box: dict[str, Any],
    blob: bytes | None = None,
    *,
    encrypted: str | None = None,
    status: int = 201,
    **fields: str,
) -> httpx.Response:
    """``POST /boxes/{id}/encrypted-files`` with an opaque blob (random unless given)."""
    data = {"msg_encrypted_content": encrypted or ciphertext(), "msg_public_key": box["public_key"], **fields}
    response = await http.post(
        f"/boxes/{box['id']}/encrypted-files",
        files={"encrypted_file": ("blob", os.urandom(64) if blob is None else blob, "application/octet-stream")},
        data=data,
        headers=user["headers"],
    )
    assert response.status_code == status, response.text
    return response


def blob_files(http: httpx.AsyncClient) -> list[Path]:
    """Every file under the blob directory (staging included) of the app behind ``http``."""
    root = http._transport.app.state.settings.blob_dir  # type: ignore[attr-defined]
    return sorted(p for p in root.rglob("*") if p.is_file())


def blob_path(http: httpx.AsyncClient, file_id: str) -> Path:
    root = http._transport.app.state.settings.blob_dir  # type: ignore[attr-defined]
    return root / file_id[:2] / file_id


@pytest.fixture
async def limited_http(server_settings):
    """The real app on the same backends, with a 4 KiB upload limit and a 10 KiB quota."""
    settings = server_settings.model_copy(update={"max_upload_bytes": 4096, "quota_bytes": 10240})
    async for app in _running(settings):
        async with asgi_client(app) as client:
            yield client


def multipart_body(boundary: str, fields: dict[str, str], file_chunks, file_field: str = "encrypted_file"):
    """A hand-built multipart body as an async stream, the file part fed from ``file_chunks``."""

    async def stream():
        for name, value in fields.items():
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        for chunk in file_chunks:
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return stream()


# --- upload and download -----------------------------------------------------------------


async def test_upload_then_download_is_byte_identical(http):
    alice = await signup_login(http, "alice@example.com")
    box, secret = await box_with_keys(http, alice)
    data = os.urandom(300_000)  # several chunks each way
    blob, encrypted = sealed_file(box, data, "photo.png", "image/png")

    event = (await upload(http, alice, box, blob, encrypted=encrypted)).json()
    assert event["type"] == "msg.file"
    assert event["box_id"] == box["id"]
    assert event["sender"]["id"] == alice["id"]
    assert event["content"]["is_saved"] is False
    assert set(event["content"]) == {"encrypted", "public_key", "encrypted_file_id", "is_saved"}
    assert event["content"]["public_key"] == box["public_key"]
    file_id = event["content"]["encrypted_file_id"]
    assert blob_path(http, file_id).read_bytes() == blob

    download = await http.get(f"/encrypted-files/{file_id}", headers=alice["headers"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert int(download.headers["content-length"]) == len(blob)
    assert download.content == blob
    meta = open_file_metadata(event["content"]["encrypted"], secret)
    assert (meta.file_name, meta.file_type, meta.file_size) == ("photo.png", "image/png", len(data))
    assert decrypt_file(download.content, meta.key) == data

    listed = (await http.get(f"/boxes/{box['id']}/files", headers=alice["headers"])).json()
    assert [e["id"] for e in listed] == [event["id"]]


async def test_upload_as_a_reply(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    other = await create_box(http, alice, "Other")
    parent = await post_text(http, alice, box["id"])
    reply = (await upload(http, alice, box, referrer_id=parent["id"])).json()
    assert reply["referrer_id"] == parent["id"]

    elsewhere = await post_text(http, alice, other["id"])
    assert_error(await upload(http, alice, box, referrer_id=elsewhere["id"], status=404), 404, referrer_id="not_found")
    assert_error(await upload(http, alice, box, referrer_id="not-an-id", status=400), 400)
    assert blob_files(http) == [blob_path(http, reply["content"]["encrypted_file_id"])]


async def test_members_download_and_others_are_refused(http):
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    eve = await signup_login(http, "eve@example.com")
    box = await create_box(http, alice)
    file_id = (await upload(http, alice, box)).json()["content"]["encrypted_file_id"]

    assert_error(await http.get(f"/encrypted-files/{file_id}", headers=eve["headers"]), 403, "forbidden")
    await invite(http, alice, box["id"], "bob@example.com")
    assert_error(await http.get(f"/encrypted-files/{file_id}", headers=bob["headers"]), 403)
    await join(http, bob, box["id"])
    assert (await http.get(f"/encrypted-files/{file_id}", headers=bob["headers"])).status_code == 200

    assert_error(await http.get(f"/encrypted-files/{os.urandom(16).hex()}", headers=alice["headers"]), 400, id="malformed")
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(await http.get(f"/encrypted-files/{unknown}", headers=alice["headers"]), 404, "not_found")
    assert_error(await http.get(f"/encrypted-files/{file_id}"), 401)


async def test_upload_is_refused_before_the_body_for_outsiders(http):
    alice = await signup_login(http, "alice@example.com")
    eve = await signup_login(http, "eve@example.com")
    box = await create_box(http, alice)
    assert_error(await upload(http, eve, box, status=403), 403, reason="no_access")
    ghost = {**box, "id": "00000000-0000-4000-8000-000000000000"}
    assert_error(await upload(http, alice, ghost, status=403), 403)
    assert_error(await upload(http, alice, {**box, "id": "nope"}, status=400), 400, box_id="malformed")
    response = await http.post(f"/boxes/{box['id']}/encrypted-files", files={"encrypted_file": ("b", b"x")})
    assert_error(response, 401)
    assert blob_files(http) == []


async def test_bad_upload_forms_are_400_or_415_and_leave_nothing(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    url = f"/boxes/{box['id']}/encrypted-files"
    good = {"msg_encrypted_content": ciphertext(), "msg_public_key": box["public_key"]}
    blob = {"encrypted_file": ("blob", b"ciphertext bytes")}

    assert_error(await upload(http, alice, box, b"", status=400), 400, encrypted_file="invalid")
    response = await http.post(url, data=good, files={"other": ("x", b"1")}, headers=alice["headers"])
    assert_error(response, 400, other="invalid")
    response = await http.post(url, data=good, headers={**alice["headers"], "Content-Type": "multipart/form-data; boundary=zz"}, content=b"--zz--\r\n")
    assert_error(response, 400, encrypted_file="required")
    response = await http.post(url, data={"msg_public_key": box["public_key"]}, files=blob, headers=alice["headers"])
    assert_error(response, 400, msg_encrypted_content="required")
    response = await http.post(url, data={**good, "msg_public_key": "short"}, files=blob, headers=alice["headers"])
    assert_error(response, 400, msg_public_key="invalid")
    response = await http.post(url, data={**good, "msg_encrypted_content": "not base64!"}, files=blob, headers=alice["headers"])
    assert_error(response, 400)
    response = await http.post(url, data={**good, "surprise": "1"}, files=blob, headers=alice["headers"])
    assert_error(response, 400, surprise="invalid")
    response = await http.post(url, content=multipart_body("zz", good, [b"1"], file_field="msg_public_key"), headers={**alice["headers"], "Content-Type": "multipart/form-data; boundary=zz"})
    assert_error(response, 400, msg_public_key="invalid")  # sent twice
    response = await http.post(url, data={**good, "msg_encrypted_content": "A" * 70_000}, files=blob, headers=alice["headers"])
    assert_error(response, 400, msg_encrypted_content="too_large")
    response = await http.post(url, json=good, headers=alice["headers"])
    assert_error(response, 415, "unsupported_media_type")
    response = await http.post(url, content=b"--zz\r\ngarbage", headers={**alice["headers"], "Content-Type": "multipart/form-data; boundary=zz"})
    assert_error(response, 400, "bad_request")
    response = await http.post(url, content=b"x", headers={**alice["headers"], "Content-Type": "multipart/form-data"})
    assert_error(response, 400)
    assert blob_files(http) == []
    assert (await http.get(f"/boxes/{box['id']}/files", headers=alice["headers"])).json() == []


async def test_closed_box_refuses_uploads(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
    assert_error(await upload(http, alice, box, status=409), 409, lifecycle="conflict")
    assert blob_files(http) == []


# --- limits: 413 while streaming, and the quota ----------------------------------------------


async def test_upload_over_the_limit_is_413_without_reading_the_rest(limited_http):
    http = limited_http
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    fields = {"msg_encrypted_content": ciphertext(), "msg_public_key": box["public_key"]}
    consumed: list[int] = []

    def chunks():
        for index in range(1000):  # 1000 KiB offered, 4 KiB allowed
            consumed.append(index)
            yield os.urandom(1024)

    headers = {**alice["headers"], "Content-Type": "multipart/form-data; boundary=b0und"}
    response = await http.post(f"/boxes/{box['id']}/encrypted-files", content=multipart_body("b0und", fields, chunks()), headers=headers)
    assert_error(response, 413, "request_entity_too_large", body="too_large")
    assert len(consumed) < 10, f"the server read {len(consumed)} KiB of an over-limit upload"
    assert blob_files(http) == []

    announced = {**headers, "Content-Length": str(50 * 1024 * 1024)}
    response = await http.post(f"/boxes/{box['id']}/encrypted-files", content=multipart_body("b0und", fields, iter([b"x"])), headers=announced)
    assert_error(response, 413)

    exactly = await upload(http, alice, box, os.urandom(4096))
    assert exactly.json()["type"] == "msg.file"
    await upload(http, alice, box, os.urandom(4097), status=413)


async def test_quota_counts_live_uploads_and_frees_on_delete(limited_http):
    http = limited_http
    alice = await signup_login(http, "alice@example.com")
    bob = await signup_login(http, "bob@example.com")
    box = await create_box(http, alice)
    events = [(await upload(http, alice, box, os.urandom(4000))).json() for _ in range(2)]
    over = await upload(http, alice, box, os.urandom(4000), status=403)
    assert_error(over, 403, "forbidden", quota="forbidden")
    assert len(blob_files(http)) == 2

    # The quota is per uploader: Bob still has his.
    bob_box = await create_box(http, bob)
    await upload(http, bob, bob_box, os.urandom(4000))

    await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": events[0]["id"]})
    await upload(http, alice, box, os.urandom(4000))


# --- orphan deletion --------------------------------------------------------------------------


async def test_blob_goes_when_its_last_message_is_deleted(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    other = await create_box(http, alice, "Other")
    event = (await upload(http, alice, box)).json()
    file_id = event["content"]["encrypted_file_id"]

    # Shared into another box: the blob is reused and survives the first delete.
    share = await http.post(
        f"/events/{event['id']}/shares",
        json={"targets": [{"box_id": other["id"], "content": {"encrypted": ciphertext(), "public_key": other["public_key"]}}]},
        headers=alice["headers"],
    )
    assert share.status_code == 201, share.text
    copy = share.json()["events"][0]
    assert copy["content"]["encrypted_file_id"] == file_id

    await post_event(http, alice, box["id"], {"type": "msg.delete", "referrer_id": event["id"]})
    assert blob_path(http, file_id).exists()
    assert (await http.get(f"/encrypted-files/{file_id}", headers=alice["headers"])).status_code == 200

    await post_event(http, alice, other["id"], {"type": "msg.delete", "referrer_id": copy["id"]})
    assert not blob_path(http, file_id).exists()
    assert_error(await http.get(f"/encrypted-files/{file_id}", headers=alice["headers"]), 404)
    assert blob_files(http) == []


async def test_box_deletion_removes_its_blobs(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    keep = await create_box(http, alice, "Keep")
    gone = [(await upload(http, alice, box)).json()["content"]["encrypted_file_id"] for _ in range(2)]
    kept = (await upload(http, alice, keep)).json()["content"]["encrypted_file_id"]

    response = await http.request("DELETE", f"/boxes/{box['id']}", json={"user_confirmation": "delete"}, headers=alice["headers"])
    assert response.status_code == 204, response.text
    assert not any(blob_path(http, f).exists() for f in gone)
    assert blob_files(http) == [blob_path(http, kept)]
    assert_error(await http.get(f"/encrypted-files/{gone[0]}", headers=alice["headers"]), 404)


async def test_client_hanging_up_mid_upload_leaves_nothing(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    part = b'--b\r\nContent-Disposition: form-data; name="encrypted_file"; filename="x"\r\n\r\n' + os.urandom(1000)
    incoming = [{"type": "http.request", "body": part, "more_body": True}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"authorization", alice["headers"]["Authorization"].encode()), (b"content-type", b"multipart/form-data; boundary=b")]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": f"/boxes/{box['id']}/encrypted-files", "raw_path": b"", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    await http._transport.app(scope, receive, send)  # type: ignore[attr-defined]
    assert sent[0]["status"] == 400
    assert blob_files(http) == []
    assert (await http.get(f"/boxes/{box['id']}/files", headers=alice["headers"])).json() == []


async def test_upload_is_announced_in_realtime(http):
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    hub = http._transport.app.state.hub  # type: ignore[attr-defined]
    socket = hub.connect(alice["id"])
    try:
        event = (await upload(http, alice, box)).json()
        message = json.loads(await asyncio.wait_for(socket.queue.get(), 5))
        assert message == {"type": "event.new", "object": event}
    finally:
        hub.disconnect(socket)
