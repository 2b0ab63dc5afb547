"""The local cache: encrypted at rest, pages in server order, search, integrity."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from boxtui.store import EventRecord, LocalCache, Outbox, StoreCorrupted, StoreError, StoreLocked, split_snippet


def _event(box_id: str, n: int, text: str | None = None, *, ms: int | None = None, type_: str = "msg.text") -> EventRecord:
    ms = n if ms is None else ms
    view = {
        "id": str(uuid.uuid4()),
        "type": type_,
        "box_id": box_id,
        "server_event_created_at": f"2026-03-01T10:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z",
        "referrer_id": None,
        "sender": {"id": "5f0c4c8e-0000-4000-8000-000000000001", "display_name": "Ada Lovelace"},
        "content": {"encrypted": "c2VhbGVk" * 20, "public_key": "cGs"},
    }
    return EventRecord(view, text=f"message {n}" if text is None else text)


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def cache(tmp_path: Path, key: bytes):
    cache = LocalCache.open(tmp_path / "cache.db", [key])
    yield cache
    cache.close()


def _box(cache: LocalCache, title: str = "Team") -> str:
    box_id = str(uuid.uuid4())
    cache.save_boxes([{"id": box_id, "view": {"id": box_id, "title": title}, "title": title, "preview": "", "activity": "2026", "unread": 0}])
    return box_id


def test_file_is_private_and_holds_no_plaintext(tmp_path, cache):
    box_id = _box(cache, "Quarterly planning")
    cache.add_events(box_id, [_event(box_id, i, f"the launch codes are zebra{i}") for i in range(50)])
    cache.set_meta("identity", "ada@example.org")
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
        data = path.read_bytes()
        for needle in (b"zebra", b"launch", b"Quarterly", b"Ada Lovelace", b"ada@example.org", b"SQLite format"):
            assert needle not in data, (path.name, needle)


def test_pages_keep_server_order_across_appends_and_prepends(cache):
    box_id = _box(cache)
    events = [_event(box_id, i, ms=1000) for i in range(30)]  # one millisecond: order by pos, not time
    cache.add_events(box_id, events[10:20])
    cache.add_events(box_id, events[20:], after=events[19].view["id"])
    cache.add_events(box_id, events[:10], before=events[10].view["id"])
    assert [e.text for e in cache.page(box_id, limit=100)] == [f"message {i}" for i in range(30)]
    assert [e.text for e in cache.page(box_id, limit=5)] == [f"message {i}" for i in range(25, 30)]
    assert [e.text for e in cache.page(box_id, before=events[10].view["id"], limit=3)] == ["message 7", "message 8", "message 9"]
    assert [e.text for e in cache.page(box_id, after=events[27].view["id"])] == ["message 28", "message 29"]
    assert [e.text for e in cache.around(events[15].view["id"], limit=5)] == [f"message {i}" for i in range(13, 18)]
    assert cache.ends(box_id) == (events[0].view["id"], events[-1].view["id"], 30)


def test_overlapping_pages_are_deduplicated_and_refresh_known_events(cache):
    box_id = _box(cache)
    events = [_event(box_id, i) for i in range(10)]
    assert cache.add_events(box_id, events[:6]) == 6
    edited = EventRecord({**events[4].view, "content": {"encrypted": "x", "last_edited_at": "2026-03-02T00:00:00.000Z"}}, text="edited text")
    assert cache.add_events(box_id, [events[3], edited, *events[5:]], after=events[2].view["id"]) == 4
    page = cache.page(box_id)
    assert [e.text for e in page][3:6] == ["message 3", "edited text", "message 5"]
    assert page[4].content == {"last_edited_at": "2026-03-02T00:00:00.000Z"}  # ciphertext not kept
    assert len(page) == 10
    assert cache.search("edited")[0].event.id == events[4].view["id"]
    assert cache.search("message 4") == []


def test_a_page_that_would_leave_a_gap_is_refused(cache):
    box_id = _box(cache)
    cache.add_events(box_id, [_event(box_id, i) for i in range(3)])
    with pytest.raises(StoreError):
        cache.add_events(box_id, [_event(box_id, 10)])  # a tail page that meets nothing stored
    with pytest.raises(StoreError):
        cache.add_events(box_id, [_event(box_id, 11)], after=str(uuid.uuid4()))
    assert cache.ends(box_id)[2] == 3


def test_search_every_word_newest_first_one_box_and_snippets(cache):
    team, family = _box(cache, "Team"), _box(cache, "Family")
    cache.add_events(team, [_event(team, 1, "Deploy the release on Friday"), _event(team, 3, "release notes are ready")])
    cache.add_events(family, [_event(family, 2, "Café au lait, then the release party")])
    hits = cache.search("release")
    assert [h.event.text for h in hits] == ["release notes are ready", "Café au lait, then the release party", "Deploy the release on Friday"]
    assert [h.box_title for h in hits] == ["Team", "Family", "Team"]
    assert [h.event.text for h in cache.search("rel", box_id=team)] == ["release notes are ready", "Deploy the release on Friday"]
    assert [h.event.text for h in cache.search("cafe RELEASE")] == ["Café au lait, then the release party"]
    assert split_snippet(cache.search("friday")[0].snippet) == [("Deploy the release on ", False), ("Friday", True)]
    assert cache.search('"; DROP TABLE events; --') == []  # operators are plain words
    assert cache.search("   ") == []
    assert cache.counts()["events"] == 3


def test_file_names_are_searchable(cache):
    box_id = _box(cache)
    view = _event(box_id, 1).view | {"type": "msg.file"}
    cache.add_events(box_id, [EventRecord(view, text=None, file='{"file_name":"budget-2026.xlsx"}', file_name="budget-2026.xlsx")])
    assert [h.event.file for h in cache.search("budget")] == ['{"file_name":"budget-2026.xlsx"}']


def test_removed_box_keeps_its_history_read_only(cache):
    kept, gone = _box(cache, "Kept"), _box(cache, "Gone")
    cache.add_events(gone, [_event(gone, 1, "still readable")])
    marked = cache.save_boxes(
        [{"id": kept, "view": {"id": kept}, "title": "Kept", "preview": "", "activity": "2026", "unread": 0}], complete_list=True
    )
    assert marked == [gone]
    assert [b.id for b in cache.boxes(members_only=True)] == [kept]
    assert {b.id: b.member for b in cache.boxes()} == {kept: True, gone: False}
    assert cache.search("readable")[0].box_title == "Gone"


def test_wrong_key_changes_nothing(tmp_path, cache, key):
    box_id = _box(cache)
    cache.add_events(box_id, [_event(box_id, 1)])
    cache.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(StoreLocked, match="does not open"):
        LocalCache.open(tmp_path / "cache.db", [os.urandom(32)])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    reopened = LocalCache.open(tmp_path / "cache.db", [os.urandom(32), key])  # any key of the key store
    assert reopened.counts()["events"] == 1
    reopened.close()


def test_a_tampered_page_is_a_clear_error(tmp_path, cache, key):
    box_id = _box(cache)
    cache.add_events(box_id, [_event(box_id, i, "x" * 500) for i in range(200)])
    cache._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cache.close()
    path = tmp_path / "cache.db"
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[5 * 4096 + 100] ^= 0x01  # one bit of a page in the middle
    path.write_bytes(bytes(data))
    with pytest.raises((StoreCorrupted, StoreLocked)) as caught:
        damaged = LocalCache.open(path, [key])
        try:
            damaged.page(box_id, limit=1000)
            damaged.search("x")
        finally:
            damaged.close()
    assert "damaged" in str(caught.value)


def test_a_store_from_a_newer_boxtui_is_refused(tmp_path, key):
    cache = LocalCache.open(tmp_path / "cache.db", [key])
    cache._conn.execute("PRAGMA user_version = 99")
    cache.close()
    with pytest.raises(StoreError, match="newer boxtui"):
        LocalCache.open(tmp_path / "cache.db", [key])


def test_outbox_is_ordered_claimed_once_and_survives_reopening(tmp_path, key):
    first = Outbox.open(tmp_path / "outbox.db", [key])
    box_id = str(uuid.uuid4())
    a = first.add(box_id, "text", {"content": {"encrypted": "a"}}, "first", "2026-03-01T00:00:00Z")
    b = first.add(box_id, "file", {"content": {"encrypted": "b"}}, "photo.png", "2026-03-01T00:00:01Z", blob=b"\x00sealed")
    assert (tmp_path / "outbox" / f"{b.local_id}.blob").stat().st_mode & 0o777 == 0o600
    second = Outbox.open(tmp_path / "outbox.db", [key])  # another instance on the same profile
    claimed = first.claim_next()
    assert claimed.local_id == a.local_id
    assert second.claim_next() is None  # the oldest is held elsewhere: nothing newer jumps ahead
    first.mark_sent(a.local_id, "event-a")
    assert second.claim_next().local_id == b.local_id
    assert second.blob(b.local_id) == b"\x00sealed"
    second.release(b.local_id, "server unreachable")
    first.close()
    second.close()
    reopened = Outbox.open(tmp_path / "outbox.db", [key])
    assert [(e.preview, e.state, e.last_error) for e in reopened.entries(states=("queued", "sent"))] == [
        ("first", "sent", None),
        ("photo.png", "queued", "server unreachable"),
    ]
    again = reopened.claim_next()
    assert again.idempotency_key == b.idempotency_key and again.attempts == 2
    reopened.mark_failed(b.local_id, "the box is closed")
    assert reopened.pending_count() == 0
    reopened.retry(b.local_id)
    assert reopened.pending_count() == 1
    assert reopened.forget_sent(["event-a"]) == 1
    reopened.close()
