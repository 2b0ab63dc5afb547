"""Events: the box log, its rules, folded reads and realtime delivery (PROTOCOL §4, §4.1, §9).

Entry points other domains use (the files domain writes ``msg.file`` with them):

* ``await append_event(db, box, type, sender_id, content=..., referrer_id=...,
  extra=..., file_id=...)`` → ``EventRow``. Flushes, never commits. Visible events
  move ``box.last_event_seq``; types in ``UNREAD_TYPES`` bump the unread count of the
  box's other active members. ``visible`` defaults from the type (``access.*``,
  ``msg.edit`` and ``msg.delete`` are hidden from lists).
* ``await render_events(db, rows, viewer_id)`` → list of event view dicts, folded
  (edits, deletes), with ``is_saved`` on ``msg.file`` and the identity privacy rule.
* ``await publish_events(hub, db, rows)`` → sends ``event.new`` to each event's
  audience (active members and the sender; access events to the admin and the
  sender), each rendered for its recipient. Call it **after** the commit.
* ``ensure_open(box)`` → 409 ``details.lifecycle = conflict`` on a closed box.
* ``check_reply_target(db, box, referrer_id)`` → the message being replied to.

Posting (``post_event``), access batches (``apply_access_batch``), reads
(``list_events``, ``get_events_by_ids``) and shares (``share_event``) live here too.
The writers flush and return an :class:`Outcome` with the transaction still open: the
route renders the answer, records it under the request's ``Idempotency-Key`` in the
same transaction (PROTOCOL §10.12), commits, then calls :func:`after_commit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from boxtui.core.ids import is_uuid, new_id
from boxtui.core.timefmt import as_utc, format_time, utcnow
from boxtui.core.wire import UNREAD_TYPES
from boxtui.server.auth.deps import Caller, Page, validate_model
from boxtui.server.auth.models import IdentityRow
from boxtui.server.auth.service import EMAIL_RE
from boxtui.server.boxes import repository as boxes_repo
from boxtui.server.boxes import service as boxes_service
from boxtui.server.boxes.models import BoxRow, MembershipRow
from boxtui.server.boxes.schemas import MAX_SHARE_FIELD, KeyShare
from boxtui.server.db import DEFERRED_WRITES
from boxtui.server.errors import BadRequest, Conflict, Forbidden, Gone, NotFound, validation_details
from boxtui.server.events import repository
from boxtui.server.events.models import EventRow
from boxtui.server.events.schemas import AccessAddContent, AccessModeContent, BatchBody, EditContent, EventBody, LifecycleContent, ShareBody, TextContent
from boxtui.server.files.service import delete_orphan_blobs
from boxtui.server.identities import repository as identities
from boxtui.server.identities.service import identity_view
from boxtui.server.keys import repository as keys_repo

HIDDEN_TYPES = frozenset({"access.add", "access.rm", "msg.edit", "msg.delete"})
MESSAGE_TYPES = frozenset({"msg.text", "msg.file"})
#: Types ``POST /boxes/{id}/events`` refuses: written by the server or the batch route.
SERVER_ONLY_TYPES = frozenset({"create", "msg.file", "member.kick", "access.add", "access.rm"})
ALIASES = {"msg.txt": "msg.text"}
MAX_IDS = 100


# --- the log ---------------------------------------------------------------------------


def event_time(newest: datetime | None) -> datetime:
    """A new event's time, taken under its box's lock: now, or the box's newest event's
    time (``newest``) when that is later — another server's clock ahead of this one's,
    or this one's set back — so a box's times never go backwards along its seq
    (PROTOCOL §10.16), whatever the clocks of the processes writing to it."""
    now = utcnow()
    if newest is None:
        return now
    newest = as_utc(newest)
    return newest if newest > now else now


async def append_event(
    db: AsyncSession,
    box: BoxRow,
    type: str,
    sender_id: str,
    *,
    content: dict[str, Any] | None = None,
    referrer_id: str | None = None,
    extra: dict[str, Any] | None = None,
    file_id: str | None = None,
    visible: bool | None = None,
) -> EventRow:
    """Write one event (flush, no commit) and keep the box's counters: activity, visible
    events, unread (one box row and at most the sender's membership row, whatever the
    member count)."""
    if visible is None:
        visible = type not in HIDDEN_TYPES
    # A reader paging with ``after=`` must never see seq N+1 committed before seq N.
    # The box row, locked and loaded fresh in this transaction, holds the counters.
    box = await boxes_repo.lock_box(db, box.id)
    row = EventRow(
        id=new_id(),
        box_id=box.id,
        type=type,
        sender_id=sender_id,
        referrer_id=referrer_id,
        content=content,
        extra=extra,
        created_at=event_time(await repository.newest_time(db, box.id)),
        visible=visible,
        active=True,
        file_id=file_id,
        pos=box.visible_count + 1 if visible else None,
    )
    db.add(row)
    await db.flush()
    if visible:  # one UPDATE of the box row for all its counters, at the next flush
        box.last_event_seq, box.visible_count = row.seq, row.pos
    if type in UNREAD_TYPES:
        box.unread_seq += 1
        await boxes_repo.bump_own_unread_base(db, box.id, sender_id)
    return row


def ensure_open(box: BoxRow) -> None:
    if box.lifecycle == "closed":
        raise Conflict("this box is closed", {"lifecycle": "conflict"}, origin="body")


async def check_reply_target(db: AsyncSession, box: BoxRow, referrer_id: str | None) -> EventRow | None:
    """The message a new ``msg.text``/``msg.file`` replies to (404 unknown or other box)."""
    if referrer_id is None:
        return None
    target = await _referred_event(db, box, referrer_id)
    if target.type not in MESSAGE_TYPES:
        raise BadRequest("a reply must refer to a message", {"referrer_id": "invalid"}, origin="body")
    return target


async def _referred_event(db: AsyncSession, box: BoxRow, referrer_id: str) -> EventRow:
    if not is_uuid(referrer_id):
        raise BadRequest("referrer_id is not a valid id", {"referrer_id": "malformed"}, origin="body")
    target = await repository.get(db, referrer_id)
    if target is None or target.box_id != box.id:
        raise NotFound("no such event in this box", {"referrer_id": "not_found"}, origin="body")
    return target


# --- reading ---------------------------------------------------------------------------


@dataclass
class _RenderContext:
    viewer_id: str | None
    identities: dict[str, IdentityRow]
    admins: dict[str, str]
    saved: set[str] = field(default_factory=set)

    def person(self, identity_id: str, box_id: str) -> dict[str, Any]:
        row = self.identities.get(identity_id)
        if row is None:  # the identity row is gone; keep the view well-formed
            return {"id": identity_id, "display_name": "", "avatar_url": None, "identifier_value": "", "identifier_kind": ""}
        return identity_view(row, self.viewer_id, self.admins.get(box_id))


def _kicker_id(row: EventRow) -> str | None:
    if row.type == "member.kick" and isinstance(row.content, dict):
        kicker = row.content.get("kicker")
        if isinstance(kicker, dict):
            return kicker.get("id")
    return None


def _people(row: EventRow) -> set[str]:
    """Identities shown in ``row``'s view."""
    return {i for i in (row.sender_id, row.deleted_by_id, _kicker_id(row)) if i}


