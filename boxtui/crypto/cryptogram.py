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
import re

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
    secret = check_bytes(recipient_secret_key, KEY_SIZE, "recipient secret key")
    sender, nonce, ciphertext = _read_canonical(cryptogram_json) or _read_any(cryptogram_json)
    try:
        # crypto_box_open itself: a PrivateKey object would redo the scalar
        # multiplication of its public key for every message, for nothing.
        return nacl.bindings.crypto_box_open(ciphertext, nonce, sender, secret)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("cannot decrypt: wrong key or tampered ciphertext") from None


# The exact bytes JSON.stringify writes (and seal_bytes too): three wrappers in order.
_WRAPPED = rb'\{"type":"Uint8Array","encoding":"base64","value":"([A-Za-z0-9+/]*={0,2})"\}'
_CANONICAL = re.compile(
    rb'\{"ephemeralSenderPublicKey":' + _WRAPPED + rb',"nonce":' + _WRAPPED + rb',"ciphertext":' + _WRAPPED + rb"\}"
)


def _read_canonical(cryptogram_json: str | bytes) -> tuple[bytes, bytes, bytes] | None:
    """The fast path: one match for the canonical serialisation (nearly every message),
    instead of building and checking three dicts. None sends it to :func:`_read_any`."""
    if not isinstance(cryptogram_json, bytes):
        return None
    match = _CANONICAL.fullmatch(cryptogram_json)
    if match is None:
        return None
    sender, nonce, ciphertext = match.groups()
    try:
        sender = binascii.a2b_base64(sender, strict_mode=True)
        nonce = binascii.a2b_base64(nonce, strict_mode=True)
        ciphertext = binascii.a2b_base64(ciphertext, strict_mode=True)
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
    plaintext = open_bytes(read_b64(encrypted, "encrypted text"), box_secret_key)
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("decrypted text is not UTF-8") from None
