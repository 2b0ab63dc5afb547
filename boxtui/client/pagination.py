"""Async iterators over paginated list routes (PROTOCOL §1: ``offset``/``limit``, cursors on events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["PAGE_SIZE", "MAX_PAGE_SIZE", "iterate_offset", "iterate_after"]

T = TypeVar("T")

#: The server's default page size, and its maximum.
PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000


def _check(page_size: int) -> int:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return page_size


async def iterate_offset(fetch: Callable[[int, int], Awaitable[Sequence[T]]], page_size: int = PAGE_SIZE) -> AsyncIterator[T]:
    """Yield every item of ``fetch(offset, limit)`` pages until a short page.

    Offsets shift if the list changes while it is walked (e.g. a box with new activity
    moves to the front of ``joined``): an item may then be seen twice or skipped.
    """
    _check(page_size)
    offset = 0
    while True:
        page = await fetch(offset, page_size)
        for item in page:
            yield item
        if len(page) < page_size:
            return
        offset += len(page)


async def iterate_after(
    fetch: Callable[[str | None, int], Awaitable[Sequence[T]]],
    cursor_of: Callable[[T], str],
    after: str | None = None,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[T]:
    """Yield every item of ``fetch(after, limit)`` pages, each page starting after the previous one's last item.

    Stable under insertions: new items land at the end and are picked up by later pages.
    """
    _check(page_size)
    while True:
        page = await fetch(after, page_size)
        for item in page:
            yield item
        if len(page) < page_size:
            return
        after = cursor_of(page[-1])
