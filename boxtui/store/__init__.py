"""The client's local encrypted store (issue 10): the cache of boxes and events with
its full-text index (:class:`LocalCache`), and the outbox (:class:`Outbox`).

Both are SQLite files encrypted page by page (SQLite3 Multiple Ciphers,
ChaCha20-Poly1305) under a key kept in the key store. See ``docs/local-store.md``.
"""

from .cache import EventRecord, LocalCache, SearchHit, StoredBox, StoredEvent, fts_query, split_snippet
from .errors import StoreBusy, StoreCorrupted, StoreError, StoreFull, StoreLocked
from .outbox import Outbox, OutboxEntry

__all__ = [
    "EventRecord",
    "LocalCache",
    "Outbox",
    "OutboxEntry",
    "SearchHit",
    "StoreBusy",
    "StoreCorrupted",
    "StoreError",
    "StoreFull",
    "StoreLocked",
    "StoredBox",
    "StoredEvent",
    "fts_query",
    "split_snippet",
]
