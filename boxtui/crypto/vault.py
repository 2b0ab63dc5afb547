"""Password-based sealing (Argon2id + secretbox) for the key store and its backup.

Format (JSON)::

    {"version":1,"kdf":{"name":"argon2id","opslimit":3,"memlimit":67108864},
     "salt":"<b64u>","check":"<b64u>","nonce":"<b64>","ciphertext":"<b64>"}

``check`` is a keyed BLAKE2b tag of the derived key: it tells a wrong passphrase
(:class:`WrongPassphrase`) from tampered data (:class:`KeyStoreCorrupted`), and gives
an attacker nothing the ciphertext does not already give. The password is
NFC-normalised so the same passphrase typed on another terminal opens it.

Deriving the key is slow on purpose; everything here is plain sync code (run it in a
worker thread from async code).
"""

from __future__ import annotations

import hmac
import json
import unicodedata
from dataclasses import dataclass

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.utils
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from boxtui.core.encoding import b64_decode_any, b64_encode, b64u_encode

from ._format import KEY_SIZE, NONCE_SIZE
from .errors import KeyStoreCorrupted, WrongPassphrase

__all__ = [
    "OPSLIMIT",
    "MEMLIMIT",
    "PasswordKey",
    "derive_password_key",
    "seal_with_key",
    "unlock",
    "seal_with_password",
    "open_with_password",
]

VERSION = 1
OPSLIMIT = 3
MEMLIMIT = 64 * 1024 * 1024
# What a reader accepts, so a doctored file cannot make it burn hours or all memory.
_MAX_OPSLIMIT = 32
_MAX_MEMLIMIT = 1024 * 1024 * 1024


@dataclass(frozen=True, repr=False)
class PasswordKey:
    """A key derived from a password, with the salt and parameters that made it."""

    key: bytes
    salt: bytes
    opslimit: int
    memlimit: int


def _check_params(opslimit: object, memlimit: object) -> None:
    for value, low, high in (
        (opslimit, argon2id.OPSLIMIT_MIN, _MAX_OPSLIMIT),
        (memlimit, argon2id.MEMLIMIT_MIN, _MAX_MEMLIMIT),
    ):
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"Argon2id parameter {value!r} outside [{low}, {high}]")


def derive_password_key(
    password: str,
    *,
    salt: bytes | None = None,
    opslimit: int = OPSLIMIT,
    memlimit: int = MEMLIMIT,
) -> PasswordKey:
    """Argon2id(password, salt) → 32-byte key (slow). A fresh salt unless given."""
    _check_params(opslimit, memlimit)
    salt = nacl.utils.random(argon2id.SALTBYTES) if salt is None else salt
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    key = argon2id.kdf(KEY_SIZE, secret, salt, opslimit=opslimit, memlimit=memlimit)
    return PasswordKey(key, salt, opslimit, memlimit)


def _check_tag(key: bytes) -> bytes:
    return nacl.hash.blake2b(
        b"", digest_size=16, key=key, person=b"boxtui-vault-chk", encoder=nacl.encoding.RawEncoder
    )


def seal_with_key(data: bytes, key: PasswordKey) -> str:
    """Seal with an already derived key (fast): a fresh nonce each time."""
    nonce = nacl.utils.random(NONCE_SIZE)
    ciphertext = SecretBox(key.key).encrypt(bytes(data), nonce).ciphertext
    return json.dumps(
        {
            "version": VERSION,
            "kdf": {"name": "argon2id", "opslimit": key.opslimit, "memlimit": key.memlimit},
            "salt": b64u_encode(key.salt),
            "check": b64u_encode(_check_tag(key.key)),
            "nonce": b64_encode(nonce),
            "ciphertext": b64_encode(ciphertext),
        },
        separators=(",", ":"),
    )


def unlock(text: str | bytes, password: str) -> tuple[bytes, PasswordKey]:
    """Open sealed data; return the plaintext and the derived key (to seal again).

    :class:`WrongPassphrase` when the password does not fit, :class:`KeyStoreCorrupted`
    when the data is malformed or was changed.
    """
    return unlock_with(text, lambda salt, opslimit, memlimit: derive_password_key(password, salt=salt, opslimit=opslimit, memlimit=memlimit))


def unlock_with_key(text: str | bytes, key: PasswordKey) -> bytes:
    """Open sealed data with a key derived earlier (fast: no Argon2id). The key must
    have been derived with this data's salt and parameters, else :class:`WrongPassphrase`."""

    def given(salt: bytes, opslimit: int, memlimit: int) -> PasswordKey:
        if (salt, opslimit, memlimit) != (key.salt, key.opslimit, key.memlimit):
            raise WrongPassphrase("this key was derived for another seal (the password changed?)")
        return key

    return unlock_with(text, given)[0]


def unlock_with(text: str | bytes, derive) -> tuple[bytes, PasswordKey]:
    """:func:`unlock` with the key from ``derive(salt, opslimit, memlimit)``."""
    try:
        sealed = json.loads(text)
        if sealed["version"] != VERSION:
            raise KeyStoreCorrupted(f"unsupported sealed data version {sealed['version']!r}")
        kdf = sealed["kdf"]
        if kdf["name"] != "argon2id":
            raise KeyStoreCorrupted(f"unsupported key derivation {kdf['name']!r}")
        opslimit, memlimit = kdf["opslimit"], kdf["memlimit"]
        _check_params(opslimit, memlimit)
        salt = b64_decode_any(sealed["salt"])
        check = b64_decode_any(sealed["check"])
        nonce = b64_decode_any(sealed["nonce"])
        ciphertext = b64_decode_any(sealed["ciphertext"])
        if len(salt) != argon2id.SALTBYTES or len(nonce) != NONCE_SIZE:
            raise ValueError("bad salt or nonce length")
    except KeyStoreCorrupted:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyStoreCorrupted(f"sealed data is malformed ({exc})") from None
    key = derive(salt, opslimit, memlimit)
    if not hmac.compare_digest(check, _check_tag(key.key)):
        raise WrongPassphrase("wrong passphrase")
    try:
        return SecretBox(key.key).decrypt(ciphertext, nonce), key
    except nacl.exceptions.CryptoError:
        raise KeyStoreCorrupted("sealed data was changed: the passphrase fits but the content does not") from None


def seal_with_password(
    data: bytes, password: str, *, opslimit: int = OPSLIMIT, memlimit: int = MEMLIMIT
) -> str:
    """Seal ``data`` with a key derived from ``password`` (slow)."""
    return seal_with_key(data, derive_password_key(password, opslimit=opslimit, memlimit=memlimit))


def open_with_password(text: str | bytes, password: str) -> bytes:
    """Open what :func:`seal_with_password` sealed (slow)."""
    return unlock(text, password)[0]
