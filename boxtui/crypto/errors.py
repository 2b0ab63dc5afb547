"""Exceptions of :mod:`boxtui.crypto`.

Nothing from nacl, json or binascii leaves this package: every failure to read or
verify data is a :class:`CryptoError` subclass with a message fit for a user.
"""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "InvalidKey",
    "DecryptionError",
    "InvalidInvitationLink",
    "KeyStoreError",
    "WrongPassphrase",
    "KeyStoreCorrupted",
]


class CryptoError(Exception):
    """Base class of every error raised by :mod:`boxtui.crypto`."""


class InvalidKey(CryptoError, ValueError):
    """A key, share or nonce passed in has the wrong type or length."""


class DecryptionError(CryptoError):
    """Ciphertext that cannot be opened: wrong key, tampered, or malformed."""


class InvalidInvitationLink(CryptoError, ValueError):
    """An invitation link that cannot be parsed."""


class KeyStoreError(CryptoError):
    """The key store cannot be created, read or updated."""


class WrongPassphrase(KeyStoreError):
    """The passphrase does not open the key store (or the password-sealed data)."""


class KeyStoreCorrupted(KeyStoreError):
    """The key store (or password-sealed data) is malformed or was tampered with."""
