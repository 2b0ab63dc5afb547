"""Encrypted files, their metadata, and saved-file metadata (PROTOCOL §8).

* The blob is ``secretbox(data, nonce, key)`` with a random key and nonce, raw (no
  nonce prefix, unlike pynacl's ``SecretBox.encrypt`` default).
* The metadata JSON carries the key (b64u) and nonce (b64) and is sealed to the box
  key like a text message.
* A saved file's metadata is sealed to the owner's vault key:
  ``{"nonce":"<b64>","ciphertext":U}``, and the server indexes it by
  :func:`key_fingerprint`.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.exceptions
import nacl.utils
from nacl.secret import SecretBox

from boxtui.core.encoding import b64_encode, b64u_encode

from ._format import (
    KEY_SIZE,
    NONCE_SIZE,
    check_bytes,
    field,
    js_dumps,
    parse_json,
    read_b64,
    sha512,
    unwrap,
    wrap,
)
from .cryptogram import open_text, seal_text
from .errors import DecryptionError

__all__ = [
    "FileKey",
    "FileMetadata",
    "encrypt_file",
    "decrypt_file",
    "seal_file_metadata",
    "open_file_metadata",
    "seal_saved_metadata",
    "open_saved_metadata",
    "key_fingerprint",
]


@dataclass(frozen=True, repr=False)
class FileKey:
    """The secretbox key (32 bytes) and nonce (24 bytes) of one file blob."""

    key: bytes
    nonce: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", check_bytes(self.key, KEY_SIZE, "file key"))
        object.__setattr__(self, "nonce", check_bytes(self.nonce, NONCE_SIZE, "file nonce"))

    @classmethod
    def generate(cls) -> FileKey:
        return cls(nacl.utils.random(KEY_SIZE), nacl.utils.random(NONCE_SIZE))

    def __repr__(self) -> str:  # never print the key
        return "FileKey(...)"


@dataclass(frozen=True)
class FileMetadata:
    """What a ``msg.file`` (or a saved file) says about its blob."""

    file_name: str
    file_size: int
    file_type: str
    key: FileKey

    def to_json(self) -> str:
        return js_dumps(
            {
                "encryption": {"key": b64u_encode(self.key.key), "nonce": b64_encode(self.key.nonce)},
                "fileName": self.file_name,
                "fileSize": self.file_size,
                "fileType": self.file_type,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> FileMetadata:
        """Parse metadata JSON; :class:`DecryptionError` when it is malformed."""
        data = parse_json(text, "file metadata")
        encryption = field(data, "encryption", dict, "file metadata")
        key = FileKey(
            read_b64(field(encryption, "key", str, "file encryption"), "file key", KEY_SIZE),
            read_b64(field(encryption, "nonce", str, "file encryption"), "file nonce", NONCE_SIZE),
        )
        size = field(data, "fileSize", int, "file metadata")
        if size < 0:
            raise DecryptionError("file metadata has a negative 'fileSize'")
        return cls(
            file_name=field(data, "fileName", str, "file metadata"),
            file_size=size,
            file_type=field(data, "fileType", str, "file metadata"),
            key=key,
        )


def encrypt_file(data: bytes, *, _key: FileKey | None = None) -> tuple[bytes, FileKey]:
    """Encrypt a file with a fresh key: ``(raw secretbox output, key)``."""
    key = _key or FileKey.generate()
    return SecretBox(key.key).encrypt(bytes(data), key.nonce).ciphertext, key


def decrypt_file(blob: bytes, key: FileKey) -> bytes:
    """Decrypt a blob from :func:`encrypt_file`; :class:`DecryptionError` if it fails."""
    try:
        return SecretBox(key.key).decrypt(bytes(blob), key.nonce)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("cannot decrypt file: wrong key or tampered blob") from None


def seal_file_metadata(meta: FileMetadata, box_public_key: bytes, **_fixed: bytes) -> str:
    """``msg_encrypted_content``: the metadata JSON sealed like a text message.

    ``_fixed`` takes :func:`seal_text`'s test-only keywords.
    """
    return seal_text(meta.to_json(), box_public_key, **_fixed)


def open_file_metadata(encrypted: str, box_secret_key: bytes) -> FileMetadata:
    return FileMetadata.from_json(open_text(encrypted, box_secret_key))


def seal_saved_metadata(
    meta: FileMetadata, vault_key: bytes, *, _nonce: bytes | None = None
) -> str:
    """``encrypted_metadata`` of a saved file, sealed to the vault key."""
    box = SecretBox(check_bytes(vault_key, KEY_SIZE, "vault key"))
    nonce = nacl.utils.random(NONCE_SIZE) if _nonce is None else check_bytes(_nonce, NONCE_SIZE, "nonce")
    ciphertext = box.encrypt(meta.to_json().encode("utf-8"), nonce).ciphertext
    return js_dumps({"nonce": b64_encode(nonce), "ciphertext": wrap(ciphertext)})


def open_saved_metadata(text: str, vault_key: bytes) -> FileMetadata:
    box = SecretBox(check_bytes(vault_key, KEY_SIZE, "vault key"))
    data = parse_json(text, "saved-file metadata")
    nonce = read_b64(field(data, "nonce", str, "saved-file metadata"), "nonce", NONCE_SIZE)
    ciphertext = unwrap(data.get("ciphertext"), "ciphertext")
    try:
        plaintext = box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise DecryptionError("cannot decrypt saved-file metadata: wrong vault key or tampered") from None
    return FileMetadata.from_json(plaintext)


def key_fingerprint(vault_key: bytes) -> str:
    """``key_fingerprint`` of saved files: b64u(SHA-512(vault key))."""
    return b64u_encode(sha512(check_bytes(vault_key, KEY_SIZE, "vault key")))