@dataclass
class Known:
    """Rows the caller already holds, so rendering does not load them again."""

    boxes: dict[str, BoxRow] = field(default_factory=dict)
    people: dict[str, IdentityRow] = field(default_factory=dict)
    #: Active member ids per box (the realtime audience of its member-visible events).
    audiences: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, boxes: Iterable[BoxRow | None] = (), people: Iterable[IdentityRow | None] = ()) -> Known:
        return cls({b.id: b for b in boxes if b is not None}, {p.id: p for p in people if p is not None})


async def _context(db: AsyncSession, rows: Sequence[EventRow], viewer_id: str | None, known: Known | None = None) -> _RenderContext:
    known = known or Known()
    people = set().union(*map(_people, rows))
    admins = {}
    for box_id in {r.box_id for r in rows}:
        box = known.boxes.get(box_id) or await boxes_repo.get_box(db, box_id)
        if box is not None:
            admins[box_id] = box.creator_id
    saved = set()
    if viewer_id is not None:
        saved = await repository.saved_file_ids(db, viewer_id, (r.file_id for r in rows if r.type == "msg.file"))
    found = {i: known.people[i] for i in people if i in known.people}
    found.update(await identities.many(db, people - found.keys()))
    return _RenderContext(viewer_id=viewer_id, identities=found, admins=admins, saved=saved)


def _view(row: EventRow, ctx: _RenderContext) -> dict[str, Any]:
    content = row.content
    view: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "box_id": row.box_id,
        "server_event_created_at": format_time(row.created_at),
        "referrer_id": row.referrer_id,
        "sender": ctx.person(row.sender_id, row.box_id),
    }
    if row.deleted_at is not None:
        by = ctx.person(row.deleted_by_id, row.box_id) if row.deleted_by_id else None
        content = {"deleted": {"at_time": format_time(row.deleted_at), "by_identity": by}}
    elif row.edited_content is not None:
        last_edited_at = format_time(row.last_edited_at) if row.last_edited_at else None
        content = {**row.edited_content, "last_edited_at": last_edited_at}
    elif (kicker := _kicker_id(row)) is not None:
        content = {**content, "kicker": ctx.person(kicker, row.box_id)}
    if row.type == "msg.file" and row.deleted_at is None:
        content = {**content, "is_saved": row.file_id in ctx.saved}
    view["content"] = content
    if row.type in ("access.add", "state.key_share") and row.extra:
        view["extra"] = row.extra
    return view


