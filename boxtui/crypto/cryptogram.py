"""Asymmetric cryptograms and text messages (PROTOCOL §8).

A cryptogram is ``box(plaintext, nonce, recipient_pk, ephemeral_sk)`` with a fresh
ephemeral X25519 pair, serialised exactly as the web client's ``JSON.stringify``::

    {"ephemeralSenderPublicKey":U,"nonce":U,"ciphertext":U}
    U = {"type":"Uint8Array","encoding":"base64","value":"<padded standard b64>"}

A text message is ``b64u(utf8(cryptogram_json(utf8(text))))``.

The keyword arguments ``_ephemeral_secret_key`` and ``_nonce`` exist only for
deterministic test vectors; never pass them in real use.
"""

from __future__ import annotations

import binascii
import struct

import nacl.bindings
import nacl.exceptions
import nacl.utils
from nacl.public import Box, PrivateKey, PublicKey

from boxtui.core.encoding import b64u_encode

from ._format import (
    KEY_SIZE,
    NONCE_SIZE,
    check_bytes,
    js_dumps,
    parse_json,
    read_b64,
    unwrap,
    wrap,
)
from .errors import DecryptionError

__all__ = ["seal_bytes", "open_bytes", "seal_text", "open_text"]


def seal_bytes(
    plaintext: bytes,
    recipient_public_key: bytes,
    *,
    _ephemeral_secret_key: bytes | None = None,
    _nonce: bytes | None = None,
) -> str:
    """Encrypt ``plaintext`` to ``recipient_public_key``; return the cryptogram JSON."""
    recipient = PublicKey(check_bytes(recipient_public_key, KEY_SIZE, "recipient public key"))
    ephemeral = (
        PrivateKey.generate()
        if _ephemeral_secret_key is None
        else PrivateKey(check_bytes(_ephemeral_secret_key, KEY_SIZE, "ephemeral secret key"))
    )
    nonce = nacl.utils.random(NONCE_SIZE) if _nonce is None else check_bytes(_nonce, NONCE_SIZE, "nonce")
    ciphertext = Box(ephemeral, recipient).encrypt(bytes(plaintext), nonce).ciphertext
    return js_dumps(
        {
            "ephemeralSenderPublicKey": wrap(bytes(ephemeral.public_key)),
            "nonce": wrap(nonce),
            "ciphertext": wrap(ciphertext),
        }
    )


def open_bytes(cryptogram_json: str | bytes, recipient_secret_key: bytes) -> bytes:
    """Decrypt a cryptogram JSON with the recipient's secret key.

    Raises :class:`DecryptionError` when it is malformed, tampered with, or sealed
    to another key.
    """
    if type(recipient_secret_key) is not bytes or len(recipient_secret_key) != KEY_SIZE:
        recipient_secret_key = check_bytes(recipient_secret_key, KEY_SIZE, "recipient secret key")
    sender, nonce, ciphertext = _read_canonical(cryptogram_json) or _read_any(cryptogram_json)
    try:
        # crypto_box_open itself: a PrivateKey object would redo the scalar
        # multiplication of its public key for every message, for nothing. (No Box to
        # keep per sender: every cryptogram has its own ephemeral sender key.)
        return _crypto_box_open(ciphertext, nonce, sender, recipient_secret_key)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("cannot decrypt: wrong key or tampered ciphertext") from None


_crypto_box_open = nacl.bindings.crypto_box_open
_a2b = binascii.a2b_base64

# The exact bytes JSON.stringify writes (and seal_bytes too): three wrappers in order,
# the key always 44 base64 characters (32 bytes) and the nonce 32 (24 bytes), so each
# value sits at a fixed offset and the ciphertext runs to the closing ``"}}``.
_HEAD = b'{"ephemeralSenderPublicKey":{"type":"Uint8Array","encoding":"base64","value":"'
_AFTER_KEY = b'"},"nonce":{"type":"Uint8Array","encoding":"base64","value":"'
_AFTER_NONCE = b'"},"ciphertext":{"type":"Uint8Array","encoding":"base64","value":"'
_TAIL = b'"}}'
_SPLIT = struct.Struct(f"{len(_HEAD)}s44s{len(_AFTER_KEY)}s32s{len(_AFTER_NONCE)}s")
_CIPHERTEXT_AT = _SPLIT.size


def _read_canonical(cryptogram_json: str | bytes) -> tuple[bytes, bytes, bytes] | None:
    """The fast path for the canonical serialisation (nearly every message): the
    separators cut at their fixed offsets in one call and compared, the three values
    decoded, instead of parsing JSON and checking three dicts. Strict base64 refuses
    any character outside the alphabet (a quote, a brace), so a value cannot run over
    a separator. None sends anything else to :func:`_read_any`, whose errors say what
    is wrong."""
    data = cryptogram_json
    if type(data) is not bytes or len(data) < _CIPHERTEXT_AT + 3 or data[-3:] != _TAIL:
        return None
    head, sender, after_key, nonce, after_nonce = _SPLIT.unpack_from(data)
    if head != _HEAD or after_key != _AFTER_KEY or after_nonce != _AFTER_NONCE:
        return None
    try:
        sender = _a2b(sender, strict_mode=True)
        nonce = _a2b(nonce, strict_mode=True)
        ciphertext = _a2b(data[_CIPHERTEXT_AT:-3], strict_mode=True)
    except binascii.Error:
        return None
    if len(sender) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        return None
    return sender, nonce, ciphertext


def _read_any(cryptogram_json: str | bytes) -> tuple[bytes, bytes, bytes]:
    """Any JSON spelling of a cryptogram (key order, spacing, base64 alphabet)."""
    data = parse_json(cryptogram_json, "cryptogram")
    if not isinstance(data, dict):
        raise DecryptionError("cryptogram is not a JSON object")
    return (
        unwrap(data.get("ephemeralSenderPublicKey"), "ephemeralSenderPublicKey", KEY_SIZE),
        unwrap(data.get("nonce"), "nonce", NONCE_SIZE),
        unwrap(data.get("ciphertext"), "ciphertext"),
    )


def seal_text(
    text: str,
    box_public_key: bytes,
    *,
    _ephemeral_secret_key: bytes | None = None,
    _nonce: bytes | None = None,
) -> str:
    """Encrypt a text message to a box key: ``b64u(utf8(cryptogram_json))``."""
    cryptogram = seal_bytes(
        text.encode("utf-8"), box_public_key, _ephemeral_secret_key=_ephemeral_secret_key, _nonce=_nonce
    )
    return b64u_encode(cryptogram.encode("utf-8"))


def open_text(encrypted: str, box_secret_key: bytes) -> str:
    """Decrypt a text message (outer base64 in either alphabet)."""
    try:
        # As seal_text writes it (URL-safe, unpadded), decoded in one strict call; any
        # other spelling, and every malformed value, goes through read_b64, whose
        # errors say what is wrong. A strict decode that succeeds here gives the same
        # bytes read_b64 would.
        standard = encrypted.replace("-", "+").replace("_", "/")
        cryptogram = _a2b(standard + _PADDING[len(standard) & 3], strict_mode=True)
    except (AttributeError, TypeError, ValueError):  # not a str, length 4n+1, not base64
        cryptogram = read_b64(encrypted, "encrypted text")
    plaintext = open_bytes(cryptogram, box_secret_key)
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("decrypted text is not UTF-8") from None


#: The padding of an unpadded base64 string by its length mod 4 (1 is never valid).
_PADDING = ("", None, "==", "=")
