"""The messenger's side of the local store: where a profile's store lives, how it is
opened (and rebuilt when damaged), and the conversions between what the server sends
(``EventView``, ``BoxView``) and what is stored.

Kept free of the HTTP client and of pydantic-heavy imports at module level so that the
CLI's read verbs can answer from the store quickly (see ``docs/local-store.md``).

One store per (server, identity) in ``<data dir>/store/<id>/``: ``cache.db`` (boxes,
events, search; rebuildable) and ``outbox.db`` (+ ``outbox/`` blobs; never discarded
without the user saying so).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxtui.store import LocalCache, Outbox, StoreCorrupted, StoreError, StoreLocked
from boxtui.store.cache import EventRecord, StoredBox, StoredEvent

if TYPE_CHECKING:
    from boxtui.core.wire import BoxView, EventView

    from .models import TimelineEntry

__all__ = ["LocalStore", "store_dir", "record_of", "entry_of"]


def store_dir(data_dir: Path, server_url: str, identity_id: str) -> Path:
    """The folder of one account's store on one server."""
    digest = hashlib.sha256(f"{server_url.rstrip('/')}\n{identity_id}".encode()).hexdigest()[:16]
    return Path(data_dir) / "store" / digest


@dataclass
class LocalStore:
    """The open cache and outbox of one account on this device."""

    cache: LocalCache
    outbox: Outbox
    folder: Path
    #: Set when the cache was found damaged and rebuilt empty (a message for the user).
    rebuilt: str | None = None

    @classmethod
    def open(cls, folder: Path, keys: list[bytes], *, server_url: str = "", identity_id: str = "") -> LocalStore:
        """Open (or create) the store in ``folder``.

        A cache no key opens, or a damaged one, is moved aside (``cache.db.damaged-<time>``)
        and started afresh: the server has everything it held. The outbox is never moved
        aside silently: a damaged outbox is an error the user sees.
        """
        folder = Path(folder)
        # The "store" folder too, not only the account's own (mkdir's parents get the umask's mode).
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        outbox = Outbox.open(folder / "outbox.db", keys)
        rebuilt = None
        try:
            cache = LocalCache.open(folder / "cache.db", keys)
            cache.probe()  # a wrong key or a damaged file shows here, not at the first read
        except (StoreCorrupted, StoreLocked) as exc:
            rebuilt = f"the local cache could not be read ({exc}); it was set aside and is rebuilt from the server"
            set_aside(folder / "cache.db")
            cache = LocalCache.open(folder / "cache.db", keys)
        except BaseException:
            outbox.close()
            raise
        if server_url and cache.get_meta("server_url") is None:
            cache.set_meta("server_url", server_url)
            cache.set_meta("identity_id", identity_id)
        return cls(cache, outbox, folder, rebuilt)

    def close(self) -> None:
        with contextlib.suppress(StoreError):
            self.cache.close()
        with contextlib.suppress(StoreError):
            self.outbox.close()

    def rebuild_cache(self, keys: list[bytes], reason: str) -> None:
        """Set a damaged cache aside and start an empty one (found damaged while in use)."""
        with contextlib.suppress(StoreError):
            self.cache.close()
        set_aside(self.folder / "cache.db")
        self.cache = LocalCache.open(self.folder / "cache.db", keys)
        self.rebuilt = f"the local cache was damaged ({reason}); it was set aside and is rebuilt from the server"


def set_aside(path: Path) -> None:
    """Rename a damaged database (and its -wal/-shm) out of the way, keeping it."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{path}.damaged-{stamp}{suffix}"))


def remove_cache(folder: Path) -> int:
    """Delete a store's cache files (not its outbox); the bytes freed."""
    freed = 0
    for path in Path(folder).glob("cache.db*"):
        with contextlib.suppress(OSError):
            freed += path.stat().st_size
            path.unlink()
    return freed


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


# --- conversions ---------------------------------------------------------------------


def record_of(entry: TimelineEntry) -> EventRecord:
    """What to store of a decrypted entry."""
    view = entry.event.model_dump(mode="json", exclude_none=False)
    file_json = file_name = None
    if entry.file is not None:
        file_json = entry.file.to_json()
        file_name = entry.file.file_name
    return EventRecord(view, text=entry.text, file=file_json, file_name=file_name, error=entry.error)


def entry_of(stored: StoredEvent) -> TimelineEntry:
    """A stored event as the timeline shows it."""
    from boxtui.core.wire import EventView
    from boxtui.crypto import FileMetadata

    from .models import TimelineEntry

    file = None
    error = stored.error
    if stored.file is not None:
        try:
            file = FileMetadata.from_json(stored.file)
        except Exception:  # noqa: BLE001 - a damaged row reads as undecryptable, never a crash
            error = error or "cannot decrypt"
    return TimelineEntry(EventView.model_validate(stored.view()), text=stored.text, file=file, error=error)


def box_row(view: BoxView, preview: str) -> dict[str, Any]:
    last = view.last_event
    return {
        "id": view.id,
        "view": view.model_dump(mode="json"),
        "title": view.title,
        "preview": preview,
        "activity": last.server_event_created_at if last else view.server_created_at,
        "unread": view.events_count,
    }


def box_view(stored: StoredBox) -> BoxView:
    from boxtui.core.wire import BoxView

    return BoxView.model_validate(stored.view)


def event_dump(event: EventView) -> str:
    return json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
