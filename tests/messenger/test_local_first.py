"""Local-first messenger (issue 10) against the real in-process server: the store is
filled as the messenger reads, catch-up merges by id, the outbox sends exactly once,
and with the network down everything stored is readable and searchable.

The network is cut with a transport that refuses to connect (the server behind it is
the real one, untouched), which is what an unreachable server looks like to httpx.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from boxtui.client.client import BoxClient
from boxtui.messenger.errors import MessengerError
from boxtui.messenger.messenger import Messenger, Queued
from boxtui.messenger.profile import Profile
from tests.conftest import PASSWORD, asgi_transport

from .conftest import BASE_URL, CHEAP_KDF


class Network(httpx.AsyncBaseTransport):
    """The real server's transport, with a switch that makes it unreachable."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def net(sqlite_app):
    return Network(asgi_transport(sqlite_app))


@pytest.fixture
async def ada(net, tmp_path):
    client = BoxClient(BASE_URL, transport=net)
    messenger = await Messenger.signup(client, Profile.load(tmp_path / "ada"), "ada@example.org", PASSWORD, "Ada", **CHEAP_KDF)
    yield messenger
    messenger.close_local()
    await client.aclose()


async def _restart(messenger: Messenger, net: Network) -> Messenger:
    """The app quit and started again on the same profile (offline or not)."""
    messenger.close_local()
    client = BoxClient(BASE_URL, transport=net)
    return await Messenger.resume(client, Profile.load(messenger.profile.home), PASSWORD, offline_ok=True, **CHEAP_KDF)


async def test_sync_fills_the_store_and_catch_up_merges_by_id(ada, user):
    bob = await user("bob")
    box = await ada.create_box("Team")
    for i in range(5):
        await ada.send_text(box.id, f"hello {i}")
    assert await ada.sync() == [box.id] or True
    stored = ada.stored_page(box.id)
    assert [e.text for e in stored if e.is_message] == [f"hello {i}" for i in range(5)]
    assert [s.box.title for s in ada.stored_boxes()] == ["Team"]
    assert ada.stored_boxes()[0].preview == "hello 4"

    await ada.set_access_mode(box.id, public=True)
    link = await ada.invitation_link(box.id)
    await bob.join_link(link)
    await bob.send_text(box.id, "bob was here")
    await ada.sync()
    await ada.sync()  # nothing new: no duplicate
    texts = [e.summary for e in ada.stored_page(box.id)]
    assert texts.count("bob was here") == 1
    assert texts[-1] == "bob was here"
    assert len({e.event.id for e in ada.stored_page(box.id)}) == len(texts)
    # a page fetched again through the network path is merged, not duplicated
    await ada.timeline_page(box.id, tail=True)
    assert [e.summary for e in ada.stored_page(box.id)] == texts


async def test_realtime_events_edits_and_deletes_are_folded_into_the_store(ada):
    box = await ada.create_box("Notes")
    first = await ada.send_text(box.id, "draft one")
    await ada.sync()
    second = await ada.send_text(box.id, "second")  # a live box: appended at once
    assert [e.text for e in ada.stored_page(box.id) if e.is_message] == ["draft one", "second"]
    edit = await ada.edit_text(box.id, first.id, "final text")
    ada.apply_realtime(edit)
    deletion = await ada.delete_message(box.id, second.id)
    ada.apply_realtime(deletion)
    rows = [e for e in ada.stored_page(box.id) if e.is_message]
    assert [(e.text, e.edited, e.deleted) for e in rows] == [("final text", True, False), (None, False, True)]
    assert [r.entry.text for r in ada.search("final")] == ["final text"]
    assert ada.search("draft") == [] and ada.search("second") == []


