"""``client.events`` against the real server (PROTOCOL §4)."""

from __future__ import annotations

import uuid

import pytest

from boxtui.client import BadRequest, Conflict, EventLookupFailure, Forbidden, Gone, NotFound
from boxtui.core.wire import EventView
from tests.client.conftest import ciphertext, make_box, post_text, random_key


async def test_post_get_and_reply(ada, bob):
    box_id = await make_box(ada, bob)
    sealed = ciphertext()
    message = await ada.client.events.post(box_id, "msg.text", {"encrypted": sealed})
    assert isinstance(message, EventView)
    assert (message.type, message.box_id, message.sender.id, message.content) == ("msg.text", box_id, ada.id, {"encrypted": sealed})
    reply = await post_text(bob, box_id, referrer_id=message.id)
    assert reply.referrer_id == message.id
    assert (await bob.client.events.get(message.id)).content == {"encrypted": sealed}


async def test_list_windows_and_iterate_across_pages(ada):
    box_id = await make_box(ada)
    posted = [await post_text(ada, box_id) for _ in range(7)]
    everything = await ada.client.events.list(box_id)
    assert [event.type for event in everything] == ["create"] + ["msg.text"] * 7
    ids = [event.id for event in everything]
    assert ids[1:] == [event.id for event in posted]
    assert await ada.client.events.count(box_id) == 8

    assert [e.id for e in await ada.client.events.list(box_id, offset=2, limit=3)] == ids[2:5]
    assert [e.id for e in await ada.client.events.list(box_id, after=ids[5])] == ids[6:]
    assert [e.id for e in await ada.client.events.list(box_id, before=ids[5], limit=2)] == ids[3:5]
    assert [e.id for e in await ada.client.events.list(box_id, tail=True, limit=3)] == ids[5:]

    assert [e.id async for e in ada.client.events.iterate(box_id, page_size=3)] == ids
    assert [e.id async for e in ada.client.events.iterate(box_id, after=ids[1], page_size=2)] == ids[2:]


async def test_edit_delete_fold_into_message(ada, bob):
    box_id = await make_box(ada, bob)
    message = await post_text(ada, box_id)
    new_text = ciphertext()
    edit = await ada.client.events.post(box_id, "msg.edit", {"new_encrypted": new_text}, referrer_id=message.id)
    assert edit.type == "msg.edit"
    with pytest.raises(Forbidden):
        await bob.client.events.post(box_id, "msg.edit", {"new_encrypted": ciphertext()}, referrer_id=message.id)
    folded = await bob.client.events.get(message.id)
    assert folded.content["encrypted"] == new_text and folded.last_edited_at is not None

    await ada.client.events.post(box_id, "msg.delete", referrer_id=message.id)
    deleted = await ada.client.events.get(message.id)
    assert set(deleted.content) == {"deleted"}
    with pytest.raises(Gone):
        await ada.client.events.post(box_id, "msg.delete", referrer_id=message.id)
    # edits and deletes are not listed themselves
    assert [e.type for e in await ada.client.events.list(box_id)].count("msg.edit") == 0


async def test_post_errors_are_typed(ada, bob):
    box_id = await make_box(ada)
    with pytest.raises(Forbidden):
        await post_text(bob, box_id)
    with pytest.raises(BadRequest) as caught:
        await ada.client.events.post(box_id, "create")
    assert caught.value.details.get("type") == "malformed"
    with pytest.raises(BadRequest):
        await ada.client.events.post(box_id, "msg.text", {"encrypted": ciphertext(), "surprise": 1})
    with pytest.raises(NotFound):
        await post_text(ada, box_id, referrer_id=str(uuid.uuid4()))
    await ada.client.events.post(box_id, "state.lifecycle", {"state": "closed"})
    with pytest.raises(Conflict) as closed:
        await post_text(ada, box_id)
    assert closed.value.details.get("lifecycle") == "conflict"


async def test_get_many_in_input_order_with_errors(ada, bob):
    ada_box = await make_box(ada)
    bob_box = await make_box(bob)
    mine = await post_text(ada, ada_box)
    theirs = await post_text(bob, bob_box)
    unknown = str(uuid.uuid4())
    items = await ada.client.events.get_many([unknown, mine.id, theirs.id])
    assert len(items) == 3
    assert isinstance(items[0], EventLookupFailure) and items[0].status == 404
    assert isinstance(items[1], EventView) and items[1].id == mine.id
    assert isinstance(items[2], EventLookupFailure) and items[2].status == 403
    with pytest.raises(NotFound):
        await ada.client.events.get_many([unknown])
    with pytest.raises(BadRequest):
        await ada.client.events.get_many([str(uuid.uuid4()) for _ in range(101)])
    assert await ada.client.events.get_many([]) == []


async def test_share_into_other_box(ada, bob):
    source = await make_box(ada, bob)
    target = await make_box(ada)
    message = await post_text(bob, source)
    content = {"encrypted": ciphertext()}
    copies = await ada.client.events.share(message.id, [{"box_id": target, "content": content}])
    assert len(copies) == 1 and copies[0].box_id == target and copies[0].type == "msg.text"
    assert copies[0].content["shared_from"] == {"box_id": source, "event_id": message.id}
    with pytest.raises(Forbidden):
        await bob.client.events.share(message.id, [{"box_id": target, "content": content}])
    with pytest.raises(BadRequest):
        await ada.client.events.share(message.id, [])


async def test_access_batch_adds_removes_and_kicks(ada, bob):
    box_id = await make_box(ada, bob)
    added = await ada.client.events.batch(
        box_id,
        [
            {"type": "access.add", "content": {"restriction_type": "email_domain", "value": "example.com"}},
            {"type": "access.add", "content": {"restriction_type": "identifier", "value": "carol@example.org"}},
        ],
    )
    assert [event.type for event in added] == ["access.add", "access.add"]
    # make the box limited again and remove bob's rule: bob is kicked
    await ada.client.events.post(box_id, "state.access_mode", {"value": "limited"})
    bob_rule = next(e for e in await ada.client.boxes.accesses(box_id) if e.content.get("value") == bob.email)
    result = await ada.client.events.batch(box_id, [{"type": "access.rm", "referrer_id": bob_rule.id}])
    assert [event.type for event in result] == ["access.rm", "member.kick"]
    assert result[1].sender.id == bob.id
    with pytest.raises(Forbidden):
        await bob.client.boxes.get(box_id)
    # all or nothing: removing the same rule again fails and nothing changes
    before = await ada.client.boxes.accesses(box_id)
    with pytest.raises(NotFound):
        await ada.client.events.batch(box_id, [{"type": "access.rm", "referrer_id": added[0].id}, {"type": "access.rm", "referrer_id": bob_rule.id}])
    assert [e.id for e in await ada.client.boxes.accesses(box_id)] == [e.id for e in before]


async def test_email_ingest(ada):
    box = await ada.client.boxes.create("Mail", random_key())
    raw = (
        b"From: Carol <carol@example.org>\r\nTo: box@example.org\r\nSubject: Hello\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi there.\r\n"
    )
    events = await ada.client.events.email(box.id, raw)
    assert [event.type for event in events] == ["msg.text"]
    assert events[0].content["encrypted"]
    with pytest.raises(BadRequest):
        await ada.client.events.email(box.id, b"")
