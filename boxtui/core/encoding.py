"""Base64 helpers for the two alphabets the protocol uses (PROTOCOL §1, §8).

* **b64u** — URL-safe, no padding: keys, shares, hashes, fingerprints.
* **b64** — standard alphabet, padded: nonces and ``Uint8Array`` wrappers.

Readers are lenient (either alphabet, padding optional), writers are exact.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["b64u_encode", "b64_encode", "b64_decode_any", "is_b64_any"]


def b64u_encode(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64_decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not.

    Raises ``ValueError`` on anything that is not base64.
    """
    if not isinstance(text, str):
        raise ValueError("not a string")
    s = text.strip()
    if any(c.isspace() for c in s):
        raise ValueError("whitespace in base64")
    s = s.replace("-", "+").replace("_", "/").rstrip("=")
    if len(s) % 4 == 1:
        raise ValueError("bad base64 length")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {exc}") from None


def is_b64_any(text: str) -> bool:
    try:
        b64_decode_any(text)
    except ValueError:
        return False
    return True
