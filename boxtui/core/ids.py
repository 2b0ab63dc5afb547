"""Ids are lower-case UUID v4 strings (PROTOCOL §1)."""

from __future__ import annotations

import re
import uuid

#: Lower-case UUID version 4 (RFC 4122 variant): anything else is "malformed".
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.match(value))
