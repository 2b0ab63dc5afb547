"""``client.events``: posting, listing, fetching, sharing events (PROTOCOL §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from boxtui.client.models import EventList, GetByIdsItem, RawLookupItem, lookup_items
from boxtui.client.pagination import PAGE_SIZE, iterate_after, iterate_offset
from boxtui.client.resources._base import Resource, page_params
from boxtui.core.wire import EventView

class EventsResource(Resource):
    async def post(
        self,
        box_id: str,
        type: str,
        content: Mapping[str, Any] | None = None,
        referrer_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> EventView:
        """Post an event (``msg.text``, ``msg.edit``, ``msg.delete``, ``member.join``, ``state.*``…).

        ``idempotency_key`` (every creating method takes one): the request's
        ``Idempotency-Key``, a fresh one when ``None``; a lost answer is fetched again
        with it (PROTOCOL §10.12). Pass a key you kept to resend a request safely.
        """
        body: dict[str, Any] = {"type": type}
        if content is not None:
            body["content"] = dict(content)
        if referrer_id is not None:
            body["referrer_id"] = referrer_id
        if extra is not None:
            body["extra"] = dict(extra)
        return await self._client.create_model(EventView, "POST", f"/boxes/{box_id}/events", json=body, idempotency_key=idempotency_key)

    async def list(
        self,
        box_id: str,
        *,
        offset: int | None = None,
        limit: int | None = None,
        after: str | None = None,
        before: str | None = None,
        tail: bool = False,
    ) -> list[EventView]:
        """One page of the box's events, oldest first; ``after``/``before``/``tail`` pick the window."""
        params = page_params(offset, limit, after=after, before=before, tail="true" if tail else None)
        return await self._client.get_model(list[EventView], "GET", f"/boxes/{box_id}/events", params=params)

    def iterate(self, box_id: str, *, after: str | None = None, page_size: int = PAGE_SIZE) -> AsyncIterator[EventView]:
        """Every event of the box (after ``after`` if given), oldest first, paging with ``after=``."""

        async def fetch(cursor: str | None, limit: int) -> list[EventView]:
            return await self.list(box_id, after=cursor, limit=limit)

        return iterate_after(fetch, lambda event: event.id, after, page_size)

    async def count(self, box_id: str) -> int:
        return await self._client.count(f"/boxes/{box_id}/events")

    async def files(self, box_id: str, offset: int | None = None, limit: int | None = None) -> list[EventView]:
        """One page of the box's (non-deleted) ``msg.file`` events, oldest first."""
        return await self._client.get_model(list[EventView], "GET", f"/boxes/{box_id}/files", params=page_params(offset, limit))

    def iterate_files(self, box_id: str, page_size: int = PAGE_SIZE) -> AsyncIterator[EventView]:
        async def fetch(offset: int, limit: int) -> list[EventView]:
            return await self.files(box_id, offset, limit)

        return iterate_offset(fetch, page_size)

    async def count_files(self, box_id: str) -> int:
        return await self._client.count(f"/boxes/{box_id}/files")

    async def get(self, event_id: str) -> EventView:
        return await self._client.get_model(EventView, "GET", f"/events/{event_id}")

    async def get_many(self, ids: Sequence[str]) -> list[GetByIdsItem]:
        """Events by id, in input order; an item the caller cannot have is an :class:`EventLookupFailure`.

        At most 100 ids; the server answers ``NotFound`` when none is found.
        """
        if not ids:
            return []
        raw = await self._client.get_model(list[RawLookupItem], "GET", "/events", params={"ids": ",".join(ids)})
        return lookup_items(raw)

    async def share(self, event_id: str, targets: Iterable[Mapping[str, Any]], *, idempotency_key: str | None = None) -> list[EventView]:
        """Copy a message into other boxes: ``targets`` are ``{"box_id", "content"}`` (content re-sealed per box)."""
        body = {"targets": [{"box_id": target["box_id"], "content": dict(target["content"])} for target in targets]}
        answer = await self._client.create_model(EventList, "POST", f"/events/{event_id}/shares", json=body, idempotency_key=idempotency_key)
        return answer.events

    async def batch(self, box_id: str, events: Iterable[Mapping[str, Any]], *, idempotency_key: str | None = None) -> list[EventView]:
        """Apply ``access.add``/``access.rm`` events at once (admin, ACR 2).

        Returns the created events in order, then the ``member.kick`` events they caused.
        """
        body = {"batch_type": "accesses", "events": [dict(event) for event in events]}
        return await self._client.create_model(list[EventView], "POST", f"/boxes/{box_id}/batch-events", json=body, idempotency_key=idempotency_key)

    async def email(self, box_id: str, raw_bytes: bytes, *, idempotency_key: str | None = None) -> list[EventView]:
        """Hand a raw RFC 822 message to the server's e-mail gateway (the server sees its plaintext)."""
        answer = await self._client.create_model(
            EventList,
            "POST",
            f"/boxes/{box_id}/email",
            content=raw_bytes,
            headers={"Content-Type": "message/rfc822"},
            idempotency_key=idempotency_key,
        )
        return answer.events
