"""The event view keeps the seven keys of PROTOCOL §4; what §4 says a message "carries"
as read (`last_edited_at` of an edit, `is_saved` of a file) travels in `content`,
beside `encrypted` (docs/protocol.md §10.11).
"""

from __future__ import annotations

from tests.conformance.proto import EVENT_VIEW_KEYS, User, ciphertext



def test_edited_message_content_carries_last_edited_at(alice: User) -> None:
    """§4 "an edited msg.text carries the latest encrypted/public_key plus last_edited_at"
    — read as: all three in ``content``, the event view keeping its seven §4 keys."""
    box = alice.box()
    message = alice.text(box["id"])
    alice.post(
        box["id"],
        "msg.edit",
        {"new_encrypted": ciphertext()},
        referrer_id=message["id"],
    )
    folded = alice.http.get(f"/boxes/{box['id']}/events").json()[-1]
    assert set(folded) == EVENT_VIEW_KEYS, folded
    assert "last_edited_at" in folded["content"], folded


def test_file_event_view_keeps_its_keys(alice: User) -> None:
    """§4 event view lists seven keys; "msg.file as read carries is_saved" read as inside ``content``."""
    box = alice.box()
    alice.upload(box["id"])
    listed = alice.http.get(f"/boxes/{box['id']}/files").json()[0]
    assert set(listed) == EVENT_VIEW_KEYS, listed
    assert listed["content"]["is_saved"] is False
