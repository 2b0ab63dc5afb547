"""Sessions and keys: signup, password and code logins, resume, backup and restore."""

from __future__ import annotations

import json
import stat

import pytest

from boxtui.crypto import KeyStore, WrongPassphrase
from boxtui.messenger.errors import NotLoggedIn
from boxtui.messenger.messenger import Messenger
from boxtui.server.mailer import latest_code
from tests.conftest import PASSWORD
from tests.messenger.conftest import CHEAP_KDF


async def test_signup_creates_store_publishes_key_and_backs_up(user):
    ada = await user("ada")
    store = ada.keystore
    assert store is not None and store.path == ada.profile.keystore_path
    me = await ada.client.identities.me()
    from boxtui.core.encoding import b64u_encode

    assert me.public_key == b64u_encode(store.identity_public_key)
    backup = await ada.client.keys.secret_storage_get()
    assert backup is not None and backup.data == store.path.read_text()
    session = json.loads(ada.profile.session_path.read_text())
    assert session["identity"]["id"] == ada.identity_id and session["acr"] == 2
    assert stat.S_IMODE(ada.profile.session_path.stat().st_mode) == 0o600


async def test_second_device_restores_identity_and_vault_from_backup(user, device):
    ada = await user("ada")
    client, profile = device("ada-laptop")
    laptop = Messenger(client, None, profile, **CHEAP_KDF)
    await laptop.login_password("ada@example.org", PASSWORD)
    assert laptop.keystore.identity_public_key == ada.keystore.identity_public_key
    assert laptop.keystore.vault_key == ada.keystore.vault_key
    assert profile.keystore_path.exists()


async def test_resume_reuses_the_saved_session(user, device):
    ada = await user("ada")
    client, _ = device("unused")
    resumed = await Messenger.resume(client, ada.profile, PASSWORD, **CHEAP_KDF)
    assert resumed.identity_id == ada.identity_id and resumed.acr == 2
    assert resumed.keystore.identity_public_key == ada.keystore.identity_public_key


async def test_resume_without_session_or_after_logout_says_not_logged_in(user, device):
    client, profile = device("nobody")
    with pytest.raises(NotLoggedIn):
        await Messenger.resume(client, profile, PASSWORD)
    ada = await user("ada")
    saved = ada.profile.session
    await ada.logout()
    assert not ada.profile.session_path.exists()
    ada.profile.save_session(saved)  # a revoked token kept on disk
    client, _ = device("other")
    with pytest.raises(NotLoggedIn, match="expired"):
        await Messenger.resume(client, ada.profile, PASSWORD)
    assert ada.profile.session is None


async def test_wrong_password_does_not_open_the_store(user, device):
    ada = await user("ada")
    client, _ = device("x")
    with pytest.raises(WrongPassphrase):
        await Messenger.resume(client, ada.profile, "not the password")
    assert KeyStore.exists(ada.profile.keystore_path)


async def test_code_login_unlocks_local_store_only(user, device, sqlite_app):
    ada = await user("ada")
    client, _ = device("x")
    phone = Messenger(client, None, ada.profile, **CHEAP_KDF)
    await phone.request_code("ada@example.org")
    code = latest_code(sqlite_app.state.settings.outbox_dir, "ada@example.org")
    session = await phone.login_code("ada@example.org", code)
    assert session.acr == 1 and phone.keystore is None
    phone.unlock_keystore(PASSWORD)
    await phone.sync_keys()  # no backup at ACR 1, but no error either
    assert phone.keystore.identity_public_key == ada.keystore.identity_public_key
