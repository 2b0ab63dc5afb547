"""Boxes: creation, membership and access checks, views, deletion (PROTOCOL §3).

Other domains guard their routes with:

* ``await require_member(db, box_id, caller)`` → the ``BoxRow`` when the caller is an
  active member; otherwise 403 whether or not the box exists, with
  ``details.reason`` = ``not_member`` (they could join) or ``no_access``.
* ``is_admin(box, identity_id)``: the creator is the box's one admin.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.ids import new_id
from boxtui.core.timefmt import format_time, utcnow
from boxtui.server.auth.deps import Caller, Page
from boxtui.server.auth.models import IdentityRow
from boxtui.server.boxes import repository
from boxtui.server.boxes.models import BoxRow, MembershipRow
from boxtui.server.boxes.models import unread as unread_count
from boxtui.server.boxes.schemas import CreateBoxBody, DeleteBoxBody, KeyShare
from boxtui.server.errors import BadRequest, Forbidden
from boxtui.server.events import repository as events_repo
from boxtui.server.events import service as events_service
from boxtui.server.identities import repository as identities
from boxtui.server.identities.service import identity_view
from boxtui.server.keys import repository as keys_repo


def is_admin(box: BoxRow, identity_id: str) -> bool:
    return box.creator_id == identity_id


def no_access() -> Forbidden:
    return Forbidden("you have no access to this box", {"reason": "no_access"}, origin="path")


def rules_admit(rules: list[dict[str, Any]], email: str) -> bool:
    """Whether an ``identifier`` or ``email_domain`` rule lets ``email`` in."""
    email = email.lower()
    domain = email.rpartition("@")[2]
    for rule in rules:
        kind, value = rule.get("restriction_type"), rule.get("value")
        if (kind == "identifier" and value == email) or (kind == "email_domain" and value == domain):
            return True
    return False


async def may_join(db: AsyncSession, box: BoxRow, identity: IdentityRow) -> bool:
    if box.access_mode == "public":
        return True
    return rules_admit([r.content for r in await events_repo.active_rules(db, box.id)], identity.email)


async def require_member(db: AsyncSession, box_id: str, caller: Caller, *, lock: bool = False) -> BoxRow:
    """The box if the caller is an active member (``lock``: locked, as ``lock_box``)."""
    box, membership = await repository.box_and_membership(db, box_id, caller.id, lock=lock)
    if box is not None:
        if membership is not None and membership.active:
            return box
        if await may_join(db, box, caller.identity):
            raise Forbidden("you are not a member of this box: join it first", {"reason": "not_member"}, origin="path")
    raise no_access()


async def require_admin(db: AsyncSession, box_id: str, caller: Caller) -> BoxRow:
    box = await require_member(db, box_id, caller)
    if not is_admin(box, caller.id):
        raise Forbidden("only the box admin can do this", {"reason": "not_admin"}, origin="path")
    return box


async def store_key_share(db: AsyncSession, box: BoxRow, share: KeyShare) -> None:
    """Make ``share`` the box's only invitation key share (PROTOCOL §7)."""
    await keys_repo.replace_key_share(db, box.id, share.misakey_share, share.other_share_hash, share.encrypted_invitation_key_share)


async def create_box(db: AsyncSession, caller: Caller, body: CreateBoxBody) -> BoxRow:
    """The box, its creator's membership and its ``create`` event; flushed, the route commits."""
    title = body.title.strip()
    if not title:
        raise BadRequest("title cannot be blank", {"title": "invalid"}, origin="body")
    now = utcnow()
    box = BoxRow(id=new_id(), title=title, public_key=body.public_key, lifecycle="open", access_mode="limited", creator_id=caller.id, created_at=now, visible_count=0, unread_seq=0)
    db.add(box)
    db.add(MembershipRow(id=new_id(), box_id=box.id, identity_id=caller.id, join_event_id=None, active=True, unread_count=0, unread_base=0, created_at=now))
    await db.flush()
    await events_service.append_event(db, box, "create", caller.id, content={"public_key": box.public_key, "title": box.title, "state": "open"})
    if body.key_share is not None:
        await store_key_share(db, box, body.key_share)
    return box