async def render_events(db: AsyncSession, rows: Sequence[EventRow], viewer_id: str | None, known: Known | None = None) -> list[dict[str, Any]]:
    """Event views as ``viewer_id`` sees them (folded, ``is_saved``, privacy rule).

    ``viewer_id=None`` renders the view of a member who is neither admin nor shown.
    ``known`` boxes and identities are used as they are instead of being loaded.
    """
    if not rows:
        return []
    ctx = await _context(db, rows, viewer_id, known)
    return [_view(row, ctx) for row in rows]


async def render_event(db: AsyncSession, row: EventRow, viewer_id: str | None, known: Known | None = None) -> dict[str, Any]:
    return (await render_events(db, [row], viewer_id, known))[0]


async def audience(db: AsyncSession, row: EventRow, admin_id: str, known: Known | None = None) -> set[str]:
    """Who gets ``event.new`` for ``row``: members and the sender; access events: admin and sender."""
    if row.type in ("access.add", "access.rm"):
        return {admin_id, row.sender_id}
    members = known.audiences.get(row.box_id) if known is not None else None
    if members is None:
        members = await boxes_repo.active_member_id_set(db, row.box_id)
    return set(members) | {row.sender_id}


#: ``event.new`` envelopes ready to send: (recipients, envelope) pairs.
Publication = list[tuple[list[str], dict[str, Any]]]


async def prepare_publication(hub, db: AsyncSession, rows: Iterable[EventRow], known: Known | None = None) -> Publication:
    """``event.new`` for each row, rendered per recipient (nothing without a hub).

    Members who are neither the admin nor shown in the event (and have no ``is_saved``
    of their own to see) share one rendering. Routes call it inside the write
    transaction, so nothing touches the database after the commit; renderings of one
    event share the identities loaded once.
    """
    if hub is None:
        return []
    known = known or Known()
    publication: Publication = []
    for row in rows:
        box = known.boxes.get(row.box_id) or await boxes_repo.get_box(db, row.box_id)
        if box is None:
            continue
        known.boxes.setdefault(box.id, box)
        missing = _people(row) - known.people.keys()
        known.people.update(await identities.many(db, missing))
        recipients = await audience(db, row, box.creator_id, known)
        personal, others = split_audience(row, box.creator_id, recipients)
        for recipient in personal:
            publication.append(([recipient], {"type": "event.new", "object": await render_event(db, row, recipient, known)}))
        if others:
            publication.append((others, {"type": "event.new", "object": await render_event(db, row, None, known)}))
    return publication


def split_audience(row, admin_id: str, recipients: set[str]) -> tuple[list[str], list[str]]:
    """Who gets ``row`` rendered for them alone (the box admin, the people shown in it,
    everyone for a ``msg.file``: ``is_saved`` is their own), and who shares one
    rendering (the others), both sorted. The fast path (:mod:`boxtui.server.fastpath`)
    publishes with it too."""
    people = _people(row)
    personal = {r for r in recipients if r == admin_id or r in people or row.type == "msg.file"}
    return sorted(personal), sorted(recipients - personal)


async def deliver(hub, publication: Publication) -> None:
    if hub is None:
        return
    await hub.publish_many(publication)


async def publish_events(hub, db: AsyncSession, rows: Iterable[EventRow]) -> None:
    """Send ``event.new`` for each committed row to its audience (after the commit)."""
    await deliver(hub, await prepare_publication(hub, db, rows))


