"""The local key store: identity key pair, vault key and box secret keys.

One file, sealed with the passphrase by :mod:`boxtui.crypto.vault` (Argon2id +
secretbox) and written atomically (temp file in the same folder, fsync, rename, fsync
of the folder) with mode 0600. Opening never changes the file.

The derived key is kept in memory once the store is open, so every change is saved
at once without paying for Argon2id again; only :meth:`KeyStore.create`,
:meth:`KeyStore.open`, :meth:`KeyStore.from_plain` and :meth:`KeyStore.change_passphrase`
are slow (call them from a worker thread).

Keys replaced by :meth:`KeyStore.merge` are kept as *previous* identity and vault keys,
so crypto actions and saved files sealed to them can still be opened.

It also holds the keys of the local encrypted store (``boxtui.store``): random 32-byte
keys, made on first use, so the password that opens the key store opens the local
store too, and a key store restored from the backup still opens this device's store.
"""

from __future__ import annotations

import os
from pathlib import Path

import nacl.utils
import platformdirs

from boxtui.core.encoding import b64u_encode
from boxtui.core.files import write_private_atomic

from ._format import KEY_SIZE, check_bytes, field, js_dumps, parse_json, read_b64
from .errors import DecryptionError, KeyStoreCorrupted, KeyStoreError
from .files import key_fingerprint
from .keys import BoxKeyPair, generate_box_keypair
from .vault import (
    MEMLIMIT,
    OPSLIMIT,
    PasswordKey,
    derive_password_key,
    seal_with_key,
    unlock,
    unlock_with_key,
)

__all__ = ["KeyStore", "default_keystore_path"]

PLAIN_VERSION = 1
StrPath = str | os.PathLike[str]


def default_keystore_path() -> Path:
    """``keystore.json`` in the platform's user data folder for boxtui."""
    return Path(platformdirs.user_data_dir("boxtui")) / "keystore.json"


