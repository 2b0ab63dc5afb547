"""Errors of the local store; each message is fit to show a user as it is."""

from __future__ import annotations

__all__ = ["StoreError", "StoreLocked", "StoreCorrupted", "StoreFull", "StoreBusy"]


class StoreError(Exception):
    """The local store cannot do what was asked (message fit for a user)."""


class StoreLocked(StoreError):
    """None of the key store's keys opens this store file (another key store made it,
    or its first page is damaged: the two cannot be told apart). Nothing was changed."""


class StoreCorrupted(StoreError):
    """A page of the store fails its authentication tag or SQLite's own checks."""


class StoreFull(StoreError):
    """The disk (or the file system's quota) is full; the write was rolled back."""


class StoreBusy(StoreError):
    """Another process held the store's write lock for longer than the busy timeout."""