async def box_views(db: AsyncSession, boxes: list[tuple[BoxRow, int]], viewer_id: str) -> list[dict[str, Any]]:
    """Box views (PROTOCOL §3) of ``(box, unread count)`` pairs, as ``viewer_id`` sees them."""
    last_rows = await events_repo.by_seqs(db, (box.last_event_seq for box, _ in boxes))
    ordered = list(last_rows.values())
    last_views = dict(zip((row.seq for row in ordered), await events_service.render_events(db, ordered, viewer_id)))
    creators = await identities.many(db, (box.creator_id for box, _ in boxes))
    return [
        {
            "id": box.id,
            "server_created_at": format_time(box.created_at),
            "public_key": box.public_key,
            "title": box.title,
            "lifecycle": box.lifecycle,
            "access_mode": box.access_mode,
            "creator": identity_view(creators[box.creator_id], viewer_id, box.creator_id),
            "last_event": last_views.get(box.last_event_seq),
            "events_count": unread,
        }
        for box, unread in boxes
    ]


async def box_view(db: AsyncSession, box: BoxRow, viewer_id: str) -> dict[str, Any]:
    unread = unread_count(box, await repository.membership(db, box.id, viewer_id))
    return (await box_views(db, [(box, unread)], viewer_id))[0]


async def get_box(db: AsyncSession, caller: Caller, box_id: str) -> dict[str, Any]:
    return await box_view(db, await require_member(db, box_id, caller), caller.id)


async def joined_boxes(db: AsyncSession, caller: Caller, page: Page) -> list[dict[str, Any]]:
    return await box_views(db, await repository.joined_boxes(db, caller.id, page.offset, page.limit), caller.id)


async def count_joined(db: AsyncSession, caller: Caller) -> int:
    return await repository.count_joined(db, caller.id)


async def delete_box(db: AsyncSession, caller: Caller, box_id: str, body: DeleteBoxBody) -> tuple[list[str], list[str]]:
    """Delete the box and everything in it; returns (member ids to notify, file ids to check)."""
    box = await require_admin(db, box_id, caller)
    if body.user_confirmation != "delete":
        raise BadRequest('user_confirmation must be "delete"', {"user_confirmation": "invalid"}, origin="body")
    members = await repository.active_member_ids(db, box.id)
    file_ids = await repository.box_file_ids(db, box.id)
    await repository.delete_box(db, box.id)
    await db.commit()
    return members, file_ids


async def members(db: AsyncSession, caller: Caller, box_id: str, page: Page) -> list[dict[str, Any]]:
    """Creator first, then active members in the order they joined."""
    box = await require_member(db, box_id, caller)
    ids = await repository.active_member_ids(db, box.id)
    ordered = [box.creator_id] + [i for i in ids if i != box.creator_id]
    window = ordered[page.offset : page.offset + page.limit]
    people = await identities.many(db, window)
    return [identity_view(people[i], caller.id, box.creator_id) for i in window if i in people]


async def count_members(db: AsyncSession, caller: Caller, box_id: str) -> int:
    box = await require_member(db, box_id, caller)
    return len(set(await repository.active_member_ids(db, box.id)) | {box.creator_id})


async def accesses(db: AsyncSession, caller: Caller, box_id: str, page: Page) -> list[dict[str, Any]]:
    box = await require_admin(db, box_id, caller)
    rules = (await events_repo.active_rules(db, box.id))[page.offset : page.offset + page.limit]
    return await events_service.render_events(db, rules, caller.id)


async def count_accesses(db: AsyncSession, caller: Caller, box_id: str) -> int:
    box = await require_admin(db, box_id, caller)
    return len(await events_repo.active_rules(db, box.id))


async def ack(db: AsyncSession, caller_id: str, box: BoxRow) -> None:
    await repository.reset_unread(db, box.id, caller_id)
    await db.commit()


async def ack_if_member(db: AsyncSession, identity_id: str, box_id: str) -> bool:
    """The realtime ``ack``: reset the unread count if ``identity_id`` is an active member."""
    membership = await repository.membership(db, box_id, identity_id)
    if membership is None or not membership.active:
        return False
    await repository.reset_unread(db, box_id, identity_id)
    await db.commit()
    return True
