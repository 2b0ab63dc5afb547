"""Shared helpers for the PROTOCOL §8 formats: JSON as JavaScript writes it,
``Uint8Array`` wrappers, SHA-512, and argument checks."""

from __future__ import annotations

import json
from typing import Any

import nacl.encoding
import nacl.hash

from boxtui.core.encoding import b64_decode_any, b64_encode

from .errors import DecryptionError, InvalidKey

KEY_SIZE = 32
NONCE_SIZE = 24


def js_dumps(value: Any) -> str:
    """``JSON.stringify``: no spaces, non-ASCII as itself, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sha512(data: bytes) -> bytes:
    return nacl.hash.sha512(data, encoder=nacl.encoding.RawEncoder)


def wrap(data: bytes) -> dict[str, str]:
    """The web client's serialisation of a ``Uint8Array``."""
    return {"type": "Uint8Array", "encoding": "base64", "value": b64_encode(data)}


def check_bytes(value: object, size: int, what: str) -> bytes:
    """Return ``value`` if it is ``size`` bytes, else raise :class:`InvalidKey`."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidKey(f"{what} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != size:
        raise InvalidKey(f"{what} must be {size} bytes, not {len(value)}")
    return value


# Readers: anything malformed is a DecryptionError with a short reason.


def parse_json(text: str | bytes, what: str) -> Any:
    try:
        # json.loads(bytes) would sniff the encoding first; ours is always UTF-8.
        return json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise DecryptionError(f"{what} is not valid JSON") from exc


def read_b64(value: object, what: str, size: int | None = None) -> bytes:
    """Decode a base64 field (either alphabet), optionally of an exact size."""
    try:
        data = b64_decode_any(value)  # type: ignore[arg-type]
    except ValueError:
        raise DecryptionError(f"{what} is not base64") from None
    if size is not None and len(data) != size:
        raise DecryptionError(f"{what} must be {size} bytes, not {len(data)}")
    return data


def unwrap(value: object, what: str, size: int | None = None) -> bytes:
    """Read a ``Uint8Array`` wrapper written by :func:`wrap` (or the web client)."""
    if (
        not isinstance(value, dict)
        or value.get("type") != "Uint8Array"
        or value.get("encoding", "base64") != "base64"
    ):
        raise DecryptionError(f"{what} is not a base64 Uint8Array")
    return read_b64(value.get("value"), what, size)


def field(obj: object, name: str, kind: type, what: str) -> Any:
    """``obj[name]`` checked to be of type ``kind`` (a JSON ``true`` is no ``int``)."""
    if not isinstance(obj, dict):
        raise DecryptionError(f"{what} is not a JSON object")
    value = obj.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise DecryptionError(f"{what} has no valid {name!r}")
    return value
