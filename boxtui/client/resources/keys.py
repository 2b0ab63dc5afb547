"""``client.keys``: key shares, crypto actions and the key backup (PROTOCOL §7)."""

from __future__ import annotations

from boxtui.client.errors import NotFound
from boxtui.client.models import InvitationKeyShare, SecretStorageVersion
from boxtui.client.resources._base import Resource, page_params
from boxtui.core.wire import CryptoAction, KeyShare, SecretStorage


class KeysResource(Resource):
    async def key_share(self, other_share_hash: str) -> KeyShare:
        """The server's half of a box key, for the holder of an invitation link."""
        return await self._client.get_model(KeyShare, "GET", f"/box-key-shares/{other_share_hash}")

    async def encrypted_invitation_key_share(self, box_id: str) -> str | None:
        """The current link share, encrypted to the box key (``None`` if the box has no link)."""
        answer = await self._client.get_model(
            InvitationKeyShare, "GET", "/box-key-shares/encrypted-invitation-key-share", params={"box_id": box_id}
        )
        return answer.encrypted_invitation_key_share

    async def crypto_actions(self, offset: int | None = None, limit: int | None = None) -> list[CryptoAction]:
        """The caller's pending crypto actions, oldest first (one page)."""
        return await self._client.get_model(list[CryptoAction], "GET", "/crypto/actions", params=page_params(offset, limit))

    async def count_crypto_actions(self) -> int:
        return await self._client.count("/crypto/actions")

    async def delete_crypto_action(self, action_id: str) -> None:
        await self._client.request("DELETE", f"/crypto/actions/{action_id}")

    async def secret_storage_get(self) -> SecretStorage | None:
        """The encrypted key backup and its version, or ``None`` when there is none yet."""
        try:
            return await self._client.get_model(SecretStorage, "GET", "/crypto/secret-storage")
        except NotFound:
            return None

    async def secret_storage_put(self, data: str, version: int | None = None, *, idempotency_key: str | None = None) -> int:
        """Store the key backup and return its new version.

        ``version`` is the version it replaces (sent as ``If-Match``); ``None`` for the first
        backup. A stale version raises :class:`~boxtui.client.errors.PreconditionFailed`.
        """
        headers = {"If-Match": f'"{version}"'} if version is not None else {}
        answer = await self._client.create_model(
            SecretStorageVersion, "PUT", "/crypto/secret-storage", json={"data": data}, headers=headers, idempotency_key=idempotency_key
        )
        return answer.version
