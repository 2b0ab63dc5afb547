"""Answering the CLI's read verbs from the local store alone (no network, no Argon2id).

Used when an unlock agent holds the key store's derived key (``boxtui unlock``): the
key store is opened with it, the store key is read from it, and the account's store
(server and identity from the saved session) answers ``boxes``, ``events``, ``search``
and ``saved ls``. Imports neither the HTTP client nor the Textual app, so a call costs
little more than the interpreter's start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from boxtui.store import LocalCache
from boxtui.store.cache import StoredBox, StoredEvent, split_snippet

from .local import store_dir
from .profile import Profile

__all__ = ["StoreReader", "open_reader", "SAVED_META", "NotStored"]


class NotStored(Exception):
    """What was asked is not in the store yet: ask the server."""

#: The cache's meta key holding the last saved-files listing (opened metadata only).
SAVED_META = "saved_files"


@dataclass
class StoreReader:
    cache: LocalCache
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.cache.close()

    def set_aside(self) -> str:
        """The cache was found damaged while answering: close it and rename it out of
        the way (kept, as the app does), so the next call rebuilds it from the server.
        The outbox is another file and stays. Returns what to tell the user."""
        from .local import set_aside

        self.close()
        set_aside(self.cache.path)
        return "the local cache was damaged: it was set aside (kept beside it) and is filled again from the server at the next sync"

    def boxes(self) -> list[StoredBox]:
        return self.cache.boxes(members_only=True)

    def box_id(self, ref: str) -> str | None:
        """A stored box from an id or a unique title (None when unknown; ValueError
        when several match)."""
        boxes = self.cache.boxes()
        for box in boxes:
            if box.id == ref.lower():
                return box.id
        matches = [b for b in boxes if b.title == ref] or [b for b in boxes if b.title.casefold() == ref.casefold()]
        if len(matches) > 1:
            raise ValueError(f"several boxes are named {ref!r}: use the box id (see boxtui boxes)")
        return matches[0].id if matches else None

    def events(self, box_id: str) -> list[StoredEvent]:
        """The box's stored events; :class:`NotStored` when the box was never synced into
        this cache (a cache just rebuilt, or only listed): the server answers instead."""
        box = next((b for b in self.cache.boxes() if b.id == box_id), None)
        if box is None or box.synced_last_event is None:
            raise NotStored(box_id)
        return self.cache.page(box_id, limit=10**9)

    def search(self, text: str, box_id: str | None = None, limit: int = 50):
        return [(hit, split_snippet(hit.snippet)) for hit in self.cache.search(text, box_id=box_id, limit=limit)]

    def saved(self) -> list[dict[str, Any]] | None:
        raw = self.cache.get_meta(SAVED_META)
        return None if raw is None else json.loads(raw)


def open_reader(profile: Profile) -> StoreReader | None:
    """The store of the saved session's account, opened with the agent's key; None when
    there is no agent, no session or no store yet (the caller goes the slow way)."""
    from boxtui.crypto import KeyStore
    from boxtui.crypto.errors import CryptoError

    from .agent import fetch_key

    session = profile.session
    if session is None or not session.identity_id:
        return None
    folder = store_dir(profile.data_dir, session.server_url, session.identity_id)
    if not (folder / "cache.db").exists():
        return None
    key = fetch_key(profile.data_dir)
    if key is None:
        return None
    try:
        keystore = KeyStore.open_with_key(profile.keystore_path, key)
    except CryptoError:
        return None
    if not keystore.store_keys:
        return None
    return StoreReader(LocalCache.open(folder / "cache.db", keystore.store_keys))
