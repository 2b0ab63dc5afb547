"""Request bodies of the event routes: posts, contents per type, access batches, shares."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from boxtui.core.ids import is_uuid
from boxtui.server.boxes.schemas import B64, PublicKey, StrictBody

MAX_ENCRYPTED = 64 * 1024
MAX_BATCH = 100
MAX_SHARE_TARGETS = 100


class EventBody(StrictBody):
    #: Checked against the known types by the service (unknown → ``type: malformed``).
    type: str
    content: dict[str, Any] | None = None
    referrer_id: str | None = None
    extra: dict[str, Any] | None = None


class TextContent(StrictBody):
    encrypted: B64 = Field(min_length=1, max_length=MAX_ENCRYPTED)
    public_key: PublicKey | None = None


class EditContent(StrictBody):
    new_encrypted: B64 = Field(min_length=1, max_length=MAX_ENCRYPTED)
    new_public_key: PublicKey | None = None


class AccessModeContent(StrictBody):
    value: Literal["public", "limited"]


class LifecycleContent(StrictBody):
    state: Literal["closed", "open"]


class AccessAddContent(StrictBody):
    restriction_type: Literal["identifier", "email_domain"]
    value: str = Field(min_length=1, max_length=320)
    auto_invite: bool | None = None


class BatchBody(StrictBody):
    batch_type: str
    events: list[EventBody] = Field(max_length=MAX_BATCH)


class ShareTarget(StrictBody):
    box_id: str
    content: dict[str, Any]

    @field_validator("box_id")
    @classmethod
    def _box_id(cls, value: str) -> str:
        if not is_uuid(value):
            raise PydanticCustomError("uuid_parsing", "box_id is not a valid id")  # → "malformed"
        return value


class ShareBody(StrictBody):
    targets: list[ShareTarget] = Field(max_length=MAX_SHARE_TARGETS)