async def test_offline_start_reads_searches_and_queues_then_sends_exactly_once(ada, net):
    box = await ada.create_box("Field notes")
    await ada.send_text(box.id, "the river is high today")
    await ada.sync()

    net.down = True
    offline = await _restart(ada, net)
    assert offline.online is False
    assert [s.box.title for s in offline.stored_boxes()] == ["Field notes"]
    assert [s.box.title for s in await offline.list_boxes()] == ["Field notes"]  # falls back to the store
    page = await offline.timeline_page(box.id, tail=True)
    assert [e.text for e in page if e.is_message] == ["the river is high today"]
    assert [r.box_title for r in offline.search("river")] == ["Field notes"]
    with pytest.raises(Queued):
        await offline.send_text(box.id, "written offline")
    with pytest.raises(Queued):
        await offline.send_text(box.id, "and another")
    assert [(p.text, p.pending) for p in offline.pending(box.id)] == [("written offline", True), ("and another", True)]

    again = await _restart(offline, net)  # quit and start again, still offline: still queued
    assert [p.text for p in again.pending(box.id)] == ["written offline", "and another"]

    net.down = False
    await again.sync()
    assert again.pending(box.id) == []
    events = [e for e in await again.timeline_page(box.id, tail=True) if e.is_message]
    assert [e.text for e in events] == ["the river is high today", "written offline", "and another"]
    assert await again.flush_outbox() == 0  # nothing sent twice
    again.close_local()


async def test_a_send_whose_answer_was_lost_is_not_sent_twice(ada):
    """The first attempt reached the server but its answer never came back (a crash or
    kill -9 between send and answer): the retry carries the same key and gets the
    first event back."""
    box = await ada.create_box("Once")
    await ada.sync()
    local_id = ada._queue(box.id, "text", {"type": "msg.text", "content": _sealed(ada, box.id, "only once")}, "only once")
    entry = ada.local.outbox.get(local_id)
    first = await ada.client.events.post(box.id, "msg.text", entry.body["content"], idempotency_key=entry.idempotency_key)
    assert await ada.flush_outbox() == 1
    assert ada.local.outbox.get(local_id).event_id == first.id
    texts = [e.text for e in await ada.timeline_page(box.id, tail=True) if e.is_message]
    assert texts == ["only once"]


def _sealed(messenger: Messenger, box_id: str, text: str) -> dict:
    from boxtui.core.encoding import b64u_encode
    from boxtui.crypto import seal_text

    public = messenger.box_public_key(box_id)
    return {"encrypted": seal_text(text, public), "public_key": b64u_encode(public)}


async def test_outbox_keeps_order_and_a_refused_message_waits_for_the_user(ada, net):
    box = await ada.create_box("Order")
    await ada.sync()
    net.down = True
    for text in ("one", "two", "three"):
        with pytest.raises(Queued):
            await ada.send_text(box.id, text)
    net.down = False
    await ada.flush_outbox()
    texts = [e.text for e in await ada.timeline_page(box.id, tail=True) if e.is_message]
    assert texts == ["one", "two", "three"]

    await ada.set_lifecycle(box.id, closed=True)
    net.down = True
    with pytest.raises(Queued):
        await ada.send_text(box.id, "into a closed box")
    net.down = False
    await ada.flush_outbox()
    [held] = ada.pending(box.id)
    assert held.error and "closed" in held.error  # shown with the reason, not lost
    ada.discard_queued(held.event.id.removeprefix("pending:"))
    assert ada.pending(box.id) == []


async def test_queued_file_upload_restarts_cleanly(ada, net, tmp_path):
    box = await ada.create_box("Files")
    await ada.sync()
    path = tmp_path / "report.txt"
    path.write_bytes(b"quarterly numbers " * 1000)
    net.down = True
    with pytest.raises(Queued):
        await ada.upload_file(box.id, path)
    [pending] = ada.pending(box.id)
    assert pending.file.file_name == "report.txt"
    path.unlink()  # the queued copy is sealed in the outbox: the original may go
    net.down = False
    await ada.flush_outbox()
    [event] = [e for e in await ada.timeline_page(box.id, tail=True) if e.event.type == "msg.file"]
    saved = await ada.download_file(event.event, tmp_path / "out")
    assert saved.read_bytes() == b"quarterly numbers " * 1000
    assert [r.entry.file.file_name for r in ada.search("report")] == ["report.txt"]


