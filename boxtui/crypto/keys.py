"""X25519 box key pairs and the XOR split of a box secret key (PROTOCOL §7).

The box secret key is ``invitation_share XOR server_share``: the invitation share
travels in the link fragment, the server share is stored by the server, which finds
it by ``share_hash(invitation_share)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.utils
from nacl.public import PrivateKey

from boxtui.core.encoding import b64u_encode

from ._format import KEY_SIZE, check_bytes, sha512

__all__ = [
    "BoxKeyPair",
    "generate_box_keypair",
    "public_key_from_secret",
    "split_secret_key",
    "combine_shares",
    "share_hash",
]


@dataclass(frozen=True, repr=False)
class BoxKeyPair:
    """An X25519 key pair (a box's, or an identity's) as raw 32-byte strings."""

    public_key: bytes
    secret_key: bytes

    @classmethod
    def from_secret_key(cls, secret_key: bytes) -> BoxKeyPair:
        return cls(public_key_from_secret(secret_key), bytes(secret_key))

    def __repr__(self) -> str:  # never print the secret
        return f"BoxKeyPair(public_key={b64u_encode(self.public_key)!r})"


def generate_box_keypair() -> BoxKeyPair:
    """A fresh random X25519 key pair."""
    key = PrivateKey.generate()
    return BoxKeyPair(bytes(key.public_key), bytes(key))


def public_key_from_secret(secret_key: bytes) -> bytes:
    """The X25519 public key of a 32-byte secret key."""
    return bytes(PrivateKey(check_bytes(secret_key, KEY_SIZE, "secret key")).public_key)


def split_secret_key(secret_key: bytes) -> tuple[bytes, bytes]:
    """Split a secret key into ``(invitation_share, server_share)``, 32 bytes each."""
    secret_key = check_bytes(secret_key, KEY_SIZE, "secret key")
    invitation_share = nacl.utils.random(KEY_SIZE)
    return invitation_share, combine_shares(secret_key, invitation_share)


def combine_shares(a: bytes, b: bytes) -> bytes:
    """XOR two 32-byte shares: the inverse of :func:`split_secret_key`."""
    a = check_bytes(a, KEY_SIZE, "key share")
    b = check_bytes(b, KEY_SIZE, "key share")
    return bytes(x ^ y for x, y in zip(a, b))


def share_hash(invitation_share: bytes) -> str:
    """``other_share_hash``: b64u(SHA-512(invitation share))."""
    return b64u_encode(sha512(check_bytes(invitation_share, KEY_SIZE, "invitation share")))