class KeyStore:
    """Keys of one user on one device; build it with :meth:`create`, :meth:`open`
    or :meth:`from_plain`."""

    def __init__(
        self,
        path: StrPath,
        key: PasswordKey,
        identity: BoxKeyPair,
        vault_key: bytes,
        boxes: dict[str, tuple[bytes, bytes | None]],
        previous_identities: list[BoxKeyPair],
        previous_vault_keys: list[bytes],
        store_keys: list[bytes] | None = None,
    ) -> None:
        self.path = Path(path)
        self._key = key
        self._identity = identity
        self._vault_key = vault_key
        self._boxes = boxes
        self._previous_identities = previous_identities
        self._previous_vault_keys = previous_vault_keys
        self._store_keys = list(store_keys or [])

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r}, boxes={len(self._boxes)})"

    # --- building -------------------------------------------------------------

    @staticmethod
    def exists(path: StrPath) -> bool:
        return Path(path).exists()

    @classmethod
    def create(
        cls, path: StrPath, passphrase: str, *, opslimit: int = OPSLIMIT, memlimit: int = MEMLIMIT
    ) -> KeyStore:
        """A new store with fresh identity keys and vault key, written to ``path``."""
        _refuse_existing(path)
        key = derive_password_key(passphrase, opslimit=opslimit, memlimit=memlimit)
        store = cls(path, key, generate_box_keypair(), nacl.utils.random(KEY_SIZE), {}, [], [], [])
        store.save()
        return store

    @classmethod
    def open(cls, path: StrPath, passphrase: str) -> KeyStore:
        """Read the store at ``path``.

        Raises :class:`WrongPassphrase`, :class:`KeyStoreCorrupted`, or
        :class:`KeyStoreError` when the file cannot be read.
        """
        plain, key = unlock(_read_sealed(path), passphrase)
        return cls(path, key, *_parse_plain(plain))

    @classmethod
    def open_with_key(cls, path: StrPath, key: PasswordKey) -> KeyStore:
        """Read the store with its already derived key (no Argon2id): what an unlock
        agent hands back. Same errors as :meth:`open`."""
        return cls(path, key, *_parse_plain(unlock_with_key(_read_sealed(path), key)))

    @property
    def derived_key(self) -> PasswordKey:
        """The key derived from the passphrase (for an unlock agent; keep it secret)."""
        return self._key

    @classmethod
    def from_plain(
        cls,
        path: StrPath,
        passphrase: str,
        data: bytes,
        *,
        opslimit: int = OPSLIMIT,
        memlimit: int = MEMLIMIT,
    ) -> KeyStore:
        """A new store at ``path`` holding what :meth:`export_plain` gave (a backup)."""
        _refuse_existing(path)
        parts = _parse_plain(data)
        store = cls(path, derive_password_key(passphrase, opslimit=opslimit, memlimit=memlimit), *parts)
        store.save()
        return store

    # --- reading --------------------------------------------------------------

    @property
    def identity_public_key(self) -> bytes:
        return self._identity.public_key

    @property
    def identity_secret_key(self) -> bytes:
        return self._identity.secret_key

    @property
    def vault_key(self) -> bytes:
        """The 32-byte secretbox key of saved-file metadata."""
        return self._vault_key

    def identity_secret_key_for(self, public_key: bytes) -> bytes | None:
        """The secret key of the current or a previous identity with this public key."""
        for pair in (self._identity, *self._previous_identities):
            if pair.public_key == public_key:
                return pair.secret_key
        return None

    def vault_key_for(self, fingerprint: str) -> bytes | None:
        """The current or a previous vault key with this :func:`key_fingerprint`."""
        for key in (self._vault_key, *self._previous_vault_keys):
            if key_fingerprint(key) == fingerprint:
                return key
        return None

    @property
    def store_keys(self) -> list[bytes]:
        """Keys of local stores: this device's first, then any merged from the backup."""
        return list(self._store_keys)

    def local_store_key(self) -> bytes:
        """The key of this device's local store, made (and saved) on first use."""
        if not self._store_keys:
            self._store_keys.append(nacl.utils.random(KEY_SIZE))
            self.save()
        return self._store_keys[0]

    def box_ids(self) -> list[str]:
        return list(self._boxes)

    def box_secret_key(self, box_id: str) -> bytes | None:
        entry = self._boxes.get(box_id)
        return entry[0] if entry else None

    def box_invitation_share(self, box_id: str) -> bytes | None:
        entry = self._boxes.get(box_id)
        return entry[1] if entry else None

    def export_plain(self) -> bytes:
        """The whole store, unencrypted (seal it before it leaves the process)."""
        plain = {
                "version": PLAIN_VERSION,
                "identity_secret_key": b64u_encode(self._identity.secret_key),
                "vault_key": b64u_encode(self._vault_key),
                "boxes": {
                    box_id: {
                        "secret_key": b64u_encode(secret),
                        "invitation_share": None if share is None else b64u_encode(share),
                    }
                    for box_id, (secret, share) in self._boxes.items()
                },
                "previous_identity_secret_keys": [
                    b64u_encode(pair.secret_key) for pair in self._previous_identities
                ],
                "previous_vault_keys": [b64u_encode(key) for key in self._previous_vault_keys],
            }
        if self._store_keys:  # absent until a local store is made: older files read the same
            plain["store_keys"] = [b64u_encode(key) for key in self._store_keys]
        return js_dumps(plain).encode("utf-8")

    # --- changing (each change is saved at once) -----------------------------

    def add_box_key(
        self, box_id: str, secret_key: bytes, invitation_share: bytes | None = None
    ) -> None:
        """Remember a box's secret key, and its current invitation share if given.

        A box's key never changes: a different key for a known box is a
        :class:`KeyStoreError`, never an overwrite.
        """
        secret_key = check_bytes(secret_key, KEY_SIZE, "box secret key")
        if invitation_share is not None:
            invitation_share = check_bytes(invitation_share, KEY_SIZE, "invitation share")
        known = self._boxes.get(box_id)
        if known is not None and known[0] != secret_key:
            raise KeyStoreError(f"the key store already holds a different key for box {box_id}")
        if invitation_share is None and known is not None:
            invitation_share = known[1]
        entry = (secret_key, invitation_share)
        if entry != known:
            self._boxes[box_id] = entry
            self.save()

    def merge(self, other_plain: bytes) -> bool:
        """Merge a backup (:meth:`export_plain` of another device); True if this changed.

        Box keys are united (local wins on a conflict). When the identity or vault
        key differ, a fresh store (no box keys, nothing merged yet) adopts the backup's; otherwise
        the local ones stay. Either way the other ones are kept as previous keys.
        """
        identity, vault_key, boxes, previous_identities, previous_vault_keys, store_keys = _parse_plain(other_plain)
        before = self.export_plain()
        if not self._boxes and not self._previous_identities and not self._previous_vault_keys:
            identity, self._identity = self._identity, identity
            vault_key, self._vault_key = self._vault_key, vault_key
        for pair in (identity, *previous_identities):
            if pair not in (self._identity, *self._previous_identities):
                self._previous_identities.append(pair)
        for key in (vault_key, *previous_vault_keys):
            if key not in (self._vault_key, *self._previous_vault_keys):
                self._previous_vault_keys.append(key)
        self._store_keys.extend(key for key in store_keys if key not in self._store_keys)
        for box_id, (secret, share) in boxes.items():
            local_secret, local_share = self._boxes.get(box_id, (secret, None))
            self._boxes[box_id] = (local_secret, local_share or share)
        changed = self.export_plain() != before
        if changed:
            self.save()
        return changed

    def change_passphrase(
        self, new_passphrase: str, *, opslimit: int | None = None, memlimit: int | None = None
    ) -> None:
        """Seal the store with a new passphrase (and fresh salt) from now on."""
        old = self._key
        self._key = derive_password_key(
            new_passphrase,
            opslimit=old.opslimit if opslimit is None else opslimit,
            memlimit=old.memlimit if memlimit is None else memlimit,
        )
        try:
            self.save()
        except BaseException:
            self._key = old
            raise

    def save(self) -> None:
        """Write the store to :attr:`path` atomically (fast: the key is derived)."""
        _write_atomic(self.path, seal_with_key(self.export_plain(), self._key).encode("ascii"))


