"""Client-side models for answers that have no shared wire model in :mod:`boxtui.core.wire`."""

from __future__ import annotations

from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field

from boxtui.core.wire import EventView

__all__ = ["EventLookupFailure", "GetByIdsItem", "EventList", "SecretStorageVersion", "InvitationKeyShare"]


class EventLookupFailure(BaseModel):
    """One failed item of ``GET /events?ids=…``: ``status`` 404 (unknown) or 403 (not a member)."""

    model_config = ConfigDict(extra="allow")

    status: int
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class _LookupItem(BaseModel):
    error: EventLookupFailure


#: An item of ``get_many``: the event, or why it could not be had.
GetByIdsItem = Union[EventView, EventLookupFailure]


class EventList(BaseModel):
    """``{"events": [...]}`` answers (shares, e-mail import)."""

    model_config = ConfigDict(extra="allow")

    events: list[EventView]


class SecretStorageVersion(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: int


class InvitationKeyShare(BaseModel):
    model_config = ConfigDict(extra="allow")

    encrypted_invitation_key_share: str | None = None


def lookup_items(raw: list[Union[EventView, _LookupItem]]) -> list[GetByIdsItem]:
    return [item.error if isinstance(item, _LookupItem) else item for item in raw]


#: The raw item type ``GET /events?ids=`` answers with (errors are wrapped in ``{"error": …}``).
RawLookupItem = Union[_LookupItem, EventView]
