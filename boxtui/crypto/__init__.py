"""End-to-end encryption for boxtui (pynacl), compatible with the original web client.

Formats are PROTOCOL §8; key splitting and invitations §7; the passphrase-sealed key
store (DESIGN "Crypto and keys") is :class:`KeyStore`.
"""

from .cryptogram import open_bytes, open_text, seal_bytes, seal_text
from .errors import (
    CryptoError,
    DecryptionError,
    InvalidInvitationLink,
    InvalidKey,
    KeyStoreCorrupted,
    KeyStoreError,
    WrongPassphrase,
)
from .files import (
    FileKey,
    FileMetadata,
    decrypt_file,
    encrypt_file,
    key_fingerprint,
    open_file_metadata,
    open_saved_metadata,
    seal_file_metadata,
    seal_saved_metadata,
)
from .invitation import (
    InvitationLink,
    make_invitation_link,
    open_auto_invite,
    open_invitation_key_share,
    parse_invitation_link,
    seal_auto_invite,
    seal_invitation_key_share,
)
from .keys import (
    BoxKeyPair,
    combine_shares,
    generate_box_keypair,
    public_key_from_secret,
    share_hash,
    split_secret_key,
)
from .keystore import KeyStore, default_keystore_path
from .vault import open_with_password, seal_with_password

__all__ = [
    "BoxKeyPair",
    "CryptoError",
    "DecryptionError",
    "FileKey",
    "FileMetadata",
    "InvalidInvitationLink",
    "InvalidKey",
    "InvitationLink",
    "KeyStore",
    "KeyStoreCorrupted",
    "KeyStoreError",
    "WrongPassphrase",
    "combine_shares",
    "decrypt_file",
    "default_keystore_path",
    "encrypt_file",
    "generate_box_keypair",
    "key_fingerprint",
    "make_invitation_link",
    "open_auto_invite",
    "open_bytes",
    "open_file_metadata",
    "open_invitation_key_share",
    "open_saved_metadata",
    "open_text",
    "open_with_password",
    "parse_invitation_link",
    "public_key_from_secret",
    "seal_auto_invite",
    "seal_bytes",
    "seal_file_metadata",
    "seal_invitation_key_share",
    "seal_saved_metadata",
    "seal_text",
    "seal_with_password",
    "share_hash",
    "split_secret_key",
]