def _read_sealed(path: StrPath) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"no key store at {path}") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read the key store {path}: {exc.strerror}") from exc


def _refuse_existing(path: StrPath) -> None:
    if Path(path).exists():
        raise KeyStoreError(f"a key store already exists at {path}; open it instead")


def _parse_plain(
    data: bytes,
) -> tuple[BoxKeyPair, bytes, dict[str, tuple[bytes, bytes | None]], list[BoxKeyPair], list[bytes], list[bytes]]:
    """The parts of an :meth:`KeyStore.export_plain` output; KeyStoreCorrupted if bad."""
    try:
        plain = parse_json(data, "key store")
        if field(plain, "version", int, "key store") != PLAIN_VERSION:
            raise KeyStoreCorrupted(f"unsupported key store version {plain['version']!r}")
        identity = BoxKeyPair.from_secret_key(_key(plain, "identity_secret_key"))
        vault_key = _key(plain, "vault_key")
        boxes = {}
        for box_id, entry in field(plain, "boxes", dict, "key store").items():
            secret = _key(entry, "secret_key")
            share = None if entry.get("invitation_share") is None else _key(entry, "invitation_share")
            boxes[box_id] = (secret, share)
        previous_identities = [
            BoxKeyPair.from_secret_key(read_b64(k, "previous identity key", KEY_SIZE))
            for k in field(plain, "previous_identity_secret_keys", list, "key store")
        ]
        previous_vault_keys = [
            read_b64(k, "previous vault key", KEY_SIZE)
            for k in field(plain, "previous_vault_keys", list, "key store")
        ]
        store_keys = [
            read_b64(k, "store key", KEY_SIZE)
            for k in (field(plain, "store_keys", list, "key store") if "store_keys" in plain else [])
        ]
    except DecryptionError as exc:
        raise KeyStoreCorrupted(f"the key store content is damaged: {exc}") from None
    return identity, vault_key, boxes, previous_identities, previous_vault_keys, store_keys


def _key(obj: object, name: str) -> bytes:
    return read_b64(field(obj, name, str, "key store entry"), name, KEY_SIZE)


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600) so that a crash leaves old or new."""
    try:
        write_private_atomic(path, data)
    except OSError as exc:
        raise KeyStoreError(f"cannot write the key store {path}: {exc.strerror or exc}") from exc
