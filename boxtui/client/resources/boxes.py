"""``client.boxes``: creating, listing, reading and deleting boxes (PROTOCOL §3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from boxtui.client.pagination import PAGE_SIZE, iterate_offset
from boxtui.client.resources._base import Resource, page_params
from boxtui.core.wire import BoxView, EventView, IdentityView, PublicBox


class BoxesResource(Resource):
    async def create(
        self, title: str, public_key: str, key_share: Mapping[str, str] | None = None, *, idempotency_key: str | None = None
    ) -> BoxView:
        """Create a box. ``key_share`` is ``{misakey_share, other_share_hash, encrypted_invitation_key_share}`` (§7)."""
        body: dict = {"title": title, "public_key": public_key}
        if key_share is not None:
            body["key_share"] = dict(key_share)
        return await self._client.create_model(BoxView, "POST", "/boxes", json=body, idempotency_key=idempotency_key)

    async def get(self, box_id: str) -> BoxView:
        return await self._client.get_model(BoxView, "GET", f"/boxes/{box_id}")

    async def list_joined(self, offset: int | None = None, limit: int | None = None) -> list[BoxView]:
        """One page of the boxes the caller created or joined, most recent activity first."""
        return await self._client.get_model(list[BoxView], "GET", "/boxes/joined", params=page_params(offset, limit))

    def joined(self, page_size: int = PAGE_SIZE) -> AsyncIterator[BoxView]:
        """Every joined box, page after page: ``async for box in client.boxes.joined(): ...``."""
        return iterate_offset(self.list_joined, page_size)

    async def count_joined(self) -> int:
        return await self._client.count("/boxes/joined")

    async def delete(self, box_id: str) -> None:
        """Delete a box and everything in it (admin, ACR 2)."""
        await self._client.request("DELETE", f"/boxes/{box_id}", json={"user_confirmation": "delete"})

    async def members(self, box_id: str, offset: int | None = None, limit: int | None = None) -> list[IdentityView]:
        """The creator first, then the active members."""
        return await self._client.get_model(list[IdentityView], "GET", f"/boxes/{box_id}/members", params=page_params(offset, limit))

    async def accesses(self, box_id: str, offset: int | None = None, limit: int | None = None) -> list[EventView]:
        """The active ``access.add`` rules, newest first (admin, ACR 2)."""
        return await self._client.get_model(list[EventView], "GET", f"/boxes/{box_id}/accesses", params=page_params(offset, limit))

    async def ack(self, box_id: str) -> None:
        """Reset the caller's unread count for the box."""
        await self._client.request("PUT", f"/boxes/{box_id}/new-events-count/ack")

    async def public(self, box_id: str, other_share_hash: str) -> PublicBox:
        """Title and creator of a box, for an invitation link preview (no membership needed)."""
        return await self._client.get_model(PublicBox, "GET", f"/boxes/{box_id}/public", params={"other_share_hash": other_share_hash})
