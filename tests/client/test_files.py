"""``client.files`` and ``client.saved_files``: streamed uploads and downloads (PROTOCOL §5, §6)."""

from __future__ import annotations

import io
import os
import uuid

import pytest

from boxtui.client import BadRequest, Conflict, Forbidden, NotFound, TooLarge
from boxtui.client.streams import CHUNK_SIZE
from boxtui.core.wire import EventView, SavedFile
from tests.client.conftest import ciphertext, make_box, random_key


class Progress:
    """Records ``progress(done, total)`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None) -> None:
        self.calls.append((done, total))

    def check(self, size: int, total: int | None) -> None:
        done = [call[0] for call in self.calls]
        assert done == sorted(done), "progress never goes backwards"
        assert len(self.calls) > 2, "progress is reported chunk by chunk"
        assert self.calls[-1] == (size, total)


async def upload(user, box_id: str, data, **kwargs) -> EventView:
    return await user.client.files.upload(box_id, data, msg_encrypted_content=ciphertext(), msg_public_key=random_key(), **kwargs)


async def test_upload_path_and_download_streamed(ada, bob, tmp_path):
    box_id = await make_box(ada, bob)
    blob = os.urandom(3 * CHUNK_SIZE + 123)
    source = tmp_path / "blob.bin"
    source.write_bytes(blob)

    sent = Progress()
    event = await upload(ada, box_id, source, progress=sent)
    sent.check(len(blob), len(blob))
    assert isinstance(event, EventView) and event.type == "msg.file"
    file_id = event.content["encrypted_file_id"]

    received = Progress()
    dest = tmp_path / "out" / "copy.bin"
    dest.parent.mkdir()
    assert await bob.client.files.download(file_id, dest, progress=received) == len(blob)
    received.check(len(blob), len(blob))
    assert dest.read_bytes() == blob
    assert not (tmp_path / "out" / "copy.bin.part").exists()

    sink = io.BytesIO()
    await ada.client.files.download(file_id, sink)
    assert sink.getvalue() == blob
    assert await bob.client.files.download_bytes(file_id) == blob

    files = await bob.client.events.files(box_id)
    assert [f.id for f in files] == [event.id]
    assert await bob.client.events.count_files(box_id) == 1


async def test_upload_bytes_and_async_iterable_with_reply(ada):
    box_id = await make_box(ada)
    reported = []

    async def async_progress(done: int, total: int | None) -> None:
        reported.append((done, total))

    first = await upload(ada, box_id, b"small ciphertext", progress=async_progress)
    assert reported[-1] == (16, 16)
    assert await ada.client.files.download_bytes(first.content["encrypted_file_id"]) == b"small ciphertext"

    parts = [os.urandom(100_000) for _ in range(5)]

    async def chunks():
        for part in parts:
            yield part

    sent = Progress()
    second = await upload(ada, box_id, chunks(), referrer_id=first.id, progress=sent)  # no size: sent chunked
    sent.check(500_000, None)
    assert second.referrer_id == first.id
    assert await ada.client.files.download_bytes(second.content["encrypted_file_id"]) == b"".join(parts)

    async def sized():
        for part in parts:
            yield part

    third = await upload(ada, box_id, sized(), size=500_000)
    assert await ada.client.files.download_bytes(third.content["encrypted_file_id"]) == b"".join(parts)
    assert [f.id async for f in ada.client.events.iterate_files(box_id, page_size=2)] == [first.id, second.id, third.id]


async def test_file_errors(ada, bob, tmp_path):
    box_id = await make_box(ada)
    with pytest.raises(BadRequest):
        await upload(ada, box_id, b"")
    with pytest.raises(Forbidden):
        await upload(bob, box_id, b"not a member")
    event = await upload(ada, box_id, b"secret")
    with pytest.raises(Forbidden):
        await bob.client.files.download_bytes(event.content["encrypted_file_id"])
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with pytest.raises(NotFound):
        await ada.client.files.download(str(uuid.uuid4()), downloads / "never.bin")
    assert list(downloads.iterdir()) == []  # no partial file left behind
    with pytest.raises(TypeError):
        await upload(ada, box_id, 12345)


async def test_upload_over_the_limit_is_too_large(connect_limited):
    user, box_id = connect_limited
    with pytest.raises(TooLarge) as caught:
        await upload(user, box_id, os.urandom(4096))
    assert caught.value.status == 413 and caught.value.code == "request_entity_too_large"


async def test_saved_files(ada, bob):
    box_id = await make_box(ada, bob)
    events = [await upload(ada, box_id, os.urandom(64)) for _ in range(3)]
    saved = []
    for event in events:
        saved.append(
            await bob.client.saved_files.create(
                encrypted_file_id=event.content["encrypted_file_id"],
                identity_id=bob.id,
                encrypted_metadata=ciphertext(),
                key_fingerprint=random_key(),
            )
        )
    assert all(isinstance(item, SavedFile) for item in saved)
    with pytest.raises(Conflict):
        await bob.client.saved_files.create(
            encrypted_file_id=events[0].content["encrypted_file_id"], identity_id=bob.id, encrypted_metadata=ciphertext(), key_fingerprint=random_key()
        )
    with pytest.raises(Forbidden):
        await ada.client.saved_files.list(bob.id)

    direct = await bob.client.saved_files.upload_direct(bob.id, b"direct blob", encrypted_metadata=ciphertext(), key_fingerprint=random_key())
    assert await bob.client.files.download_bytes(direct.encrypted_file_id) == b"direct blob"

    listed = [item.id async for item in bob.client.saved_files.iterate(bob.id, page_size=2)]
    assert listed == [direct.id] + [item.id for item in reversed(saved)]  # newest first
    assert await bob.client.saved_files.count(bob.id) == 4
    assert [item.id for item in await bob.client.saved_files.list(bob.id, offset=1, limit=1)] == [saved[2].id]
    assert (await bob.client.events.get(events[0].id)).is_saved is True

    await bob.client.saved_files.delete(saved[0].id)
    assert await bob.client.saved_files.count(bob.id) == 3
    with pytest.raises(NotFound):
        await bob.client.saved_files.delete(saved[0].id)
