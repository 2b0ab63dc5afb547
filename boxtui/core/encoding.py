"""Base64 helpers for the two alphabets the protocol uses (PROTOCOL §1, §8).

* **b64u** — URL-safe, no padding: keys, shares, hashes, fingerprints.
* **b64** — standard alphabet, padded: nonces and ``Uint8Array`` wrappers.

Readers are lenient (either alphabet, padding optional), writers are exact.
"""

from __future__ import annotations

import binascii

__all__ = ["b64u_encode", "b64_encode", "b64_decode_any", "is_b64_any"]


def b64u_encode(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return binascii.b2a_base64(data, newline=False).decode("ascii").replace("+", "-").replace("/", "_").rstrip("=")


def b64_encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64_decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not.

    Raises ``ValueError`` on anything that is not base64.
    """
    if not isinstance(text, str):
        raise ValueError("not a string")
    s = text.strip().replace("-", "+").replace("_", "/").rstrip("=")
    if len(s) % 4 == 1:
        raise ValueError("bad base64 length")
    try:
        # strict_mode: C-speed refusal of any character outside the alphabet (inner
        # whitespace included) and of padding anywhere but at the end.
        return binascii.a2b_base64(s + "=" * (-len(s) % 4), strict_mode=True)
    except ValueError as exc:  # binascii.Error, or a non-ASCII character
        if any(c.isspace() for c in s):
            raise ValueError("whitespace in base64") from None
        raise ValueError(f"not base64: {exc}") from None


def is_b64_any(text: str) -> bool:
    try:
        b64_decode_any(text)
    except ValueError:
        return False
    return True
