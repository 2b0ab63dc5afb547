"""``client.identities``: the caller's identity and public keys (PROTOCOL §2)."""

from __future__ import annotations

from typing import Any

from boxtui.client.resources._base import Resource
from boxtui.core.wire import Identity

_UNSET: Any = object()


class IdentitiesResource(Resource):
    async def me(self) -> Identity:
        return await self._client.get_model(Identity, "GET", "/identities/me")

    async def update(
        self,
        identity_id: str,
        *,
        display_name: str = _UNSET,
        avatar_url: str | None = _UNSET,
        public_key: str = _UNSET,
    ) -> Identity:
        """Change the caller's own identity; only the fields given are sent."""
        body = {
            key: value
            for key, value in {"display_name": display_name, "avatar_url": avatar_url, "public_key": public_key}.items()
            if value is not _UNSET
        }
        return await self._client.get_model(Identity, "PATCH", f"/identities/{identity_id}", json=body)

    async def pubkey(self, email: str) -> list[str]:
        """The identity public keys (b64u) registered for an e-mail address; ``[]`` if none (ACR 2)."""
        return await self._client.get_model(list[str], "GET", "/identities/pubkey", params={"identifier_value": email})
