"""Boxes, timeline and messages through the Messenger, against the real server."""

from __future__ import annotations

import pytest

from boxtui.client.errors import Conflict, Forbidden
from boxtui.messenger.errors import MessengerError, NoBoxKey
from boxtui.messenger.models import CANNOT_DECRYPT, AccessChange


async def test_create_box_send_edit_delete_and_read_back(user):
    ada = await user("ada")
    box = await ada.create_box("Team")
    assert ada.keystore.box_secret_key(box.id) is not None
    assert ada.keystore.box_invitation_share(box.id) is not None
    first = await ada.send_text(box.id, "hello ✓")
    reply = await ada.send_text(box.id, "a reply", reply_to=first.id)
    edit = await ada.edit_text(box.id, first.id, "hello, edited")
    assert ada.decrypt_event(edit).text == "hello, edited"  # as realtime delivers it
    await ada.delete_message(box.id, reply.id)
    entries = await ada.timeline_page(box.id, tail=True)
    assert [e.event.type for e in entries] == ["create", "msg.text", "msg.text"]
    assert entries[0].system_text == "Ada created the box"
    assert entries[1].text == "hello, edited" and entries[1].edited
    assert entries[2].deleted and entries[2].summary == "[deleted]"
    assert await ada.count_events(box.id) == 3
    assert [e.event.id for e in await ada.timeline_page(box.id, after=entries[0].event.id)] == [first.id, reply.id]
    assert [e.event.id for e in await ada.timeline_page(box.id, before=first.id)] == [entries[0].event.id]
    # the key store was backed up after the new box key
    backup = await ada.client.keys.secret_storage_get()
    assert backup.data == ada.keystore.path.read_text()


async def test_list_boxes_previews_and_unread(user):
    ada = await user("ada")
    bob = await user("bob")
    box = await ada.create_box("Team")
    await ada.set_access_mode(box.id, public=True)
    link = await ada.invitation_link(box.id)
    await bob.join_link(link)
    await bob.send_text(box.id, "hi ada")
    [summary] = await ada.list_boxes()
    assert summary.box.id == box.id and summary.preview == "hi ada" and summary.unread >= 1
    await ada.ack(box.id)
    [summary] = await ada.list_boxes()
    assert summary.unread == 0
    [bob_summary] = await bob.list_boxes()
    assert bob_summary.preview == "hi ada"
    assert {m.display_name for m in await ada.members(box.id)} == {"Ada", "Bob"}


async def test_decrypt_event_never_raises(user):
    ada = await user("ada")
    box = await ada.create_box("Team")
    event = await ada.send_text(box.id, "secret")
    broken = event.model_copy(update={"content": {"encrypted": "bm90IGEgY3J5cHRvZ3JhbQ"}})
    assert ada.decrypt_event(broken).error == CANNOT_DECRYPT
    missing = event.model_copy(update={"content": {}})
    assert ada.decrypt_event(missing).error == CANNOT_DECRYPT
    foreign = event.model_copy(update={"box_id": "00000000-0000-4000-8000-000000000000"})
    assert ada.decrypt_event(foreign).error == "no key for this box"


async def test_lifecycle_leave_and_delete(user):
    ada = await user("ada")
    bob = await user("bob")
    box = await ada.create_box("Team")
    await ada.set_access_mode(box.id, public=True)
    await bob.join_link(await ada.invitation_link(box.id))
    await ada.set_lifecycle(box.id, closed=True)
    with pytest.raises(Conflict):
        await bob.send_text(box.id, "closed?")
    await ada.set_lifecycle(box.id, closed=False)
    await bob.send_text(box.id, "open again")
    await bob.leave(box.id)
    with pytest.raises(Forbidden):
        await bob.get_box(box.id)
    await ada.delete_box(box.id)
    assert await ada.list_boxes() == []


async def test_sending_without_the_box_key_is_a_readable_error(user):
    ada = await user("ada")
    with pytest.raises(NoBoxKey, match="no key"):
        await ada.send_text("00000000-0000-4000-8000-000000000000", "x")


