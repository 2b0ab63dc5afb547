"""Local-first: the messenger's use of the local store (issue 10).

:class:`LocalFirst` is mixed into :class:`~boxtui.messenger.messenger.Messenger`:

Reading
    :meth:`stored_boxes` and :meth:`stored_page` answer from the store at once (the app
    paints them before the network answers); the network methods (``list_boxes``,
    ``timeline_page``) store what they fetch, and fall back to the store when the server
    cannot be reached.

Sync
    :meth:`sync` lists the joined boxes (one paged request), then catches up only the
    boxes whose last event changed since their last catch-up, with ``after=<newest
    stored id>`` (a box never stored gets its newest page). Pages are de-duplicated by
    id; realtime events (:meth:`apply_realtime`) are appended to boxes caught up in this
    session and patch edits and deletions into stored messages. A box this identity no
    longer belongs to keeps its stored history, read-only (``docs/local-store.md``).

Outbox
    :meth:`send_text` and :meth:`upload_file` seal the message, queue it with a fresh
    ``Idempotency-Key`` (durable before anything is sent), then :meth:`flush_outbox`
    sends the queue in order, each entry with its own key, so a retry after a crash or
    a lost answer returns the first event instead of a second one. Unreachable server:
    the entry stays queued (:class:`Queued` is raised to the caller of ``send_*``).

Search and backfill
    :meth:`search` runs over every stored message; :meth:`backfill` fetches a box's
    older history into the store, page by page, with progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boxtui.client.errors import APIConnectionError, APIStatusError
from boxtui.core.wire import ACCESS_TYPES, EventView, IdentityView
from boxtui.store import StoreCorrupted, StoreError, StoreFull
from boxtui.store.cache import BoxListing, split_snippet

from .errors import MessengerError
from .local import LocalStore, box_row, box_view, entry_of, record_of, store_dir
from .models import BoxSummary, SearchResult, TimelineEntry

if TYPE_CHECKING:
    from boxtui.client.client import BoxClient
    from boxtui.crypto import KeyStore

    from .profile import Profile

__all__ = ["LocalFirst", "Queued", "CATCH_UP_PAGE", "BACKFILL_PAGE"]

CATCH_UP_PAGE = 200
BACKFILL_PAGE = 500
PENDING_PREFIX = "pending:"


class Queued(MessengerError):
    """The message is safe in the outbox but the server could not be reached: it is
    sent, exactly once, the next time the outbox is flushed."""

    def __init__(self, local_id: str, reason: str, *, elsewhere: bool = False) -> None:
        if elsewhere:
            super().__init__("queued: another boxtui on this profile is sending it")
        else:
            super().__init__(f"queued, not sent yet ({reason}): it goes out when the server is reachable")
        self.local_id = local_id
        #: Another app on the profile holds the entry (it is going out, not stuck).
        self.elsewhere = elsewhere


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalFirst:
    """The store-backed half of the messenger (see the module docstring)."""

    client: BoxClient
    keystore: KeyStore | None
    profile: Profile
    identity: IdentityView | None
    local: LocalStore | None
    online: bool
    #: Events the server answered for outbox entries, and refusals, by local id.
    _delivered: dict[str, EventView]
    _refused: dict[str, APIStatusError]
    _keys_pending: bool

    decrypt_event: Callable[[EventView], TimelineEntry]
    box_public_key: Callable[[str], bytes]
    sync_keys: Callable[[], Awaitable[None]]

    # --- opening ----------------------------------------------------------------------

    def open_local(self) -> LocalStore | None:
        """Open this account's store (sync: call it from a thread with the key store).
        Returns None when there is no identity or key store yet."""
        if self.local is not None or self.keystore is None or self.identity is None:
            return self.local
        keys = [self.keystore.local_store_key(), *self.keystore.store_keys[1:]]
        folder = store_dir(self.profile.data_dir, self.client.base_url, self.identity.id)
        self.local = LocalStore.open(folder, keys, server_url=self.client.base_url, identity_id=self.identity.id)
        self._live: set[str] = set()
        return self.local

    def close_local(self) -> None:
        if self.local is not None:
            self.local.close()
            self.local = None

    def _cache_failed(self, exc: StoreError) -> None:
        """A damaged cache found in use: set it aside, start afresh (the outbox stays)."""
        if isinstance(exc, StoreCorrupted) and self.local is not None and self.keystore is not None:
            self.local.rebuild_cache(self.keystore.store_keys, str(exc))
            self._live = set()

    def _store_quietly(self, fn: Callable[[], object]) -> None:
        """Write to the cache; a cache problem never loses what the server gave us."""
        if self.local is None:
            return
        try:
            fn()
        except StoreError as exc:
            self._cache_failed(exc)

    # --- reading from the store --------------------------------------------------------

    def stored_boxes(self, *, include_left: bool = True) -> list[BoxSummary]:
        """The stored boxes, most recent first (instant; empty without a store)."""
        if self.local is None:
            return []
        return [
            BoxSummary(box=box_view(box), preview=box.preview, unread=box.unread, member=box.member)
            for box in self.local.cache.boxes(members_only=not include_left)
        ]

    def stored_box_listing(self) -> list[BoxListing]:
        """The stored boxes you are in, most recent first, without building their views:
        what the app paints first at start (:meth:`stored_boxes` validates every view)."""
        return [] if self.local is None else self.local.cache.box_listing()

    def stored_page(
        self, box_id: str, *, before: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[TimelineEntry]:
        """Stored events of a box, oldest first (the newest page, or before/after an id)."""
        if self.local is None:
            return []
        events = self.local.cache.page(box_id, before=before, after=after, limit=limit)
        return [entry_of(e) for e in events if e.type not in ACCESS_TYPES]

    def stored_around(self, event_id: str, limit: int = 100) -> list[TimelineEntry]:
        """The stored page around an event (a search result to jump to)."""
        if self.local is None:
            return []
        return [entry_of(e) for e in self.local.cache.around(event_id, limit) if e.type not in ACCESS_TYPES]

    def last_open_box(self) -> str | None:
        """The box open when the app last ran (painted first at the next start)."""
        return None if self.local is None else self.local.cache.get_meta("last_open_box")

    def remember_open_box(self, box_id: str) -> None:
        self._store_quietly(lambda: self.local.cache.set_meta("last_open_box", box_id))

    def reading_state(self, key: str) -> Any:
        """Device-local reading state kept in the store (JSON): where the reader was in
        the last open box, the boxes marked unread. None when absent or unreadable."""
        if self.local is None:
            return None
        try:
            text = self.local.cache.get_meta(f"reading:{key}")
            return json.loads(text) if text else None
        except (StoreError, ValueError):
            return None

    def remember_reading_state(self, key: str, value: Any) -> None:
        text = None if value is None else json.dumps(value)
        self._store_quietly(lambda: self.local.cache.set_meta(f"reading:{key}", text))

    def pending(self, box_id: str) -> list[TimelineEntry]:
        """The box's outbox entries, as timeline rows marked pending."""
        if self.local is None or self.identity is None:
            return []
        me = IdentityView(id=self.identity.id, display_name=self.identity.display_name)
        rows = []
        for item in self.local.outbox.entries(box_id):
            body = item.body
            event = EventView(
                id=PENDING_PREFIX + item.local_id,
                type="msg.file" if item.kind == "file" else "msg.text",
                box_id=box_id,
                server_event_created_at=item.created_at,
                referrer_id=body.get("referrer_id"),
                sender=me,
                content={},
            )
            text = item.preview if item.kind == "text" else None
            file = None
            if item.kind == "file":
                from boxtui.crypto import FileMetadata

                file = FileMetadata.from_json(body["file"])
            error = item.last_error if item.state == "failed" else None
            rows.append(TimelineEntry(event, text=text, file=file, error=error, pending=True))
        return rows

    def search(self, text: str, *, box_id: str | None = None, limit: int = 50) -> list[SearchResult]:
        """Stored messages with every word of ``text`` (last one as a prefix), newest first."""
        if self.local is None:
            return []
        return [
            SearchResult(entry_of(hit.event), hit.box_title, split_snippet(hit.snippet))
            for hit in self.local.cache.search(text, box_id=box_id, limit=limit)
        ]

    # --- writing what the server sent ----------------------------------------------------

    def _remember_boxes(self, summaries: list[BoxSummary], complete: bool) -> None:
        def write() -> None:
            assert self.local is not None
            gone = self.local.cache.save_boxes([box_row(s.box, s.preview) for s in summaries], complete_list=complete)
            self._live.difference_update(gone)

        self._store_quietly(write)

    def _remember_page(
        self,
        box_id: str,
        entries: list[TimelineEntry],
        *,
        before: str | None,
        after: str | None,
        tail: bool,
        sync: bool = False,
    ) -> None:
        """Store a page the server gave. ``sync``: a catch-up page, which must not be
        dropped: a full disk raises :class:`StoreFull` (the write was rolled back, the
        stored end of the box has not moved, so the next sync fetches the page again).
        A page only shown (the open box) is stored quietly: it is on screen either way."""
        if self.local is None or not entries:
            return
        cache = self.local.cache

        def write() -> None:
            try:
                if before is not None or after is not None:
                    cache.add_events(box_id, [record_of(e) for e in entries], before=before, after=after)
                elif tail:
                    cache.add_events(box_id, [record_of(e) for e in entries])
            except StoreError as exc:
                if isinstance(exc, (StoreCorrupted, StoreFull)):
                    raise
                # A page that does not meet the stored run (a gap): refresh what is known.
                cache.update_events([record_of(e) for e in entries])

        if not sync:
            self._store_quietly(write)
            return
        try:
            write()
        except StoreFull:
            raise StoreFull(
                "the disk is full: new messages could not be stored here (nothing stored was lost; "
                "they are fetched again at the next sync once there is room)"
            ) from None
        except StoreError as exc:
            self._cache_failed(exc)

    async def sync(
        self, progress: Callable[[int, int], object] | None = None, summaries: list[BoxSummary] | None = None
    ) -> list[str]:
        """Catch every joined box up with the server; returns the boxes that changed.

        ``summaries``: the joined boxes just listed (else they are listed here). Raises
        the client's errors (:class:`APIConnectionError` when offline)."""
        if summaries is None or not self.online:
            summaries = await self._fetch_boxes()
        if self._keys_pending:  # unlocked offline: the key backup, identity key, invitations
            await self.sync_keys()
        if self.local is None:
            return []
        stored = {box.id: box for box in self.local.cache.boxes()}
        todo = []
        for summary in summaries:
            last = summary.box.last_event.id if summary.box.last_event else None
            known = stored.get(summary.box.id)
            if known is None or known.synced_last_event != last or summary.box.id not in self._live:
                todo.append((summary.box.id, last))
        changed = []
        full: StoreFull | None = None
        for done, (box_id, last) in enumerate(todo, 1):
            try:
                if await self.catch_up(box_id):
                    changed.append(box_id)
            except StoreFull as exc:
                # This box stays where its stored events end (not marked synced, not
                # live): the next sync fetches the rest. The outbox still goes out.
                full = exc
                break
            self._store_quietly(lambda: self.local.cache.update_box(box_id, synced_last_event=last))
            if progress is not None:
                progress(done, len(todo))
        await self.flush_outbox()
        if full is not None:
            raise full
        return changed

    async def _fetch_boxes(self) -> list[BoxSummary]:
        summaries = []
        async for box in self.client.boxes.joined():
            preview = self.decrypt_event(box.last_event).summary if box.last_event else ""
            summaries.append(BoxSummary(box=box, preview=preview, unread=box.events_count))
        self.online = True
        self._remember_boxes(summaries, complete=True)
        return summaries

    async def catch_up(self, box_id: str) -> int:
        """Fetch what the store lacks at the newest end of a box; the number of new events."""
        if self.local is None:
            return 0
        oldest, newest, count = self.local.cache.ends(box_id)
        added = 0
        if newest is None:
            events = await self.client.events.list(box_id, tail=True, limit=CATCH_UP_PAGE)
            entries = await asyncio.to_thread(lambda: [self.decrypt_event(e) for e in events])
            self._remember_page(box_id, entries, before=None, after=None, tail=True, sync=True)
            added = len(entries)
        else:
            cursor = newest
            while True:
                events = await self.client.events.list(box_id, after=cursor, limit=CATCH_UP_PAGE)
                if not events:
                    break
                entries = await asyncio.to_thread(lambda: [self.decrypt_event(e) for e in events])
                self._remember_page(box_id, entries, before=None, after=cursor, tail=False, sync=True)
                added += len(entries)
                cursor = events[-1].id
                if len(events) < CATCH_UP_PAGE:
                    break
        self._live.add(box_id)
        if added and self.local is not None:
            last = self.local.cache.page(box_id, limit=1)
            if last:
                self._store_quietly(lambda: self.local.cache.update_box(box_id, preview=entry_of(last[0]).summary))
        return added

    def apply_realtime(self, event: EventView) -> TimelineEntry:
        """Decrypt a realtime event and fold it into the store; returns the entry."""
        entry = self.decrypt_event(event)
        if self.local is None:
            return entry
        cache = self.local.cache
        box_id = event.box_id

        def write() -> None:
            if event.type in ("msg.edit", "msg.delete") and event.referrer_id:
                target = cache.event(event.referrer_id)
                if target is None:
                    return
                view = target.view()
                content = dict(view.get("content") or {})
                if event.type == "msg.edit":
                    content["last_edited_at"] = event.server_event_created_at
                    text = entry.text
                else:
                    content = {"deleted": {"at_time": event.server_event_created_at, "by_identity": event.sender.id}}
                    text = None
                view["content"] = content
                from boxtui.store.cache import EventRecord

                cache.update_events([EventRecord(view, text=text, file=None if text is None and event.type == "msg.delete" else target.file,
                                                 file_name=None, error=None)])
                return
            if event.type in ACCESS_TYPES:
                return  # not in the server's pages either: the store's run stays in step
            if box_id in self._live:
                newest = cache.ends(box_id)[1]
                try:
                    cache.add_events(box_id, [record_of(entry)], after=newest)
                except StoreError as exc:
                    if isinstance(exc, StoreCorrupted):
                        raise
                    self._live.discard(box_id)  # out of step: the next sync catches up
            stored_box = cache.box(box_id)
            if stored_box is not None:  # the list's row: last event, preview, place
                view = {**stored_box.view, "last_event": event.model_dump(mode="json")}
                cache.update_box(box_id, view=view, preview=entry.summary, activity=event.server_event_created_at)

        self._store_quietly(write)
        return entry

    def mark_removed(self, box_id: str) -> None:
        """This identity was removed from the box (or left): its history stays, read-only."""
        self._live.discard(box_id) if self.local is not None else None
        self._store_quietly(lambda: self.local.cache.update_box(box_id, member=0))

    def forget_box(self, box_id: str) -> None:
        """The box was deleted on the server: its stored history goes too."""
        self._store_quietly(lambda: self.local.cache.forget_box(box_id))

    # --- backfill -----------------------------------------------------------------------

    async def backfill(self, box_id: str, progress: Callable[[int, int], object] | None = None) -> int:
        """Fetch the box's whole older history into the store; returns how many events
        were added. ``progress(stored, total)`` after each page. Safe to interrupt: it
        resumes from the oldest stored event."""
        if self.local is None:
            raise MessengerError("the local store is not open")
        if self.local.cache.ends(box_id)[1] is None:
            await self.catch_up(box_id)
        total = await self.client.events.count(box_id)
        added = 0
        while True:
            oldest, _newest, count = self.local.cache.ends(box_id)
            if progress is not None:
                progress(count, total)
            if oldest is None:
                break
            events = await self.client.events.list(box_id, before=oldest, limit=BACKFILL_PAGE)
            if not events:
                break
            entries = await asyncio.to_thread(lambda: [self.decrypt_event(e) for e in events])
            await asyncio.to_thread(self.local.cache.add_events, box_id, [record_of(e) for e in entries], before=oldest)
            added += len(entries)
            if len(events) < BACKFILL_PAGE:
                break
        self._store_quietly(lambda: self.local.cache.update_box(box_id, complete=1))
        if progress is not None:
            progress(self.local.cache.ends(box_id)[2], total)
        return added

    # --- the outbox -----------------------------------------------------------------------

    def _queue(self, box_id: str, kind: str, body: dict, preview: str, blob: bytes | None = None) -> str:
        if self.local is None:
            raise MessengerError("the local store is not open")
        return self.local.outbox.add(box_id, kind, body, preview, _now(), blob=blob).local_id

    async def _send_now(self, local_id: str) -> EventView:
        """Flush the outbox up to ``local_id``; its event, or :class:`Queued`."""
        await self.flush_outbox()
        assert self.local is not None
        entry = self.local.outbox.get(local_id)
        delivered = self._delivered.pop(local_id, None)
        if delivered is not None and (entry is None or entry.state != "failed"):
            # The server has it: it is sent, whatever this device could write about it
            # (a full disk must not make a sent message look unsent, and be sent twice).
            with contextlib.suppress(StoreError):
                self.local.outbox.forget_sent([delivered.id])
            return delivered
        if entry is None:
            raise MessengerError("the message was discarded")
        if entry.state == "sent" and entry.event_id:
            with contextlib.suppress(StoreError):
                self.local.outbox.forget_sent([entry.event_id])
            return await self.client.events.get(entry.event_id)
        if entry.state == "failed":
            # Refused while the caller waits: the caller hears the server's answer, and
            # the message does not linger as failed in the outbox.
            self.local.outbox.discard(local_id)
            refusal = self._refused.pop(local_id, None)
            if refusal is not None:
                raise refusal
            raise MessengerError(f"the server refused the message: {entry.last_error}")
        if entry.last_error is None:
            raise Queued(local_id, "another boxtui is sending it", elsewhere=True)
        raise Queued(local_id, entry.last_error)

    async def flush_outbox(self) -> int:
        """Send queued messages in order, each exactly once; returns how many went out.

        Stops at the first entry the server cannot be reached for (it stays queued)."""
        if self.local is None:
            return 0
        outbox = self.local.outbox
        sent = 0
        while (item := await asyncio.to_thread(outbox.claim_next)) is not None:
            try:
                event = await self._deliver(item)
            except APIConnectionError as exc:
                outbox.release(item.local_id, f"server unreachable: {exc}")
                self.online = False
                break
            except APIStatusError as exc:
                if exc.status >= 500 or exc.status == 429:
                    outbox.release(item.local_id, f"the server answered {exc.status}")
                    break
                outbox.mark_failed(item.local_id, exc.desc or exc.code)
                self._refused[item.local_id] = exc
                continue
            except (StoreError, MessengerError) as exc:
                outbox.mark_failed(item.local_id, str(exc))
                continue
            self._delivered[item.local_id] = event
            sent += 1
            self.apply_realtime(event)  # appended to a box caught up in this session
            try:
                outbox.mark_sent(item.local_id, event.id)
            except StoreError:
                # The server has it; only the note of that could not be written (the disk
                # is full). The entry stays claimed by this process: the next flush sends
                # it again with the same Idempotency-Key, the server answers with this same
                # event (§10.12, no duplicate), and it is recorded then.
                break
        return sent

    async def _deliver(self, item) -> EventView:
        body = item.body
        if item.kind == "text":
            return await self.client.events.post(
                item.box_id,
                body["type"],
                body["content"],
                referrer_id=body.get("referrer_id"),
                idempotency_key=item.idempotency_key,
            )
        assert self.local is not None
        blob_path = self.local.outbox.blob_dir / f"{item.local_id}.blob"
        if not blob_path.exists():
            raise MessengerError("the file to send is gone from the outbox")
        return await self.client.files.upload(
            item.box_id,
            blob_path,
            msg_encrypted_content=body["msg_encrypted_content"],
            msg_public_key=body["msg_public_key"],
            referrer_id=body.get("referrer_id"),
            progress=getattr(self, "_upload_progress", None),
            idempotency_key=item.idempotency_key,
        )

    def outbox_entries(self) -> list:
        return [] if self.local is None else self.local.outbox.entries()

    def discard_queued(self, local_id: str) -> None:
        if self.local is not None:
            self.local.outbox.discard(local_id)

    def retry_queued(self, local_id: str) -> None:
        if self.local is not None:
            self.local.outbox.retry(local_id)


