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
    secret = PrivateKey(check_bytes(recipient_secret_key, KEY_SIZE, "recipient secret key"))
    data = parse_json(cryptogram_json, "cryptogram")
    if not isinstance(data, dict):
        raise DecryptionError("cryptogram is not a JSON object")
    sender = unwrap(data.get("ephemeralSenderPublicKey"), "ephemeralSenderPublicKey", KEY_SIZE)
    nonce = unwrap(data.get("nonce"), "nonce", NONCE_SIZE)
    ciphertext = unwrap(data.get("ciphertext"), "ciphertext")
    try:
        return Box(secret, PublicKey(sender)).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("cannot decrypt: wrong key or tampered ciphertext") from None


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
