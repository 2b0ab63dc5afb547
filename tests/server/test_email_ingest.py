"""E-mail in (PROTOCOL §4.2): POST /boxes/{id}/email with a raw RFC 822 message."""

from __future__ import annotations

import os
from email.message import EmailMessage, MIMEPart

import pytest

from boxtui.crypto import decrypt_file, open_file_metadata, open_text
from tests.conftest import _running, asgi_client
from tests.server.helpers import assert_error, create_box, post_event, signup_login
from tests.server.test_files import blob_files, box_with_keys, limited_http  # noqa: F401 - fixture

PDF = b"%PDF-1.4\n" + os.urandom(5000)


def eml(body: str = "Hello from the outside.\nSecond line.", attachments=(), html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Zoë Martin <zoe@example.org>"
    message["To"] = "box@example.com"
    message["Subject"] = "Quarterly report ✓"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, maintype, subtype, data in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


async def send(http, user, box_id, raw: bytes, content_type: str = "message/rfc822"):
    return await http.post(f"/boxes/{box_id}/email", content=raw, headers={**user["headers"], "Content-Type": content_type})


async def test_email_with_attachments_becomes_sealed_messages(http):
    alice = await signup_login(http, "alice@example.com")
    box, secret = await box_with_keys(http, alice)
    raw = eml(attachments=[("report.pdf", "application", "pdf", PDF), ("notes.txt", "text", "plain", b"plain notes\n")])

    response = await send(http, alice, box["id"], raw)
    assert response.status_code == 201, response.text
    events = response.json()["events"]
    assert [e["type"] for e in events] == ["msg.text", "msg.file", "msg.file"]
    text, *files = events
    assert text["content"]["public_key"] == box["public_key"]
    assert open_text(text["content"]["encrypted"], secret) == (
        "From: Zoë Martin <zoe@example.org>\nSubject: Quarterly report ✓\n\nHello from the outside.\nSecond line."
    )
    opened = []
    for event in files:
        meta = open_file_metadata(event["content"]["encrypted"], secret)
        blob = await http.get(f"/encrypted-files/{event['content']['encrypted_file_id']}", headers=alice["headers"])
        assert blob.status_code == 200
        opened.append((meta.file_name, meta.file_type, meta.file_size, decrypt_file(blob.content, meta.key)))
    assert opened == [
        ("report.pdf", "application/pdf", len(PDF), PDF),
        ("notes.txt", "text/plain", len(b"plain notes\n"), b"plain notes\n"),
    ]
    # Stored only as ciphertext.
    assert all(PDF not in path.read_bytes() for path in blob_files(http))
    listed = (await http.get(f"/boxes/{box['id']}/events", headers=alice["headers"])).json()
    assert [e["id"] for e in listed][-3:] == [e["id"] for e in events]


async def test_html_only_email_and_plain_single_part(http):
    alice = await signup_login(http, "alice@example.com")
    box, secret = await box_with_keys(http, alice)
    message = EmailMessage()
    message["From"] = "news@example.org"
    message["Subject"] = "News"
    message.set_content("<html><body><h1>Title</h1><p>First &amp; <b>bold</b></p><script>x()</script></body></html>", subtype="html")
    events = (await send(http, alice, box["id"], message.as_bytes())).json()["events"]
    assert len(events) == 1
    assert open_text(events[0]["content"]["encrypted"], secret) == "From: news@example.org\nSubject: News\n\nTitle\nFirst & bold"

    bare = b"Subject: only a subject\r\n\r\nbody\r\n"
    events = (await send(http, alice, box["id"], bare)).json()["events"]
    assert open_text(events[0]["content"]["encrypted"], secret) == "Subject: only a subject\n\nbody"


async def test_email_errors(http):
    alice = await signup_login(http, "alice@example.com")
    eve = await signup_login(http, "eve@example.com")
    box = await create_box(http, alice)

    assert_error(await send(http, alice, box["id"], b""), 400, body="required")
    assert_error(await send(http, alice, box["id"], b"   \r\n"), 400, body="required")
    assert_error(await send(http, alice, box["id"], b"just some words without any header line"), 400, body="malformed")
    assert_error(await send(http, alice, box["id"], eml(), "text/plain"), 415, "unsupported_media_type")
    assert_error(await http.post(f"/boxes/{box['id']}/email", content=eml(), headers=alice["headers"]), 415)
    assert_error(await send(http, eve, box["id"], eml()), 403, reason="no_access")
    assert_error(await send(http, alice, "nope", eml()), 400, box_id="malformed")
    assert_error(await http.post(f"/boxes/{box['id']}/email", content=eml(), headers={"Content-Type": "message/rfc822"}), 401)
    await post_event(http, alice, box["id"], {"type": "state.lifecycle", "content": {"state": "closed"}})
    assert_error(await send(http, alice, box["id"], eml()), 409, lifecycle="conflict")
    assert blob_files(http) == []


async def test_email_over_the_limit_or_quota(limited_http):
    http = limited_http
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    big = eml(attachments=[("big.bin", "application", "octet-stream", os.urandom(8000))])
    assert_error(await send(http, alice, box["id"], big), 413, body="too_large")
    fits = eml(attachments=[("part.bin", "application", "octet-stream", os.urandom(2500))])
    for _ in range(4):
        assert (await send(http, alice, box["id"], fits)).status_code == 201
    # Attachments count against the sender's quota (10 KiB here): nothing half-written.
    before = (await http.head(f"/boxes/{box['id']}/events", headers=alice["headers"])).headers["x-total-count"]
    assert_error(await send(http, alice, box["id"], fits), 403, quota="forbidden")
    after = (await http.head(f"/boxes/{box['id']}/events", headers=alice["headers"])).headers["x-total-count"]
    assert before == after
    assert len(blob_files(http)) == 4


@pytest.fixture
async def no_email_http(sqlite_settings):
    async for app in _running(sqlite_settings.model_copy(update={"email_ingest": False})):
        async with asgi_client(app) as client:
            yield client


async def test_email_ingest_can_be_turned_off(no_email_http):
    http = no_email_http
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    assert_error(await send(http, alice, box["id"], eml()), 403, "forbidden", email_ingest="forbidden")


async def test_nested_and_forwarded_attachments_and_long_bodies(http):
    alice = await signup_login(http, "alice@example.com")
    box, secret = await box_with_keys(http, alice)
    forwarded = EmailMessage()
    forwarded["From"] = "old@example.org"
    forwarded["Subject"] = "Original"
    forwarded.set_content("the original text")
    related = MIMEPart()
    related.set_content("see the picture")
    related.add_related(b"\x89PNG fake image", maintype="image", subtype="png", cid="<pic@x>")
    outer = EmailMessage()
    outer["From"] = "fwd@example.org"
    outer["Subject"] = "Fwd"
    outer.set_content("x" * 30_000 + "END")  # longer than a msg.text may hold
    outer.make_mixed()
    outer.attach(related)  # an inline image one level down
    outer.add_attachment(forwarded)

    events = (await send(http, alice, box["id"], outer.as_bytes())).json()["events"]
    assert [e["type"] for e in events] == ["msg.text", "msg.file", "msg.file", "msg.file"]
    text = open_text(events[0]["content"]["encrypted"], secret)
    assert len(events[0]["content"]["encrypted"]) < 64 * 1024
    assert text.startswith("From: fwd@example.org\nSubject: Fwd\n\nxxx")
    assert text.endswith("[The full message is attached as message.txt]")
    found = {}
    for event in events[1:]:
        meta = open_file_metadata(event["content"]["encrypted"], secret)
        blob = await http.get(f"/encrypted-files/{event['content']['encrypted_file_id']}", headers=alice["headers"])
        found[meta.file_type] = (meta.file_name, decrypt_file(blob.content, meta.key))
    assert found["text/plain"][0] == "message.txt"
    assert found["text/plain"][1].decode().endswith("x" * 10 + "END")
    assert found["image/png"][1] == b"\x89PNG fake image"
    name, data = found["message/rfc822"]
    assert name.endswith(".eml") and b"Subject: Original" in data and b"the original text" in data