async def publish_notifications(hub, notifications: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Send ``notification`` envelopes: ``(identity_id, {"type", "details"})`` pairs."""
    if hub is None:
        return
    for identity_id, notification in notifications:
        await hub.publish([identity_id], {"type": "notification", "object": notification})


@dataclass(frozen=True)
class Cursor:
    """Event list selector (PROTOCOL §1): ``after``/``before`` ids, ``tail``."""

    after: str | None = None
    before: str | None = None
    tail: bool = False


async def _cursor_seq(db: AsyncSession, box_id: str, event_id: str | None, name: str) -> int | None:
    if event_id is None:
        return None
    if not is_uuid(event_id):
        raise BadRequest(f"{name} is not a valid id", {name: "malformed"}, origin="query")
    row = await repository.get(db, event_id)
    if row is None or row.box_id != box_id:
        raise NotFound(f"no such event in this box: {name}", {name: "not_found"}, origin="query")
    return row.seq


async def list_events(db: AsyncSession, caller: Caller, box_id: str, page: Page, cursor: Cursor, *, files_only: bool = False) -> list[dict[str, Any]]:
    box = await boxes_service.require_member(db, box_id, caller)
    after_seq = await _cursor_seq(db, box_id, cursor.after, "after")
    before_seq = await _cursor_seq(db, box_id, cursor.before, "before")
    if not files_only and after_seq is None and before_seq is None:
        # By position: the newest page and offset pages are index ranges at any depth.
        rows = await repository.position_page(db, box_id, offset=page.offset, limit=page.limit, total=box.visible_count if cursor.tail else None)
        return await render_events(db, rows, caller.id, Known.of(boxes=[box], people=[caller.identity]))
    query = repository.files_query(box_id) if files_only else repository.visible_query(box_id)
    rows = await repository.page(
        db, query, offset=page.offset, limit=page.limit, after_seq=after_seq, before_seq=before_seq, from_end=cursor.tail or before_seq is not None
    )
    return await render_events(db, rows, caller.id, Known.of(boxes=[box], people=[caller.identity]))


async def count_events(db: AsyncSession, caller: Caller, box_id: str, *, files_only: bool = False) -> int:
    box = await boxes_service.require_member(db, box_id, caller)
    if not files_only:
        return box.visible_count  # maintained by every post (migration 0003), no COUNT(*)
    return await repository.count(db, repository.files_query(box_id))


async def _readable_event(db: AsyncSession, caller: Caller, row: EventRow | None, member_of: dict[str, BoxRow] | None = None) -> EventRow:
    """``row`` if the caller may read it: 404 unknown, 403 not a member (access events: admin only).

    ``member_of``: boxes the caller is already known to be an active member of.
    """
    if row is None:
        raise NotFound("no such event", {"id": "not_found"}, origin="path")
    box = (member_of or {}).get(row.box_id) or await boxes_service.require_member(db, row.box_id, caller)
    if row.type in ("access.add", "access.rm") and not boxes_service.is_admin(box, caller.id):
        raise Forbidden("only the box admin sees access events", {"id": "forbidden"}, origin="path")
    return row


async def get_event(db: AsyncSession, caller: Caller, event_id: str) -> dict[str, Any]:
    row = await _readable_event(db, caller, await repository.get(db, event_id))
    return await render_event(db, row, caller.id)


async def get_events_by_ids(db: AsyncSession, caller: Caller, ids: list[str]) -> list[dict[str, Any]]:
    """``GET /events?ids=``: views in input order, per-item errors; none found → 404."""
    if not ids:
        raise BadRequest("ids is required", {"ids": "required"}, origin="query")
    if len(ids) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} ids", {"ids": "invalid"}, origin="query")
    if not all(is_uuid(i) for i in ids):
        raise BadRequest("ids holds a malformed id", {"ids": "malformed"}, origin="query")
    found = await repository.get_many(db, ids)
    # One statement for the caller's memberships in every box involved, not one per id.
    member_of = await boxes_repo.boxes_where_active_member(db, {row.box_id for row in found.values()}, caller.id)
    items: list[Any] = []
    readable: dict[str, EventRow] = {}
    for event_id in ids:
        try:
            readable[event_id] = await _readable_event(db, caller, found.get(event_id), member_of)
            items.append(event_id)
        except (NotFound, Forbidden) as exc:
            items.append({"error": {"status": exc.status, "message": exc.desc, "details": exc.details}})
    if not found:
        raise NotFound("none of these events exist", {"ids": "not_found"}, origin="query")
    views = dict(zip(readable, await render_events(db, list(readable.values()), caller.id, Known(dict(member_of), {caller.id: caller.identity}))))
    return [views[item] if isinstance(item, str) else item for item in items]


# --- posting ---------------------------------------------------------------------------


def _no_content(body: EventBody) -> None:
    if body.content is not None:
        raise BadRequest(f"{body.type} takes no content", {"content": "invalid"}, origin="body")


def _no_referrer(body: EventBody) -> None:
    if body.referrer_id is not None:
        raise BadRequest(f"{body.type} takes no referrer_id", {"referrer_id": "invalid"}, origin="body")


def _no_extra(body: EventBody) -> None:
    if body.extra is not None:
        raise BadRequest(f"{body.type} takes no extra", {"extra": "invalid"}, origin="body")


def _content(model: type[BaseModel], body: EventBody) -> dict[str, Any]:
    if body.content is None:
        raise BadRequest(f"{body.type} needs content", {"content": "required"}, origin="body")
    return validate_model(model, body.content, prefix=("content",)).model_dump(exclude_none=True)


@dataclass
class Outcome:
    """What a write produced: ``events`` to answer with, everything to publish after commit."""

    events: list[EventRow]
    published: list[EventRow]
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    orphan_file_ids: list[str] = field(default_factory=list)
    #: Active member ids per box, when the service already read them.
    audiences: dict[str, set[str]] = field(default_factory=dict)
    #: The box rows the service loaded (rendering uses them as they are).
    boxes: dict[str, BoxRow] = field(default_factory=dict)

    def known(self, caller: Caller) -> Known:
        """What rendering this outcome for ``caller`` need not load again."""
        return Known(dict(self.boxes), {caller.id: caller.identity}, dict(self.audiences))


async def post_event(db: AsyncSession, caller: Caller, box_id: str, body: EventBody) -> Outcome:
    """``POST /boxes/{id}/events``: validate and apply the type's rules (flushed, not committed)."""
    type_ = ALIASES.get(body.type, body.type)
    body = body.model_copy(update={"type": type_})
    if type_ in SERVER_ONLY_TYPES or type_ not in _POSTERS:
        raise BadRequest(f"events of type {body.type[:40]!r} cannot be posted here", {"type": "malformed"}, origin="body")
    if type_ == "member.join":
        return await _join(db, caller, box_id, body)
    if type_ == "msg.text":
        return await _post_text_late_lock(db, caller, box_id, body)
    # One statement: the member check and the box row, locked (PostgreSQL) so that the
    # checks below see the latest state and this box's events commit in seq order.
    box = await boxes_service.require_member(db, box_id, caller, lock=True)
    outcome = await _POSTERS[type_](db, caller, box, body)
    outcome.boxes.setdefault(box.id, box)
    return outcome


async def _post_text(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    content = _content(TextContent, body)
    _no_extra(body)
    ensure_open(box)
    await check_reply_target(db, box, body.referrer_id)
    row = await append_event(db, box, "msg.text", caller.id, content=content, referrer_id=body.referrer_id)
    return Outcome([row], [row])


async def _post_text_late_lock(db: AsyncSession, caller: Caller, box_id: str, body: EventBody) -> Outcome:
    """``msg.text``, the hot path: every check and read first, without the box lock on
    PostgreSQL (the audience too); the write is deferred to :func:`finish_writes`, as
    Core statements (no unit-of-work flush). On PostgreSQL its first statement takes the
    box lock, so the lock is held for two writes, the idempotency record and the commit
    instead of across the whole request (the lock convoy of PROFILE.md §1.3); on SQLite
    the transaction holds the write lock from its start, so the box row loaded here
    (reloaded: ``lock``) is current and places the event."""
    postgres = db.get_bind().dialect.name == "postgresql"
    box = await boxes_service.require_member(db, box_id, caller, lock=not postgres)
    content = _content(TextContent, body)
    _no_extra(body)
    ensure_open(box)  # checked again, under the lock, by the write itself
    await check_reply_target(db, box, body.referrer_id)
    row = EventRow(
        id=new_id(), box_id=box.id, type="msg.text", sender_id=caller.id, referrer_id=body.referrer_id, content=content, extra=None,
        visible=True, active=True, file_id=None, edited_content=None, last_edited_at=None, deleted_at=None, deleted_by_id=None,
    )  # fmt: skip
    audience = await boxes_repo.active_member_id_set(db, box.id)

    async def write() -> None:
        if postgres:
            placed = await repository.place_message_pg(db, box.id)
            if placed is None:
                raise Conflict("this box is closed", {"lifecycle": "conflict"}, origin="body")
            row.seq, row.pos = placed
            row.created_at = utcnow()  # under the lock; the insert keeps it from going before the box's newest
            await repository.insert_message_pg(db, row)
        else:
            row.pos, row.created_at = box.visible_count + 1, event_time(await repository.newest_time(db, box.id))
            row.seq = await repository.insert_message_sqlite(db, row)
            await repository.count_message_sqlite(db, box.id, row.seq, row.pos)
            await boxes_repo.bump_own_unread_base(db, box.id, caller.id)
        # The session's box row as the database now has it (nothing is written again).
        set_committed_value(box, "last_event_seq", row.seq)
        set_committed_value(box, "visible_count", row.pos)

    db.info.setdefault(DEFERRED_WRITES, []).append(write)
    return Outcome([row], [row], audiences={box.id: audience}, boxes={box.id: box})


async def finish_writes(db: AsyncSession) -> None:
    """Run the writes a service deferred (see :func:`_post_text_late_lock`); routes call
    it right after the service, before rendering."""
    for write in db.info.pop(DEFERRED_WRITES, ()):
        await write()


async def _message_target(db: AsyncSession, box: BoxRow, body: EventBody) -> EventRow:
    if body.referrer_id is None:
        raise BadRequest(f"{body.type} needs referrer_id", {"referrer_id": "required"}, origin="body")
    target = await _referred_event(db, box, body.referrer_id)
    if target.type not in MESSAGE_TYPES:
        raise Forbidden(f"{body.type} applies to messages only", {"referrer_id": "forbidden"}, origin="body")
    if target.deleted_at is not None:
        raise Gone("this message has been deleted", {"referrer_id": "expired"}, origin="body")
    return target


async def _post_edit(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    content = _content(EditContent, body)
    _no_extra(body)
    ensure_open(box)
    target = await _message_target(db, box, body)
    if target.type != "msg.text" or target.sender_id != caller.id:
        raise Forbidden("you can only edit your own text messages", {"referrer_id": "forbidden"}, origin="body")
    current = target.edited_content or target.content or {}
    target.edited_content = {
        **current,
        "encrypted": content["new_encrypted"],
        **({"public_key": content["new_public_key"]} if "new_public_key" in content else {}),
    }
    row = await append_event(db, box, "msg.edit", caller.id, content=content, referrer_id=target.id)
    target.last_edited_at = row.created_at
    return Outcome([row], [row])


async def _post_delete(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    _no_content(body)
    _no_extra(body)
    ensure_open(box)
    target = await _message_target(db, box, body)
    if target.sender_id != caller.id and not boxes_service.is_admin(box, caller.id):
        raise Forbidden("only the author or the box admin can delete a message", {"referrer_id": "forbidden"}, origin="body")
    row = await append_event(db, box, "msg.delete", caller.id, referrer_id=target.id)
    target.deleted_at = row.created_at
    target.deleted_by_id = caller.id
    return Outcome([row], [row], orphan_file_ids=[target.file_id] if target.file_id else [])


async def _join(db: AsyncSession, caller: Caller, box_id: str, body: EventBody) -> Outcome:
    _no_content(body)
    _no_referrer(body)
    _no_extra(body)
    box = await boxes_repo.lock_box(db, box_id)  # racing joins of one person: the later ones see the first
    if box is None:
        raise boxes_service.no_access()
    membership = await boxes_repo.membership(db, box.id, caller.id)
    if membership is not None and membership.active:
        raise Conflict("you are already a member of this box", {"type": "conflict"}, origin="body")
    if not await boxes_service.may_join(db, box, caller.identity):
        raise boxes_service.no_access()
    ensure_open(box)
    row = await append_event(db, box, "member.join", caller.id)
    if membership is None:
        db.add(MembershipRow(id=new_id(), box_id=box.id, identity_id=caller.id, join_event_id=row.id, active=True, unread_count=0, unread_base=box.unread_seq, created_at=row.created_at))
    else:
        membership.active, membership.join_event_id, membership.unread_base = True, row.id, box.unread_seq
    published = [row]
    if not any(r.content.get("restriction_type") == "identifier" and r.content.get("value") == caller.identity.email for r in await repository.active_rules(db, box.id)):
        rule = await append_event(db, box, "access.add", caller.id, content={"restriction_type": "identifier", "value": caller.identity.email})
        published.append(rule)
    return Outcome([row], published)


async def _post_leave(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    _no_content(body)
    _no_referrer(body)
    _no_extra(body)
    if boxes_service.is_admin(box, caller.id):
        raise Forbidden("the box admin cannot leave their box", {"type": "forbidden"}, origin="body")
    membership = await boxes_repo.membership(db, box.id, caller.id)
    join = await repository.get(db, membership.join_event_id) if membership.join_event_id else None
    if join is not None:
        join.active = False
    membership.active, membership.unread_count = False, 0
    row = await append_event(db, box, "member.leave", caller.id, referrer_id=membership.join_event_id)
    return Outcome([row], [row])


def _require_admin(box: BoxRow, caller: Caller) -> None:
    if not boxes_service.is_admin(box, caller.id):
        raise Forbidden("only the box admin can do this", {"type": "forbidden"}, origin="body")


async def _post_access_mode(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    content = _content(AccessModeContent, body)
    _no_referrer(body)
    _no_extra(body)
    _require_admin(box, caller)
    ensure_open(box)
    box.access_mode = content["value"]
    row = await append_event(db, box, "state.access_mode", caller.id, content=content)
    return Outcome([row], [row])


async def _post_lifecycle(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    content = _content(LifecycleContent, body)
    _no_referrer(body)
    _no_extra(body)
    _require_admin(box, caller)
    if content["state"] == "closed":
        ensure_open(box)
    box.lifecycle = content["state"]
    row = await append_event(db, box, "state.lifecycle", caller.id, content=content)
    return Outcome([row], [row])


async def _post_key_share(db: AsyncSession, caller: Caller, box: BoxRow, body: EventBody) -> Outcome:
    _no_content(body)
    _no_referrer(body)
    _require_admin(box, caller)
    if body.extra is None:
        raise BadRequest("state.key_share needs extra", {"extra": "required"}, origin="body")
    share = validate_model(KeyShare, body.extra, prefix=("extra",))
    ensure_open(box)
    await boxes_service.store_key_share(db, box, share)
    row = await append_event(db, box, "state.key_share", caller.id, extra=share.model_dump())
    for membership in await boxes_repo.active_memberships(db, box.id):
        if membership.identity_id == caller.id:
            continue
        member = await identities.get(db, membership.identity_id)
        if member is not None and member.public_key:
            await keys_repo.add_crypto_action(db, member.id, "set_box_key_share", box.id, box.public_key, share.encrypted_invitation_key_share)
    return Outcome([row], [row])


_POSTERS = {
    "msg.text": _post_text,
    "msg.edit": _post_edit,
    "msg.delete": _post_delete,
    "member.join": None,  # handled before membership is required
    "member.leave": _post_leave,
    "state.access_mode": _post_access_mode,
    "state.lifecycle": _post_lifecycle,
    "state.key_share": _post_key_share,
}


# --- access batches (§4.1) ----------------------------------------------------------------


def _rule_key(content: dict[str, Any]) -> tuple[str, str]:
    return content["restriction_type"], content["value"]


def _normalized_rule_value(restriction_type: str, value: str) -> str | None:
    """The rule's value lower-cased, or ``None`` when it is not an e-mail / a domain."""
    value = value.strip().lower()
    if restriction_type == "identifier" and not EMAIL_RE.match(value):
        return None
    if restriction_type == "email_domain" and ("@" in value or "." not in value or any(c.isspace() for c in value)):
        return None
    return value


@dataclass(frozen=True)
class AccessChange:
    """One event of an access batch, checked: ``access.rm`` of ``referrer_id``, or
    ``access.add`` of ``content`` (value normalised) with its auto-invite ``extra``."""

    index: int
    type: str
    referrer_id: str | None = None
    content: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


def check_access_batch(data: Any) -> list[AccessChange]:
    """Every problem an access batch has on its own, all in one 400 (PROTOCOL §10.13).

    Reasons follow the reference: a ``batch_type`` other than ``accesses`` and an event
    type other than ``access.*`` are ``malformed``, an empty ``events`` is ``required``.
    A problem of the i-th event is keyed by its path, ``events.<i>.<field>``. What needs
    the database (unknown rule 404, duplicate rule 409, invitee without key 409) is
    checked when the batch is applied.
    """
    problems: dict[str, str] = {}
    try:
        BatchBody.model_validate(data)
    except ValidationError as exc:
        problems.update(validation_details([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])[1])
    if not isinstance(data, dict):
        raise BadRequest("the request body is not valid", problems or {"body": "malformed"}, origin="body")
    batch_type = data.get("batch_type")
    if isinstance(batch_type, str) and batch_type != "accesses":
        problems.setdefault("batch_type", "malformed")
    events = data.get("events")
    if isinstance(events, list) and not events:
        problems.setdefault("events", "required")
    changes = []
    for index, item in enumerate(events if isinstance(events, list) else []):
        try:
            event = EventBody.model_validate(item)
        except ValidationError:
            continue  # its problems are in ``problems`` already
        if (change := _check_access_event(index, event, problems)) is not None:
            changes.append(change)
    if problems:
        raise BadRequest("the access batch is not valid", problems, origin="body")
    return changes


def _check_access_event(index: int, event: EventBody, problems: dict[str, str]) -> AccessChange | None:
    def problem(field: str, reason: str) -> None:
        problems.setdefault(f"events.{index}.{field}", reason)

    if event.type not in ("access.add", "access.rm"):
        problem("type", "malformed")
        return None
    if event.type == "access.rm":
        for field in ("content", "extra"):
            if getattr(event, field) is not None:
                problem(field, "invalid")
        if event.referrer_id is None:
            problem("referrer_id", "required")
        elif not is_uuid(event.referrer_id):
            problem("referrer_id", "malformed")
        return AccessChange(index, "access.rm", referrer_id=event.referrer_id)
    if event.referrer_id is not None:
        problem("referrer_id", "invalid")
    if event.content is None:
        problem("content", "required")
        return None
    try:
        content = AccessAddContent.model_validate(event.content).model_dump(exclude_none=True)
    except ValidationError as exc:
        loc = ("body", "events", str(index), "content")
        for field, reason in validation_details([{**e, "loc": (*loc, *e["loc"])} for e in exc.errors()])[1].items():
            problems.setdefault(field, reason)
        return None
    value = _normalized_rule_value(content["restriction_type"], content["value"])
    if value is None:
        problem("content.value", "invalid")
    content["value"] = value
    return AccessChange(index, "access.add", content=content, extra=_check_auto_invite(content, event.extra, problem))


def _check_auto_invite(content: dict[str, Any], extra: dict[str, Any] | None, problem) -> dict[str, Any] | None:
    """An ``access.add``'s auto-invite ``extra``: one ``{invitee public key: invitation}`` entry."""
    if not content.get("auto_invite"):
        if extra is not None:
            problem("extra", "invalid")  # extra is only for auto_invite rules
        return None
    if content["restriction_type"] != "identifier":
        problem("content.auto_invite", "invalid")
    if not extra or len(extra) != 1:
        problem("extra", "required" if not extra else "invalid")
        return None
    ((_, encrypted),) = extra.items()
    if not isinstance(encrypted, str) or not encrypted or len(encrypted) > MAX_SHARE_FIELD:
        problem("extra", "invalid")
    return extra


async def apply_access_batch(db: AsyncSession, caller: Caller, box_id: str, changes: list[AccessChange]) -> Outcome:
    """All-or-nothing rule changes, then the kick pass, in one transaction (left open for the route).

    ``changes`` come from :func:`check_access_batch`; what is checked here needs the box.
    """
    await boxes_service.require_admin(db, box_id, caller)
    box = await boxes_repo.lock_box(db, box_id)
    ensure_open(box)
    active = {row.id: row for row in await repository.active_rules(db, box.id)}
    active_keys = {_rule_key(row.content): row.id for row in active.values()}
    created: list[EventRow] = []
    notifications: list[tuple[str, dict[str, Any]]] = []
    for change in changes:
        where = f"events.{change.index}"
        if change.type == "access.rm":
            rule = active.pop(change.referrer_id, None)
            if rule is None:
                raise NotFound("no such active access rule in this box", {f"{where}.referrer_id": "not_found"}, origin="body")
            rule.active = False
            del active_keys[_rule_key(rule.content)]
            created.append(await append_event(db, box, "access.rm", caller.id, referrer_id=rule.id))
            continue
        content = change.content
        if _rule_key(content) in active_keys:
            raise Conflict("this access rule already exists", {f"{where}.content": "conflict"}, origin="body")
        invitee = await _invitee(db, content, change.extra, where) if change.extra is not None else None
        row = await append_event(db, box, "access.add", caller.id, content=content, extra=change.extra)
        active[row.id] = row
        active_keys[_rule_key(content)] = row.id
        created.append(row)
        if invitee is not None:
            ((public_key, encrypted),) = change.extra.items()
            action = await keys_repo.add_crypto_action(db, invitee.id, "invitation", box.id, public_key, encrypted)
            notifications.append((invitee.id, {"type": "box.auto_invite", "details": {"box_id": box.id, "box_title": box.title, "cryptoaction_id": action.id}}))
    kicks = await _kick_pass(db, box, caller, list(active.values()))
    notifications += [(row.sender_id, {"type": "member.kick", "details": {"box_id": box.id, "title": box.title}}) for row in kicks]
    return Outcome(created + kicks, created + kicks, notifications)


async def _invitee(db: AsyncSession, content: dict[str, Any], extra: dict[str, Any], where: str) -> IdentityRow:
    """The person an auto-invite is for: they must have a public key, and ``extra`` must be keyed by it."""
    invitee = await identities.by_email(db, content["value"])
    if invitee is None or not invitee.public_key:
        raise Conflict("this person has no public key yet: share a link instead", {f"{where}.extra": "conflict"}, origin="body")
    if next(iter(extra)) != invitee.public_key:
        raise BadRequest("extra is not keyed by the invitee's public key", {f"{where}.extra": "invalid"}, origin="body")
    return invitee


async def _kick_pass(db: AsyncSession, box: BoxRow, caller: Caller, rules: list[EventRow]) -> list[EventRow]:
    """Kick every non-admin member no rule (or a public box) lets in any more."""
    if box.access_mode == "public":
        return []
    kicks: list[EventRow] = []
    for membership in await boxes_repo.active_memberships(db, box.id):
        if membership.identity_id == box.creator_id:
            continue
        member = await identities.get(db, membership.identity_id)
        if boxes_service.rules_admit([r.content for r in rules], member.email):
            continue
        join = await repository.get(db, membership.join_event_id) if membership.join_event_id else None
        if join is not None:
            join.active = False
        membership.active, membership.unread_count = False, 0
        kicks.append(await append_event(db, box, "member.kick", member.id, content={"kicker": {"id": caller.id}}, referrer_id=membership.join_event_id))
    return kicks


# --- shares (§4.2) ------------------------------------------------------------------------


async def share_event(db: AsyncSession, caller: Caller, event_id: str, body: ShareBody) -> Outcome:
    source = await repository.get(db, event_id)
    if source is None:
        raise NotFound("no such event", {"id": "not_found"}, origin="path")
    await boxes_service.require_member(db, source.box_id, caller)
    if source.type not in MESSAGE_TYPES:
        raise BadRequest("only messages can be shared", {"id": "invalid"}, origin="path")
    if source.deleted_at is not None:
        raise Gone("this message has been deleted", {"id": "expired"}, origin="path")
    if not body.targets:
        raise BadRequest("targets cannot be empty", {"targets": "required"}, origin="body")
    rows: list[EventRow] = []
    for box_id in sorted({t.box_id for t in body.targets}):  # one lock order: no deadlocks
        await boxes_repo.lock_box(db, box_id)
    for index, target in enumerate(body.targets):
        box = await boxes_service.require_member(db, target.box_id, caller)
        ensure_open(box)
        content = validate_model(TextContent, target.content, prefix=("targets", str(index), "content")).model_dump(exclude_none=True)
        if source.type == "msg.file":
            if "public_key" not in content:
                raise BadRequest("a shared file needs public_key", {f"targets.{index}.content.public_key": "required"}, origin="body")
            content["encrypted_file_id"] = source.file_id
        content["shared_from"] = {"box_id": source.box_id, "event_id": source.id}
        rows.append(await append_event(db, box, source.type, caller.id, content=content, file_id=source.file_id))
    return Outcome(rows, rows)


async def after_commit(request_app, db: AsyncSession, outcome: Outcome, publication: Publication) -> None:
    """Realtime delivery (``publication`` from :func:`prepare_publication`, made before
    the commit) and blob clean-up for a committed :class:`Outcome`."""
    hub = getattr(request_app.state, "hub", None)
    await deliver(hub, publication)
    await publish_notifications(hub, outcome.notifications)
    if outcome.orphan_file_ids:
        await delete_orphan_blobs(db, request_app.state.settings, outcome.orphan_file_ids)