async def test_access_batch_auto_invite_and_kick(user):
    ada = await user("ada")
    bob = await user("bob")
    carol = await user("carol")
    box = await ada.create_box("Team")
    result = await ada.apply_access_batch(
        box.id,
        add=[AccessChange("identifier", "bob@example.org", auto_invite=True), AccessChange("email_domain", "example.com")],
    )
    assert [e.type for e in result.created] == ["access.add", "access.add"] and result.kicked == []
    rules = await ada.accesses(box.id)
    assert {(r.restriction_type, r.value, r.auto_invite) for r in rules} == {
        ("identifier", "bob@example.org", True),
        ("email_domain", "example.com", False),
    }
    assert await bob.process_crypto_actions() == [box.id]
    assert await bob.client.keys.crypto_actions() == []
    await ada.send_text(box.id, "welcome bob")
    assert [e.text for e in await bob.timeline_page(box.id, tail=True) if e.text] == ["welcome bob"]
    # carol has no rule: she cannot join
    with pytest.raises(Forbidden):
        await carol.client.events.post(box.id, "member.join")
    # removing bob's rule kicks him
    bob_rule = next(r for r in await ada.accesses(box.id) if r.value == "bob@example.org")
    result = await ada.apply_access_batch(box.id, remove=[bob_rule.id])
    assert [k.display_name for k in result.kicked] == ["Bob"] and result.link_rotated
    with pytest.raises(MessengerError, match="only a person"):
        await ada.apply_access_batch(box.id, add=[AccessChange("email_domain", "x.org", auto_invite=True)])
    with pytest.raises(MessengerError, match="nothing"):
        await ada.apply_access_batch(box.id)


async def test_auto_inviting_someone_without_an_account_adds_their_rule_for_the_link(user, new_client, tmp_path):
    """``boxtui access BOX add --email new@… --auto-invite`` before they signed up."""
    ada = await user("ada")
    box = await ada.create_box("Builds")
    result = await ada.apply_access_batch(box.id, add=[AccessChange("identifier", "newcomer@example.org", auto_invite=True)])
    assert result.not_invited == ["newcomer@example.org"] and not result.link_rotated
    assert [(r.value, r.auto_invite) for r in await ada.accesses(box.id)] == [("newcomer@example.org", False)]
    newcomer = await user("newcomer")
    assert (await newcomer.join_link(await ada.invitation_link(box.id))).id == box.id


async def test_removing_a_member_renews_the_link_and_the_old_one_is_refused(user):
    ada, bob, carol = await user("ada"), await user("bob"), await user("carol")
    box = await ada.create_box("Team")
    await ada.apply_access_batch(
        box.id, add=[AccessChange("identifier", "bob@example.org"), AccessChange("identifier", "carol@example.org")]
    )
    old_link = await ada.invitation_link(box.id)
    await bob.join_link(old_link)
    bob_rule = next(r for r in await ada.accesses(box.id) if r.value == "bob@example.org")
    result = await ada.apply_access_batch(box.id, remove=[bob_rule.id])
    assert [k.display_name for k in result.kicked] == ["Bob"] and result.link_rotated
    new_link = await ada.invitation_link(box.id)
    assert new_link != old_link
    # The old link is refused, to Bob and to anyone else, even once the box is public.
    await ada.set_access_mode(box.id, public=True)
    for person in (bob, carol):
        with pytest.raises(MessengerError, match="no longer valid"):
            await person.join_link(old_link)
    assert (await carol.join_link(new_link)).id == box.id


async def test_forward_text_reencrypts_for_each_box(user):
    ada = await user("ada")
    one = await ada.create_box("One")
    two = await ada.create_box("Two")
    three = await ada.create_box("Three")
    source = await ada.send_text(one.id, "pass it on")
    copies = await ada.forward(source.id, [two.id, three.id])
    assert [c.box_id for c in copies] == [two.id, three.id]
    for box in (two, three):
        entries = await ada.timeline_page(box.id, tail=True)
        assert entries[-1].text == "pass it on"
        assert entries[-1].event.content["shared_from"]["event_id"] == source.id
    with pytest.raises(MessengerError):
        await ada.forward(source.id, [])


async def test_joining_a_limited_box_without_a_rule_says_whom_to_ask(user):
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Garden")
    link = await ada.invitation_link(box.id)
    with pytest.raises(MessengerError) as refused:
        await bob.join_link(link)
    assert str(refused.value) == (
        "“Garden” is limited to the people its access rules name: ask Ada to add bob@example.org, or to make the box public"
    )
    await ada.apply_access_batch(box.id, add=[AccessChange("identifier", "bob@example.org")])
    assert (await bob.join_link(link)).id == box.id