async def test_backfill_fetches_the_whole_history_with_progress(ada, monkeypatch):
    import boxtui.messenger.sync as sync

    monkeypatch.setattr(sync, "CATCH_UP_PAGE", 10)
    monkeypatch.setattr(sync, "BACKFILL_PAGE", 7)
    box = await ada.create_box("History")
    for i in range(40):
        await ada.client.events.post(box.id, "msg.text", _sealed(ada, box.id, f"old message {i}"))
    await ada.sync()
    assert len(ada.stored_page(box.id, limit=1000)) == 10
    seen = []
    added = await ada.backfill(box.id, lambda done, total: seen.append((done, total)))
    stored = ada.stored_page(box.id, limit=1000)
    assert added == len(stored) - 10
    assert [e.text for e in stored if e.is_message] == [f"old message {i}" for i in range(40)]
    assert seen[-1][0] == seen[-1][1] == len(stored)
    assert [r.entry.text for r in ada.search("message 3", box_id=box.id)][-1] == "old message 3"
    assert ada.local.cache.box(box.id).complete


async def test_a_box_we_are_removed_from_keeps_its_history_read_only(ada, user):
    bob = await user("bob")
    box = await bob.create_box("Bob's box")
    await ada.sync()
    await bob.set_access_mode(box.id, public=True)
    link = await bob.invitation_link(box.id)
    await ada.join_link(link)
    await bob.send_text(box.id, "welcome ada")
    await ada.sync()
    await ada.leave(box.id)
    await ada.sync()
    [summary] = ada.stored_boxes()
    assert summary.member is False
    assert [s.box.title for s in ada.stored_boxes(include_left=False)] == []
    assert "welcome ada" in [e.text for e in ada.stored_page(box.id)]
    assert [r.box_title for r in ada.search("welcome")] == ["Bob's box"]


async def test_a_damaged_cache_is_rebuilt_from_the_server_and_the_outbox_survives(ada, net):
    box = await ada.create_box("Precious")
    await ada.send_text(box.id, "already sent")
    await ada.sync()
    net.down = True
    with pytest.raises(Queued):
        await ada.send_text(box.id, "queued before the damage")
    folder = ada.local.folder
    ada.close_local()
    cache = folder / "cache.db"
    data = bytearray(cache.read_bytes())
    for offset in range(0, len(data), 4096):
        data[offset + 64] ^= 0xFF  # damage every page
    cache.write_bytes(bytes(data))
    (folder / "cache.db-wal").unlink(missing_ok=True)
    net.down = False
    again = await _restart(ada, net)
    assert again.local.rebuilt and "set aside" in again.local.rebuilt
    assert list(folder.glob("cache.db.damaged-*"))
    assert [p.text for p in again.pending(box.id)] == ["queued before the damage"]
    await again.sync()
    texts = [e.text for e in again.stored_page(box.id) if e.is_message]
    assert texts == ["already sent", "queued before the damage"]
    again.close_local()


async def test_two_instances_on_one_profile_send_each_message_once(ada, net):
    box = await ada.create_box("Twins")
    await ada.sync()
    ada_again = await _restart(ada, net)
    twin = await Messenger.resume(  # a second app on the same profile, both open
        BoxClient(BASE_URL, transport=net), Profile.load(ada.profile.home), PASSWORD, **CHEAP_KDF
    )
    await ada_again.sync()
    await twin.sync()
    net.down = True
    for text in ("a", "b", "c"):
        with pytest.raises(Queued):
            await ada_again.send_text(box.id, text)
    net.down = False
    await asyncio.gather(ada_again.flush_outbox(), twin.flush_outbox(), ada_again.flush_outbox())
    await twin.flush_outbox()
    texts = [e.text for e in await twin.timeline_page(box.id, tail=True) if e.is_message]
    assert texts == ["a", "b", "c"]
    ada_again.close_local()
    twin.close_local()


