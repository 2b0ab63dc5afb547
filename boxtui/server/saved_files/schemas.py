"""Request bodies of the saved-files routes (PROTOCOL §6)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from boxtui.server.boxes.schemas import B64U
from boxtui.server.files.uploads import MAX_FIELD_BYTES


class SavedFileFields(BaseModel):
    """What the owner says about a saved file: its metadata sealed to their vault key."""

    model_config = ConfigDict(extra="forbid")

    encrypted_metadata: str = Field(min_length=1, max_length=MAX_FIELD_BYTES)
    key_fingerprint: B64U = Field(min_length=1, max_length=128)


class SavedFileCreate(SavedFileFields):
    """``POST /saved-files``. ``id`` and ``created_at`` (shown in seed 003) are ignored."""

    encrypted_file_id: str
    identity_id: str
    id: Any = None
    created_at: Any = None
