"""Blobs never orphaned (issue 7 part 5): the sweep removes what a crash left behind,
and nothing an upload in flight may still claim."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from boxtui.server.files.service import sweep_orphan_blobs
from tests.conftest import _running, asgi_client, make_settings
from tests.server.helpers import create_box, signup_login, upload_file
from tests.server.test_files import blob_files


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _orphan(settings, age: float) -> os.PathLike:
    """What a kill -9 between placing a blob and committing its row leaves behind."""
    file_id = str(uuid.uuid4())
    path = settings.blob_dir / file_id[:2] / file_id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ciphertext nobody will ever claim")
    _age(path, age)
    return path


async def test_sweep_removes_old_orphans_and_keeps_everything_else(server_app, http):
    settings = server_app.state.settings
    alice = await signup_login(http, "alice@example.com")
    box = await create_box(http, alice)
    event = await upload_file(http, alice, box["id"], b"kept: it has a row")
    kept = settings.blob_dir / event["content"]["encrypted_file_id"][:2] / event["content"]["encrypted_file_id"]
    _age(kept, 10 * settings.blob_sweep_grace_seconds)  # old, but claimed
    old_orphan = _orphan(settings, settings.blob_sweep_grace_seconds + 60)
    young_orphan = _orphan(settings, settings.upload_timeout_seconds)  # may still get its row
    stray = settings.blob_dir / "ab" / "not-a-blob-id"
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"not ours to judge")
    _age(stray, 10 * settings.blob_sweep_grace_seconds)

    removed = await sweep_orphan_blobs(server_app.state.sessionmaker, settings)
    assert removed == 1
    assert not os.path.exists(old_orphan)
    assert os.path.exists(young_orphan) and kept.exists() and stray.exists()
    download = await http.get(f"/encrypted-files/{event['content']['encrypted_file_id']}", headers=alice.headers)
    assert download.status_code == 200 and download.content == b"kept: it has a row"
    # Once old enough, the young orphan goes too.
    later = time.time() + settings.blob_sweep_grace_seconds
    assert await sweep_orphan_blobs(server_app.state.sessionmaker, settings, now=later) == 1
    assert not os.path.exists(young_orphan) and kept.exists()


async def test_placing_a_blob_restarts_its_grace(server_app, http):
    """A blob staged long ago (a slow mail) but placed just now is young."""
    settings = server_app.state.settings
    from boxtui.server.files.service import blob_store

    staged = await blob_store(settings).stage()
    await staged.write(b"early bytes")
    _age(staged._path, settings.blob_sweep_grace_seconds + 600)
    file_id = staged.file_id
    await staged.commit()  # placed, its row not committed yet
    assert await sweep_orphan_blobs(server_app.state.sessionmaker, settings) == 0
    assert (settings.blob_dir / file_id[:2] / file_id).exists()


async def test_sweep_runs_at_start_and_periodically(tmp_path):
    settings = make_settings(tmp_path / "data", blob_sweep_interval_seconds=0.2)
    settings.blob_dir.mkdir(parents=True)
    at_start = _orphan(settings, settings.blob_sweep_grace_seconds + 60)
    async for app in _running(settings):
        async with asgi_client(app) as http:
            await signup_login(http, "alice@example.com")
        for _ in range(250):
            if not os.path.exists(at_start):
                break
            await asyncio.sleep(0.02)
        assert not os.path.exists(at_start)
        later = _orphan(settings, settings.blob_sweep_grace_seconds + 60)
        for _ in range(250):
            if not os.path.exists(later):
                break
            await asyncio.sleep(0.02)
        assert not os.path.exists(later)
        assert blob_files(http) == []


def test_the_grace_must_exceed_the_upload_timeout(tmp_path):
    with pytest.raises(ValueError, match="blob_sweep_grace_seconds"):
        make_settings(tmp_path, upload_timeout_seconds=3600, blob_sweep_grace_seconds=3600)


async def test_uploads_end_within_the_upload_timeout(tmp_path):
    """The bound the sweep's rule rests on: an upload still arriving after it is 408, and leaves nothing."""
    from tests.server.helpers import assert_error, ciphertext, random_key

    settings = make_settings(tmp_path / "data", upload_timeout_seconds=0.3)
    async for app in _running(settings):
        async with asgi_client(app) as http:
            alice = await signup_login(http, "alice@example.com")
            box = await create_box(http, alice)

            async def slow_form():
                yield (
                    b"--X\r\nContent-Disposition: form-data; name=\"msg_encrypted_content\"\r\n\r\n" + ciphertext().encode() + b"\r\n"
                    b"--X\r\nContent-Disposition: form-data; name=\"msg_public_key\"\r\n\r\n" + random_key().encode() + b"\r\n"
                    b"--X\r\nContent-Disposition: form-data; name=\"encrypted_file\"; filename=\"b\"\r\n\r\n"
                )
                for _ in range(4):
                    await asyncio.sleep(0.15)
                    yield b"x" * 1000
                yield b"\r\n--X--\r\n"

            async def slow_mail():
                yield b"Subject: slow\r\n\r\n"
                for _ in range(4):
                    await asyncio.sleep(0.15)
                    yield b"line\r\n"

            headers = {**alice.headers, "content-type": "multipart/form-data; boundary=X"}
            assert_error(await http.post(f"/boxes/{box['id']}/encrypted-files", content=slow_form(), headers=headers), 408, "request_timeout", body="expired")
            headers = {**alice.headers, "content-type": "message/rfc822"}
            assert_error(await http.post(f"/boxes/{box['id']}/email", content=slow_mail(), headers=headers), 408, "request_timeout", body="expired")
            assert blob_files(http) == []
