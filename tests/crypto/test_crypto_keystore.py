"""Password sealing (vault) and the passphrase-protected key store."""

import json
import os
import stat

import pytest

from boxtui.core.encoding import b64u_encode
from boxtui.crypto import (
    KeyStore,
    KeyStoreCorrupted,
    KeyStoreError,
    WrongPassphrase,
    default_keystore_path,
    generate_box_keypair,
    key_fingerprint,
    open_with_password,
    public_key_from_secret,
    seal_with_password,
)
from boxtui.crypto.vault import MEMLIMIT, OPSLIMIT

BOX_A, BOX_B = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


# --- vault ---------------------------------------------------------------------


def test_vault_round_trip_and_format(fast_kdf):
    sealed = seal_with_password(b"\x00secret bytes", "pass phrase", **fast_kdf)
    data = json.loads(sealed)
    assert list(data) == ["version", "kdf", "salt", "check", "nonce", "ciphertext"]
    assert data["version"] == 1
    assert data["kdf"] == {"name": "argon2id", **fast_kdf}
    assert "=" not in data["salt"] and len(data["nonce"]) == 32  # 24 bytes, standard b64
    assert open_with_password(sealed, "pass phrase") == b"\x00secret bytes"


def test_vault_defaults_are_moderate():
    assert OPSLIMIT >= 3 and MEMLIMIT >= 64 * 1024 * 1024


def test_vault_salt_and_nonce_are_fresh(fast_kdf):
    a, b = (json.loads(seal_with_password(b"x", "pw", **fast_kdf)) for _ in range(2))
    assert a["salt"] != b["salt"] and a["nonce"] != b["nonce"]


def test_vault_password_is_nfc_normalised(fast_kdf):
    sealed = seal_with_password(b"x", "caf\u00e9", **fast_kdf)
    assert open_with_password(sealed, "cafe\u0301") == b"x"


def test_vault_wrong_password(fast_kdf):
    sealed = seal_with_password(b"x", "right", **fast_kdf)
    with pytest.raises(WrongPassphrase):
        open_with_password(sealed, "wrong")


def test_vault_tampered_ciphertext_is_corrupted_not_wrong_password(fast_kdf):
    data = json.loads(seal_with_password(b"some data", "pw", **fast_kdf))
    data["ciphertext"] = data["ciphertext"][:-4] + ("AAAA" if data["ciphertext"][-4:] != "AAAA" else "BBBB")
    with pytest.raises(KeyStoreCorrupted, match="changed"):
        open_with_password(json.dumps(data), "pw")


@pytest.mark.parametrize(
    "change",
    [
        lambda d: "not json",
        lambda d: "[]",
        lambda d: {**d, "version": 2},
        lambda d: {k: v for k, v in d.items() if k != "salt"},
        lambda d: {**d, "kdf": {**d["kdf"], "name": "scrypt"}},
        lambda d: {**d, "kdf": {**d["kdf"], "memlimit": 1 << 40}},  # would take all memory
        lambda d: {**d, "kdf": {**d["kdf"], "opslimit": "3"}},
        lambda d: {**d, "nonce": "AAAA"},
        lambda d: {**d, "salt": "%%%"},
    ],
)
def test_vault_malformed_is_corrupted(fast_kdf, change):
    data = change(json.loads(seal_with_password(b"x", "pw", **fast_kdf)))
    with pytest.raises(KeyStoreCorrupted):
        open_with_password(data if isinstance(data, str) else json.dumps(data), "pw")


# --- key store -------------------------------------------------------------------


@pytest.fixture
def path(tmp_path):
    return tmp_path / "home" / "keystore.json"


@pytest.fixture
def store(path, fast_kdf):
    return KeyStore.create(path, "correct horse", **fast_kdf)


def test_default_path_is_in_user_data_dir():
    path = default_keystore_path()
    assert path.name == "keystore.json" and "boxtui" in str(path.parent)


def test_create_then_open(store, path):
    assert KeyStore.exists(path)
    assert public_key_from_secret(store.identity_secret_key) == store.identity_public_key
    assert len(store.vault_key) == 32 and store.box_ids() == []
    opened = KeyStore.open(path, "correct horse")
    assert opened.identity_secret_key == store.identity_secret_key
    assert opened.vault_key == store.vault_key
    assert opened.path == path


def test_file_is_private_and_sealed(store, path):
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert json.loads(text)["kdf"]["name"] == "argon2id"
    assert b64u_encode(store.vault_key) not in text and b64u_encode(store.identity_secret_key) not in text


