"""A full disk: the write that does not fit is refused with a clear error, everything
written before stays readable, nothing is half-written. Uses a real 512 KiB tmpfs
(needs root to mount; skipped elsewhere)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtui.store import EventRecord, LocalCache, Outbox, StoreFull


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real file system of ``size`` (tmpfs) at ``folder``; needs root to mount, so the
    test is skipped elsewhere."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def tiny_disk(tmp_path):
    with mounted_tmpfs(tmp_path / "tiny", "512k") as mount:
        yield mount


def _page(box_id: str, start: int, count: int) -> list[EventRecord]:
    return [
        EventRecord(
            {
                "id": str(uuid.uuid4()),
                "type": "msg.text",
                "box_id": box_id,
                "server_event_created_at": f"2026-03-01T10:00:{(start + i) // 1000 % 60:02d}.{(start + i) % 1000:03d}Z",
                "sender": {"id": "s", "display_name": "Ada"},
                "content": {},
            },
            text=f"message {start + i} " + os.urandom(300).hex(),
        )
        for i in range(count)
    ]


def test_cache_fills_the_disk_and_keeps_what_it_had(tiny_disk):
    key = os.urandom(32)
    cache = LocalCache.open(tiny_disk / "cache.db", [key])
    box_id = str(uuid.uuid4())
    stored, last_id = 0, None
    with pytest.raises(StoreFull, match="disk is full"):
        for round_ in range(1000):
            page = _page(box_id, stored, 50)
            cache.add_events(box_id, page, after=last_id)
            stored += len(page)
            last_id = page[-1].view["id"]
    assert stored > 0
    assert cache.ends(box_id)[2] == stored  # the refused page left nothing behind
    cache.close()
    reopened = LocalCache.open(tiny_disk / "cache.db", [key])
    assert reopened.ends(box_id)[2] == stored
    assert reopened.page(box_id, limit=1)[0].text.startswith(f"message {stored - 1} ")
    reopened.close()


def test_outbox_refuses_a_message_it_cannot_keep(tiny_disk):
    key = os.urandom(32)
    outbox = Outbox.open(tiny_disk / "outbox.db", [key])
    box_id = str(uuid.uuid4())
    queued = 0
    with pytest.raises(StoreFull, match="disk is full"):
        for _ in range(10000):
            outbox.add(box_id, "file", {"content": {}}, "big.bin", "2026-03-01T00:00:00Z", blob=os.urandom(64 * 1024))
            queued += 1
    assert len(outbox.entries()) == queued
    assert all(len(outbox.blob(e.local_id)) == 64 * 1024 for e in outbox.entries())
    assert len(list((tiny_disk / "outbox").iterdir())) == queued  # no orphan half-written blob
    outbox.close()
