"""Base of the resource namespaces: each holds the :class:`BoxClient` it talks through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boxtui.client.client import BoxClient


class Resource:
    def __init__(self, client: BoxClient):
        self._client = client


def page_params(offset: int | None = None, limit: int | None = None, **extra: Any) -> dict[str, Any]:
    """Query parameters with the ``None`` ones left out (the server applies its defaults)."""
    params = {"offset": offset, "limit": limit, **extra}
    return {key: value for key, value in params.items() if value is not None}