def test_parent_folder_is_created_private(path, store):
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_box_keys_persist(store, path):
    box = generate_box_keypair()
    store.add_box_key(BOX_A, box.secret_key, invitation_share=b"s" * 32)
    store.add_box_key(BOX_B, b"b" * 32)
    opened = KeyStore.open(path, "correct horse")
    assert opened.box_ids() == [BOX_A, BOX_B]
    assert opened.box_secret_key(BOX_A) == box.secret_key
    assert opened.box_invitation_share(BOX_A) == b"s" * 32
    assert opened.box_invitation_share(BOX_B) is None
    assert opened.box_secret_key("unknown") is None and opened.box_invitation_share("unknown") is None


def test_add_box_key_updates_share_but_never_the_key(store):
    store.add_box_key(BOX_A, b"a" * 32, b"1" * 32)
    store.add_box_key(BOX_A, b"a" * 32)  # no share given: keeps the known one
    assert store.box_invitation_share(BOX_A) == b"1" * 32
    store.add_box_key(BOX_A, b"a" * 32, b"2" * 32)  # link rotated
    assert store.box_invitation_share(BOX_A) == b"2" * 32
    with pytest.raises(KeyStoreError, match="different key"):
        store.add_box_key(BOX_A, b"z" * 32)
    assert store.box_secret_key(BOX_A) == b"a" * 32


def test_wrong_passphrase_leaves_file_unchanged(store, path):
    before = path.read_bytes()
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        KeyStore.open(path, "Correct horse")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b"",
        lambda b: b"\xff\xfe\x00",
        lambda b: b.replace(b'"version":1', b'"version":9'),
    ],
)
def test_corrupted_file(store, path, damage):
    path.write_bytes(damage(path.read_bytes()))
    before = path.read_bytes()
    with pytest.raises(KeyStoreCorrupted):
        KeyStore.open(path, "correct horse")
    assert path.read_bytes() == before


def test_tampered_ciphertext_is_corrupted(store, path):
    data = json.loads(path.read_text())
    data["ciphertext"] = ("B" if data["ciphertext"][0] == "A" else "A") + data["ciphertext"][1:]
    path.write_text(json.dumps(data))
    with pytest.raises(KeyStoreCorrupted):
        KeyStore.open(path, "correct horse")


def test_damaged_content_under_a_valid_seal_is_corrupted(path, fast_kdf):
    path.parent.mkdir(parents=True)
    path.write_text(seal_with_password(b'{"version":1,"identity_secret_key":"short"}', "pw", **fast_kdf))
    with pytest.raises(KeyStoreCorrupted, match="damaged"):
        KeyStore.open(path, "pw")


def test_missing_file_and_existing_file_errors(tmp_path, store, path, fast_kdf):
    with pytest.raises(KeyStoreError, match="no key store"):
        KeyStore.open(tmp_path / "absent.json", "pw")
    before = path.read_bytes()
    with pytest.raises(KeyStoreError, match="already exists"):
        KeyStore.create(path, "other", **fast_kdf)
    with pytest.raises(KeyStoreError, match="already exists"):
        KeyStore.from_plain(path, "other", store.export_plain(), **fast_kdf)
    assert path.read_bytes() == before


def test_writes_leave_no_temp_files(store, path):
    for i in range(5):
        store.add_box_key(f"box-{i}", bytes([i]) * 32)
    store.change_passphrase("new one")
    assert sorted(p.name for p in path.parent.iterdir()) == ["keystore.json"]


def test_failed_write_keeps_old_file_and_no_temp(store, path, monkeypatch):
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyStoreError, match="No space left"):
        store.add_box_key(BOX_A, b"a" * 32)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["keystore.json"]


def test_change_passphrase(store, path):
    store.add_box_key(BOX_A, b"a" * 32)
    store.change_passphrase("battery staple")
    with pytest.raises(WrongPassphrase):
        KeyStore.open(path, "correct horse")
    opened = KeyStore.open(path, "battery staple")
    assert opened.box_secret_key(BOX_A) == b"a" * 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    opened.add_box_key(BOX_B, b"b" * 32)  # later saves keep the new passphrase
    assert KeyStore.open(path, "battery staple").box_ids() == [BOX_A, BOX_B]


def test_kdf_params_are_stored_and_reused(path):
    store = KeyStore.create(path, "pw", opslimit=2, memlimit=16 * 1024)
    store.add_box_key(BOX_A, b"a" * 32)
    assert json.loads(path.read_text())["kdf"] == {"name": "argon2id", "opslimit": 2, "memlimit": 16 * 1024}


