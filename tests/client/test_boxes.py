"""``client.boxes`` against the real server (PROTOCOL §3)."""

from __future__ import annotations

import hashlib
import os

import pytest

from boxtui.client import BadRequest, Forbidden, NotFound
from boxtui.core.encoding import b64u_encode
from boxtui.core.wire import BoxView, EventView, IdentityView, PublicBox
from tests.client.conftest import ciphertext, make_box, post_text, random_key


async def test_create_get_and_count(ada):
    key = random_key()
    box = await ada.client.boxes.create("Plans", key)
    assert isinstance(box, BoxView)
    assert (box.title, box.public_key, box.lifecycle, box.access_mode) == ("Plans", key, "open", "limited")
    assert box.creator.id == ada.id
    fetched = await ada.client.boxes.get(box.id)
    assert fetched.id == box.id and fetched.last_event is not None and fetched.last_event.type == "create"
    assert await ada.client.boxes.count_joined() == 1


async def test_joined_iterator_crosses_pages(ada):
    titles = [f"box {i}" for i in range(7)]
    for title in titles:
        await ada.client.boxes.create(title, random_key())
    seen = [box.title async for box in ada.client.boxes.joined(page_size=3)]
    assert sorted(seen) == sorted(titles)
    assert seen == list(reversed(titles))  # most recent activity first
    page = await ada.client.boxes.list_joined(offset=2, limit=2)
    assert [box.title for box in page] == seen[2:4]
    assert await ada.client.boxes.count_joined() == 7


async def test_members_accesses_and_unread_ack(ada, bob):
    box_id = await make_box(ada, bob)
    members = await ada.client.boxes.members(box_id)
    assert all(isinstance(member, IdentityView) for member in members)
    assert [member.id for member in members] == [ada.id, bob.id]

    # bob's join wrote an identifier rule for him
    accesses = await ada.client.boxes.accesses(box_id)
    assert all(isinstance(event, EventView) and event.type == "access.add" for event in accesses)
    assert any(event.content and event.content.get("value") == bob.email for event in accesses)

    await post_text(bob, box_id)
    await post_text(bob, box_id)
    assert (await ada.client.boxes.get(box_id)).events_count >= 2
    await ada.client.boxes.ack(box_id)
    assert (await ada.client.boxes.get(box_id)).events_count == 0


async def test_non_member_is_refused_with_details(ada, bob):
    box_id = await make_box(ada)
    with pytest.raises(Forbidden) as caught:
        await bob.client.boxes.get(box_id)
    assert caught.value.details.get("reason") in {"no_access", "not_member"}
    with pytest.raises(BadRequest) as malformed:
        await bob.client.boxes.get("not-a-uuid")
    assert "malformed" in malformed.value.details.values()


async def test_invitation_preview_and_key_shares(ada, bob):
    share = os.urandom(32)
    share_hash = b64u_encode(hashlib.sha512(share).digest())
    box = await ada.client.boxes.create(
        "Invites",
        random_key(),
        key_share={"misakey_share": b64u_encode(os.urandom(32)), "other_share_hash": share_hash, "encrypted_invitation_key_share": ciphertext()},
    )
    preview = await bob.client.boxes.public(box.id, share_hash)
    assert isinstance(preview, PublicBox)
    assert preview.title == "Invites" and preview.creator.id == ada.id
    with pytest.raises(NotFound):
        await bob.client.boxes.public(box.id, b64u_encode(hashlib.sha512(b"other").digest()))

    key_share = await ada.client.keys.key_share(share_hash)
    assert (key_share.box_id, key_share.other_share_hash) == (box.id, share_hash)
    assert await ada.client.keys.encrypted_invitation_key_share(box.id) is not None
    plain = await ada.client.boxes.create("No link", random_key())
    assert await ada.client.keys.encrypted_invitation_key_share(plain.id) is None


async def test_delete_box(ada, bob):
    box_id = await make_box(ada, bob)
    with pytest.raises(Forbidden):
        await bob.client.boxes.delete(box_id)
    await ada.client.boxes.delete(box_id)
    with pytest.raises(Forbidden):
        await ada.client.boxes.get(box_id)
    assert await ada.client.boxes.count_joined() == 0
