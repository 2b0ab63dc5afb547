"""``client.keys``: key backup with versions, crypto actions, key shares (PROTOCOL §7)."""

from __future__ import annotations

import uuid

import pytest

from boxtui.client import Forbidden, NotFound, PreconditionFailed
from boxtui.core.wire import CryptoAction, SecretStorage
from boxtui.server.mailer import latest_code
from tests.client.conftest import ciphertext, make_box, random_key


async def test_secret_storage_versions(ada):
    keys = ada.client.keys
    assert await keys.secret_storage_get() is None

    assert await keys.secret_storage_put("backup-1") == 1
    stored = await keys.secret_storage_get()
    assert isinstance(stored, SecretStorage)
    assert (stored.version, stored.data) == (1, "backup-1")

    assert await keys.secret_storage_put("backup-2", version=1) == 2
    with pytest.raises(PreconditionFailed) as caught:
        await keys.secret_storage_put("stale", version=1)
    assert caught.value.status == 412
    with pytest.raises(PreconditionFailed):
        await keys.secret_storage_put("no if-match")
    stored = await keys.secret_storage_get()
    assert (stored.version, stored.data) == (2, "backup-2")


async def test_secret_storage_needs_acr2(connect, sqlite_app):
    client = await connect()
    await client.auth.request_code("carol@example.org")
    await client.auth.login("carol@example.org", code=latest_code(sqlite_app.state.settings.outbox_dir, "carol@example.org"))
    with pytest.raises(Forbidden) as caught:
        await client.keys.secret_storage_get()
    assert caught.value.details["required_acr"] == "2"


async def test_crypto_actions_empty_and_unknown(ada):
    assert await ada.client.keys.crypto_actions() == []
    with pytest.raises(NotFound):
        await ada.client.keys.delete_crypto_action(str(uuid.uuid4()))


async def test_auto_invite_gives_a_crypto_action(ada, bob):
    bob_key = random_key()
    await bob.client.identities.update(bob.id, public_key=bob_key)
    box_id = await make_box(ada)
    sealed = ciphertext()
    rule = {"type": "access.add", "content": {"restriction_type": "identifier", "value": bob.email, "auto_invite": True}, "extra": {bob_key: sealed}}
    [added] = await ada.client.events.batch(box_id, [rule])
    assert added.type == "access.add"

    [action] = await bob.client.keys.crypto_actions()
    assert await bob.client.keys.count_crypto_actions() == 1
    assert await bob.client.keys.crypto_actions(offset=1) == []
    assert isinstance(action, CryptoAction)
    assert (action.type, action.box_id, action.encrypted) == ("invitation", box_id, sealed)
    with pytest.raises(NotFound):
        await ada.client.keys.delete_crypto_action(action.id)  # someone else's
    await bob.client.keys.delete_crypto_action(action.id)
    assert await bob.client.keys.crypto_actions() == []