def test_export_and_restore_from_plain(store, tmp_path, fast_kdf):
    store.add_box_key(BOX_A, b"a" * 32, b"s" * 32)
    plain = store.export_plain()
    assert json.loads(plain)["boxes"][BOX_A]["invitation_share"] is not None
    restored = KeyStore.from_plain(tmp_path / "other" / "ks.json", "device two", plain, **fast_kdf)
    assert restored.export_plain() == plain
    reopened = KeyStore.open(tmp_path / "other" / "ks.json", "device two")
    assert reopened.identity_secret_key == store.identity_secret_key
    assert reopened.box_invitation_share(BOX_A) == b"s" * 32


@pytest.mark.parametrize("plain", [b"", b"{}", b"[]", b'{"version":1}', b'{"version":2}'])
def test_from_plain_rejects_damaged_backup(tmp_path, plain, fast_kdf):
    target = tmp_path / "ks.json"
    with pytest.raises(KeyStoreCorrupted):
        KeyStore.from_plain(target, "pw", plain, **fast_kdf)
    assert not target.exists()


def test_merge_into_fresh_store_adopts_remote_identity_and_vault(tmp_path, store, fast_kdf):
    store.add_box_key(BOX_A, b"a" * 32)
    fresh = KeyStore.create(tmp_path / "fresh.json", "pw", **fast_kdf)
    old_identity = fresh.identity_public_key
    assert fresh.merge(store.export_plain()) is True
    assert fresh.identity_secret_key == store.identity_secret_key
    assert fresh.vault_key == store.vault_key
    assert fresh.box_secret_key(BOX_A) == b"a" * 32
    assert fresh.identity_secret_key_for(old_identity) is not None  # nothing is thrown away
    assert KeyStore.open(tmp_path / "fresh.json", "pw").vault_key == store.vault_key
    assert fresh.merge(store.export_plain()) is False


def test_merge_unites_boxes_and_keeps_local_identity(tmp_path, store, fast_kdf):
    store.add_box_key(BOX_A, b"a" * 32)
    other = KeyStore.create(tmp_path / "other.json", "pw", **fast_kdf)
    other.add_box_key(BOX_A, b"X" * 32, b"s" * 32)  # conflicting key: local wins, share is taken
    other.add_box_key(BOX_B, b"b" * 32)
    assert store.merge(other.export_plain()) is True
    assert store.box_ids() == [BOX_A, BOX_B]
    assert store.box_secret_key(BOX_A) == b"a" * 32
    assert store.box_invitation_share(BOX_A) == b"s" * 32
    assert store.identity_public_key != other.identity_public_key
    assert store.vault_key != other.vault_key
    # The other device's keys still open what was sealed to them.
    assert store.identity_secret_key_for(other.identity_public_key) == other.identity_secret_key
    assert store.vault_key_for(key_fingerprint(other.vault_key)) == other.vault_key
    assert store.vault_key_for(key_fingerprint(store.vault_key)) == store.vault_key
    assert store.vault_key_for("unknown") is None
    assert store.identity_secret_key_for(b"\x00" * 32) is None
    reopened = KeyStore.open(store.path, "correct horse")
    assert reopened.export_plain() == store.export_plain()
    assert store.merge(other.export_plain()) is False


def test_merge_rejects_damaged_backup_without_change(store, path):
    before = path.read_bytes()
    with pytest.raises(KeyStoreCorrupted):
        store.merge(b"garbage")
    assert path.read_bytes() == before


def test_repr_hides_secrets(store):
    store.add_box_key(BOX_A, b"a" * 32)
    assert "boxes=1" in repr(store) and "aaaa" not in repr(store)


def test_store_key_is_made_once_kept_and_merged(tmp_path, fast_kdf):
    store = KeyStore.create(tmp_path / "a.json", "pw", **fast_kdf)
    assert store.store_keys == [] and b"store_keys" not in store.export_plain()
    key = store.local_store_key()
    assert len(key) == 32 and store.local_store_key() == key
    assert KeyStore.open(tmp_path / "a.json", "pw").store_keys == [key]
    other = KeyStore.create(tmp_path / "b.json", "pw", **fast_kdf)
    other_key = other.local_store_key()
    assert store.merge(other.export_plain()) is True
    assert store.store_keys == [key, other_key]  # this device's key stays first
    restored = KeyStore.from_plain(tmp_path / "c.json", "pw", store.export_plain(), **fast_kdf)
    assert restored.local_store_key() == key