async def test_a_sent_message_whose_record_cannot_be_written_is_sent_once(ada, net, monkeypatch):
    """The server took the message, then the disk filled before the outbox could note it:
    the send reports the event (not "not sent", which would invite sending it again), and
    the next flush records it, the server answering the same key with the same event."""
    from boxtui.store import Outbox, StoreFull

    box = await ada.create_box("Almost full")
    mark_sent = Outbox.mark_sent
    refused: list[str] = []

    def full_once(self, local_id, event_id):
        if not refused:
            refused.append(local_id)
            raise StoreFull("the disk is full: could not write the outbox; nothing was changed")
        return mark_sent(self, local_id, event_id)

    monkeypatch.setattr(Outbox, "mark_sent", full_once)
    event = await ada.send_text(box.id, "made it")
    assert refused and [e.local_id for e in ada.outbox_entries()] == refused  # not noted as sent yet
    assert await ada.flush_outbox() == 1  # sent again with its key: the server replays its answer
    assert ada.outbox_entries() == []
    texts = [e.text for e in await ada.timeline_page(box.id, tail=True) if e.is_message]
    assert texts == ["made it"]
    assert [e.event.id for e in await ada.timeline_page(box.id, tail=True) if e.is_message] == [event.id]


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 4 MiB file system (tmpfs; needs root to mount, skipped elsewhere)."""
    from tests.store.test_disk_full import mounted_tmpfs

    with mounted_tmpfs(tmp_path / "tiny", "4m") as mount:
        yield mount


def _fill(disk) -> None:
    """Take every free byte of the file system."""
    import os

    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (64 * 1024, 512):
            try:
                while True:
                    os.write(fd, b"\xff" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)


async def test_a_sync_page_that_does_not_fit_on_the_disk_is_reported_and_fetched_again(net, tiny_disk):
    """A full disk during a sync: a clear StoreFull, nothing stored lost or half-written,
    the box's stored end unmoved, and once there is room the next sync stores what was
    missed, each message once, in order."""
    from boxtui.store import StoreFull

    client = BoxClient(BASE_URL, transport=net)
    ada = await Messenger.signup(client, Profile.load(tiny_disk / "ada"), "ada@example.org", PASSWORD, "Ada", **CHEAP_KDF)
    box = await ada.create_box("Full")
    await ada.send_text(box.id, "before 1")
    await ada.send_text(box.id, "before 2")
    await ada.sync()
    stored_before = [e.text for e in ada.stored_page(box.id) if e.is_message]
    assert stored_before == ["before 1", "before 2"]
    ends_before = ada.local.cache.ends(box.id)
    # Sent from elsewhere (straight to the server): a sync page far larger than any slack
    # the store's files may have (the WAL is reused after a checkpoint).
    wal = ada.local.folder / "cache.db-wal"
    size = max(wal.stat().st_size if wal.exists() else 0, 64 * 1024)
    filler_text = "x" * 2000
    count = max(60, 3 * size // len(filler_text))
    texts = [f"later {i} {filler_text}" for i in range(count)]
    for text in texts:
        await client.events.post(box.id, "msg.text", _sealed(ada, box.id, text))

    _fill(tiny_disk)
    with pytest.raises(StoreFull, match="disk is full.*fetched again at the next sync"):
        await ada.sync()
    assert ada.local.cache.ends(box.id) == ends_before  # the refused page left nothing
    assert [e.text for e in ada.stored_page(box.id) if e.is_message] == stored_before
    with pytest.raises(StoreFull):  # still full: still reported, still nothing lost
        await ada.sync()

    (tiny_disk / "filler").unlink()  # room again
    await ada.sync()
    stored = [e.text for e in ada.stored_page(box.id, limit=1000) if e.is_message]
    assert stored == stored_before + texts
    again = await _restart(ada, net)  # and it was committed
    assert [e.text for e in again.stored_page(box.id, limit=1000) if e.is_message] == stored_before + texts
    again.close_local()
    await client.aclose()
