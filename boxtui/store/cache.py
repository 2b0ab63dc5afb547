"""``LocalCache``: boxes, memberships and every event seen, decrypted, in one encrypted
SQLite file, with an FTS5 index over message text and file names.

Layout (schema 1)

* ``boxes``: the last box view seen (JSON), its title, the preview line, unread count,
  activity time (the sort key), ``member`` (0 once this identity left or was removed:
  the history stays, read-only), ``synced_last_event`` (the box view's ``last_event``
  id when the last catch-up finished, so an unchanged box costs no request) and
  ``complete`` (1 once the oldest event is stored: the whole history is searchable).
* ``identities``: the sender views, one row per identity (not one copy per event).
* ``events``: one row per event. ``pos`` is the event's place in its box: the stored
  events of a box are always one contiguous run of the server's order (pages are only
  ever added right after the newest or right before the oldest stored one), so ``pos``
  is exact even where two events share a millisecond. The rowid is the event time in
  milliseconds × 1024 (plus a tie breaker), so the full-text index, which walks rowids,
  returns the newest matches first and stops at the limit. ``content`` keeps what the
  view carries besides the ciphertext (``deleted``, ``last_edited_at``, ``is_saved``,
  ``encrypted_file_id``…): the ciphertext itself is not kept, its plaintext is.
* ``events_fts``: FTS5 over ``text``, ``file_name`` and a ``box`` token (so a search in
  one box is an index intersection, not a scan), external content (the ``fts_source``
  view). New events are indexed in one ``INSERT … SELECT`` per page (2.5× faster than
  a trigger per row); updates and deletes are kept in step by triggers.

The cache is rebuildable: nothing here is the only copy of anything (the outbox lives in
its own file). Every method is synchronous and short; bulk writes are one transaction.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import apsw

from .db import open_database, translate_errors, write_transaction
from .errors import StoreError

__all__ = ["BoxListing", "LocalCache", "StoredBox", "StoredEvent", "EventRecord", "SearchHit", "fts_query"]

WHAT = "the local cache"

#: Content keys that hold ciphertext: dropped, the plaintext is kept instead.
SEALED_KEYS = frozenset({"encrypted", "public_key", "new_encrypted", "new_public_key"})

_HIGHLIGHT_START, _HIGHLIGHT_END = "\x02", "\x03"


def _schema_1(conn: apsw.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE boxes(
            id TEXT PRIMARY KEY,
            view TEXT NOT NULL,
            title TEXT NOT NULL,
            preview TEXT NOT NULL DEFAULT '',
            activity TEXT NOT NULL,
            unread INTEGER NOT NULL DEFAULT 0,
            member INTEGER NOT NULL DEFAULT 1,
            synced_last_event TEXT,
            complete INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE INDEX boxes_activity ON boxes(activity DESC);
        CREATE TABLE identities(id TEXT PRIMARY KEY, view TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE events(
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            box_id TEXT NOT NULL,
            pos INTEGER NOT NULL,
            type TEXT NOT NULL,
            time TEXT NOT NULL,
            referrer_id TEXT,
            sender_id TEXT NOT NULL,
            content TEXT,
            extra TEXT,
            text TEXT,
            file TEXT,
            file_name TEXT,
            error TEXT
        );
        CREATE UNIQUE INDEX events_box_pos ON events(box_id, pos);
        CREATE VIEW fts_source(rowid, text, file_name, box) AS
            SELECT rowid, text, file_name, 'b' || replace(box_id, '-', '') FROM events;
        CREATE VIRTUAL TABLE events_fts USING fts5(
            text, file_name, box,
            content='fts_source', content_rowid='rowid',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER events_ad AFTER DELETE ON events
            WHEN old.text IS NOT NULL OR old.file_name IS NOT NULL BEGIN
            INSERT INTO events_fts(events_fts, rowid, text, file_name, box)
            VALUES ('delete', old.rowid, old.text, old.file_name, 'b' || replace(old.box_id, '-', ''));
        END;
        CREATE TRIGGER events_au_old BEFORE UPDATE OF text, file_name ON events
            WHEN old.text IS NOT NULL OR old.file_name IS NOT NULL BEGIN
            INSERT INTO events_fts(events_fts, rowid, text, file_name, box)
            VALUES ('delete', old.rowid, old.text, old.file_name, 'b' || replace(old.box_id, '-', ''));
        END;
        CREATE TRIGGER events_au_new AFTER UPDATE OF text, file_name ON events
            WHEN new.text IS NOT NULL OR new.file_name IS NOT NULL BEGIN
            INSERT INTO events_fts(rowid, text, file_name, box)
            VALUES (new.rowid, new.text, new.file_name, 'b' || replace(new.box_id, '-', ''));
        END;
        """
    )


MIGRATIONS = [_schema_1]


@dataclass(frozen=True)
class EventRecord:
    """An event to store: its view (as the server sent it) and what this device opened."""

    view: dict[str, Any]
    text: str | None = None
    #: The decrypted file metadata (its JSON), for a ``msg.file``.
    file: str | None = None
    file_name: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    """A stored event: :meth:`view` rebuilds the event view (without ciphertext)."""

    id: str
    box_id: str
    pos: int
    type: str
    time: str
    referrer_id: str | None
    sender: dict[str, Any]
    content: dict[str, Any] | None
    extra: dict[str, Any] | None
    text: str | None
    file: str | None
    error: str | None

    def view(self) -> dict[str, Any]:
        view = {
            "id": self.id,
            "type": self.type,
            "box_id": self.box_id,
            "server_event_created_at": self.time,
            "referrer_id": self.referrer_id,
            "sender": self.sender,
            "content": self.content,
        }
        if self.extra is not None:
            view["extra"] = self.extra
        return view


@dataclass(frozen=True)
class StoredBox:
    id: str
    view: dict[str, Any]
    title: str
    preview: str
    activity: str
    unread: int
    member: bool
    synced_last_event: str | None
    complete: bool


@dataclass(frozen=True)
class BoxListing:
    """What the box list paints of a stored box, read without parsing its view: the
    view stays JSON text (``view_json``) until something needs the box itself."""

    id: str
    title: str
    preview: str
    activity: str
    unread: int
    lifecycle: str | None
    #: Type and sender name of the box's last event (None without one).
    last_type: str | None
    last_sender: str | None
    view_json: str


@dataclass(frozen=True)
class SearchHit:
    """A search result: the event, its box's title, and a snippet whose matches are
    wrapped in ``\\x02`` … ``\\x03`` (:func:`split_snippet` cuts it for display)."""

    event: StoredEvent
    box_title: str
    snippet: str


def split_snippet(snippet: str) -> list[tuple[str, bool]]:
    """``[(text, is_match), …]`` of a :class:`SearchHit` snippet."""
    parts: list[tuple[str, bool]] = []
    for chunk in snippet.split(_HIGHLIGHT_START):
        match, _, rest = chunk.partition(_HIGHLIGHT_END) if _HIGHLIGHT_END in chunk else ("", "", chunk)
        if match:
            parts.append((match, True))
        if rest:
            parts.append((rest, False))
    return parts


_WORD = re.compile(r"\w+", re.UNICODE)


def _fold(text: str) -> str:
    """Lower case without accents, one character for one (as the index folds them)."""
    return "".join(
        (unicodedata.normalize("NFKD", c)[0] if unicodedata.combining(unicodedata.normalize("NFKD", c)[-1]) else c)
        for c in text.casefold()
    ) if not text.isascii() else text.lower()


def make_snippet(text: str, words: Sequence[str], context: int = 12) -> str:
    """About ``2 × context`` words of ``text`` around the first match, every match of
    ``words`` (the last as a prefix) wrapped in ``\x02`` … ``\x03``."""
    if not words:
        return text
    folded_words = [_fold(w) for w in words]
    tokens = list(_WORD.finditer(text))
    if len(_fold(text)) != len(text):  # folding changed the length: match word by word
        pass
    marks = []
    for index, token in enumerate(tokens):
        folded = _fold(token.group())
        if any(folded == w for w in folded_words[:-1]) or folded.startswith(folded_words[-1]) or folded in folded_words:
            marks.append(index)
    if not marks:
        start_token, end_token = 0, min(len(tokens), 2 * context)
    else:
        start_token = max(0, marks[0] - context // 2)
        end_token = min(len(tokens), start_token + 2 * context)
    if not tokens:
        return text[:200]
    begin = tokens[start_token].start() if start_token else 0
    end = tokens[end_token - 1].end() if end_token < len(tokens) else len(text)
    out, cursor = [], begin
    for index in marks:
        if start_token <= index < end_token:
            token = tokens[index]
            out.append(text[cursor : token.start()])
            out.append(_HIGHLIGHT_START + token.group() + _HIGHLIGHT_END)
            cursor = token.end()
    out.append(text[cursor:end])
    snippet = "".join(out)
    return ("…" if begin > 0 else "") + snippet + ("…" if end < len(text) else "")


def fts_query(text: str) -> str | None:
    """The FTS5 query for what a user typed: every word must occur (any order), the
    last one as a prefix (search as you type). None when there is no word at all.
    Quoting each word makes FTS5 operators and punctuation plain text."""
    words = _WORD.findall(text)
    if not words:
        return None
    terms = [f'"{word}"' for word in words]
    terms[-1] += "*"
    return " AND ".join(terms)


def _index(conn: apsw.Connection, rowids: list[int]) -> None:
    """Add new events to the full-text index in one statement."""
    if rowids:
        conn.execute(
            "INSERT INTO events_fts(rowid, text, file_name, box) SELECT rowid, text, file_name, box"
            " FROM fts_source WHERE rowid IN (SELECT value FROM json_each(?))"
            " AND (text IS NOT NULL OR file_name IS NOT NULL)",
            (json.dumps(rowids),),
        )


def _rowid_base(time: str) -> int:
    try:
        moment = datetime.fromisoformat(time.replace("Z", "+00:00"))
        return int(moment.timestamp() * 1000) * 1024
    except (ValueError, OverflowError):
        return 0


def _split_view(view: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """(sender, content residue JSON, extra JSON) of an event view."""
    content = view.get("content")
    if isinstance(content, dict):
        residue = {k: v for k, v in content.items() if k not in SEALED_KEYS}
        content_json = json.dumps(residue, separators=(",", ":")) if residue or not content else "{}"
    else:
        content_json = None
    extra = view.get("extra")
    return view.get("sender") or {}, content_json, None if extra is None else json.dumps(extra, separators=(",", ":"))


class LocalCache:
    """The cache of one profile; build it with :meth:`open`. Thread safe (one lock)."""

    def __init__(self, conn: apsw.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._identities: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, path: Path, keys: Sequence[bytes]) -> LocalCache:
        return cls(open_database(Path(path), keys, MIGRATIONS, WHAT), Path(path))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"LocalCache({str(self.path)!r})"

    # --- plumbing -----------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
        with self._lock, translate_errors(WHAT):
            return self._conn.execute(sql, params).fetchall()

    def _write(self, fn, *args):
        """Run ``fn(conn, *args)`` in one IMMEDIATE transaction (all or nothing)."""
        with self._lock, translate_errors(WHAT):
            return write_transaction(self._conn, fn, *args)

    # --- meta -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        def write(conn: apsw.Connection) -> None:
            if value is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

        self._write(write)

    # --- boxes ----------------------------------------------------------------------

    def save_boxes(self, boxes: Iterable[dict[str, Any]], *, complete_list: bool = False) -> list[str]:
        """Store box rows ``{id, view, title, preview, activity, unread}`` as members.

        With ``complete_list`` (the whole joined list), every other stored box is
        marked as no longer joined; its history stays. Returns the ids so marked.
        """
        rows = list(boxes)

        def write(conn: apsw.Connection) -> list[str]:
            for row in rows:
                conn.execute(
                    """
                    INSERT INTO boxes(id, view, title, preview, activity, unread, member)
                    VALUES (:id, :view, :title, :preview, :activity, :unread, 1)
                    ON CONFLICT(id) DO UPDATE SET view = excluded.view, title = excluded.title,
                        preview = excluded.preview, activity = excluded.activity,
                        unread = excluded.unread, member = 1
                    """,
                    {**row, "view": json.dumps(row["view"], separators=(",", ":"))},
                )
            if not complete_list:
                return []
            joined = {row["id"] for row in rows}
            gone = [r[0] for r in conn.execute("SELECT id FROM boxes WHERE member = 1") if r[0] not in joined]
            for box_id in gone:
                conn.execute("UPDATE boxes SET member = 0 WHERE id = ?", (box_id,))
            return gone

        return self._write(write)

    def update_box(self, box_id: str, **fields: Any) -> None:
        """Change some columns of a stored box (``preview``, ``unread``, ``member``…)."""
        allowed = {"view", "title", "preview", "activity", "unread", "member", "synced_last_event", "complete"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        if "view" in fields:
            fields["view"] = json.dumps(fields["view"], separators=(",", ":"))
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        self._write(lambda conn: conn.execute(f"UPDATE boxes SET {assignments} WHERE id = :id", {**fields, "id": box_id}))

    def forget_box(self, box_id: str) -> None:
        """Remove a box and its events (the box was deleted on the server)."""

        def write(conn: apsw.Connection) -> None:
            conn.execute("DELETE FROM events WHERE box_id = ?", (box_id,))
            conn.execute("DELETE FROM boxes WHERE id = ?", (box_id,))

        self._write(write)

    def boxes(self, *, members_only: bool = False) -> list[StoredBox]:
        """Stored boxes, most recent activity first."""
        where = "WHERE member = 1" if members_only else ""
        return [
            _box(row)
            for row in self._rows(
                "SELECT id, view, title, preview, activity, unread, member, synced_last_event, complete "
                f"FROM boxes {where} ORDER BY activity DESC, id"
            )
        ]

    def box_listing(self) -> list[BoxListing]:
        """The boxes you are in, most recent activity first, as the box list shows
        them: the few fields of the view it needs are read by SQLite (1,000 boxes in a
        few ms; parsing every view, then validating it, took ~100 ms)."""
        return [
            BoxListing(*row)
            for row in self._rows(
                "SELECT id, title, preview, activity, unread, view ->> '$.lifecycle', view ->> '$.last_event.type',"
                " view ->> '$.last_event.sender.display_name', view FROM boxes WHERE member = 1 ORDER BY activity DESC, id"
            )
        ]

    def box(self, box_id: str) -> StoredBox | None:
        rows = self._rows(
            "SELECT id, view, title, preview, activity, unread, member, synced_last_event, complete FROM boxes WHERE id = ?",
            (box_id,),
        )
        return _box(rows[0]) if rows else None

    # --- events: writing --------------------------------------------------------------

    def add_events(
        self, box_id: str, records: Sequence[EventRecord], *, after: str | None = None, before: str | None = None
    ) -> int:
        """Store a page of the box, oldest first, fetched ``after`` or ``before`` an
        event id (or, with neither, the newest page of a box with nothing stored).

        Known events are refreshed (an edit or a deletion folded into them), new ones
        take their place in the run. A page that would leave a gap (its anchor is not
        stored, or a tail page for a box that has events) is refused with
        :class:`StoreError`: the caller pages from the stored end instead. Returns the
        number of events that were new.
        """
        if after is not None and before is not None:
            raise ValueError("after or before, not both")
        records = list(records)

        def write(conn: apsw.Connection) -> int:
            stored = conn.execute("SELECT min(pos), max(pos), count(*) FROM events WHERE box_id = ?", (box_id,)).fetchall()[0]
            low, high, count = stored
            anchor = after or before
            if anchor is None:
                if count:
                    known = self._first_known(conn, box_id, records)
                    if known is None:
                        raise StoreError("this page does not meet the stored events of the box")
                    index, pos = known
                    start = pos - index
                else:
                    start = 0
            else:
                rows = conn.execute("SELECT pos FROM events WHERE id = ? AND box_id = ?", (anchor, box_id)).fetchall()
                if not rows:
                    if count:
                        raise StoreError("the page's anchor event is not stored")
                    start = 0 if after is not None else -len(records)
                else:
                    start = rows[0][0] + 1 if after is not None else rows[0][0] - len(records)
            added = [
                rowid
                for offset, record in enumerate(records)
                if (rowid := self._put(conn, box_id, start + offset, record)) is not None
            ]
            _index(conn, added)
            return len(added)

        return self._write(write)

    @staticmethod
    def _first_known(conn: apsw.Connection, box_id: str, records: Sequence[EventRecord]) -> tuple[int, int] | None:
        for index, record in enumerate(records):
            rows = conn.execute("SELECT pos FROM events WHERE id = ? AND box_id = ?", (record.view["id"], box_id)).fetchall()
            if rows:
                return index, rows[0][0]
        return None

    def _put(self, conn: apsw.Connection, box_id: str, pos: int, record: EventRecord) -> int | None:
        """Insert the event at ``pos`` (returns its rowid, to index) or refresh it."""
        view = record.view
        sender, content, extra = _split_view(view)
        sender_id = str(sender.get("id", ""))
        self._remember_identity(conn, sender_id, sender)
        values = (
            view["type"],
            view.get("referrer_id"),
            sender_id,
            content,
            extra,
            record.text,
            record.file,
            record.file_name,
            record.error,
            view["id"],
        )
        conn.execute(
            "UPDATE events SET type = ?, referrer_id = ?, sender_id = ?, content = ?, extra = ?, text = ?,"
            " file = ?, file_name = ?, error = ? WHERE id = ?",
            values,
        )
        if conn.changes():
            return None
        base = _rowid_base(view["server_event_created_at"])
        try:
            # rowid: the first free one in the event's millisecond (spilling after the
            # newest when a millisecond holds more than 1024 events).
            return conn.execute(
                """INSERT INTO events(rowid, box_id, pos, time, type, referrer_id, sender_id, content, extra,
                                      text, file, file_name, error, id)
                   SELECT CASE WHEN m IS NULL THEN ?1 WHEN m < ?1 + 1023 THEN m + 1
                               ELSE (SELECT max(rowid) + 1 FROM events) END,
                          ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
                   FROM (SELECT max(rowid) AS m FROM events WHERE rowid BETWEEN ?1 AND ?1 + 1023)
                   RETURNING rowid""",
                (base, box_id, pos, view["server_event_created_at"], *values),
            ).fetchall()[0][0]
        except apsw.ConstraintError:
            raise StoreError("stored events of this box are out of step with the server; rebuilding it") from None

    def _remember_identity(self, conn: apsw.Connection, identity_id: str, view: dict[str, Any]) -> None:
        if not identity_id or self._identities.get(identity_id) == view:
            return
        conn.execute(
            "INSERT OR REPLACE INTO identities(id, view) VALUES (?, ?)", (identity_id, json.dumps(view, separators=(",", ":")))
        )
        self._identities[identity_id] = view

    def update_events(self, records: Sequence[EventRecord]) -> int:
        """Refresh events already stored (an edit, a deletion, a revalidated page);
        unknown ones are ignored. Returns how many were stored."""
        records = list(records)

        def write(conn: apsw.Connection) -> int:
            done = 0
            for record in records:
                rows = conn.execute("SELECT box_id, pos FROM events WHERE id = ?", (record.view["id"],)).fetchall()
                if rows:
                    self._put(conn, rows[0][0], rows[0][1], record)  # an update: the triggers index it
                    done += 1
            return done

        return self._write(write)

    def drop_events(self, box_id: str) -> None:
        """Forget a box's stored events (it is then fetched afresh)."""

        def write(conn: apsw.Connection) -> None:
            conn.execute("DELETE FROM events WHERE box_id = ?", (box_id,))
            conn.execute("UPDATE boxes SET synced_last_event = NULL, complete = 0 WHERE id = ?", (box_id,))

        self._write(write)

    # --- events: reading --------------------------------------------------------------

    _EVENT_COLUMNS = "e.id, e.box_id, e.pos, e.type, e.time, e.referrer_id, e.sender_id, e.content, e.extra, e.text, e.file, e.error"

    def _events(self, sql: str, params: Sequence[Any]) -> list[StoredEvent]:
        rows = self._rows(sql, params)
        return [self._event(row) for row in rows]

    def _event(self, row: tuple) -> StoredEvent:
        event_id, box_id, pos, type_, time, referrer, sender_id, content, extra, text, file, error = row
        return StoredEvent(
            id=event_id,
            box_id=box_id,
            pos=pos,
            type=type_,
            time=time,
            referrer_id=referrer,
            sender=self._identity(sender_id),
            content=None if content is None else json.loads(content),
            extra=None if extra is None else json.loads(extra),
            text=text,
            file=file,
            error=error,
        )

    def _identity(self, identity_id: str) -> dict[str, Any]:
        view = self._identities.get(identity_id)
        if view is None:
            rows = self._rows("SELECT view FROM identities WHERE id = ?", (identity_id,))
            view = json.loads(rows[0][0]) if rows else {"id": identity_id, "display_name": ""}
            self._identities[identity_id] = view
        return view

    def page(self, box_id: str, *, before: str | None = None, after: str | None = None, limit: int = 100) -> list[StoredEvent]:
        """Stored events of a box, oldest first: the newest ``limit``, or those right
        before or after an event id (empty when that event is not stored)."""
        cols = self._EVENT_COLUMNS
        if before is not None:
            sql = (
                f"SELECT {cols} FROM events e WHERE e.box_id = ? AND e.pos < "
                "(SELECT pos FROM events WHERE id = ? AND box_id = ?) ORDER BY e.pos DESC LIMIT ?"
            )
            events = self._events(sql, (box_id, before, box_id, limit))
        elif after is not None:
            sql = (
                f"SELECT {cols} FROM events e WHERE e.box_id = ? AND e.pos > "
                "(SELECT pos FROM events WHERE id = ? AND box_id = ?) ORDER BY e.pos LIMIT ?"
            )
            return self._events(sql, (box_id, after, box_id, limit))
        else:
            events = self._events(f"SELECT {cols} FROM events e WHERE e.box_id = ? ORDER BY e.pos DESC LIMIT ?", (box_id, limit))
        events.reverse()
        return events

    def around(self, event_id: str, limit: int = 100) -> list[StoredEvent]:
        """A page of stored events centred on ``event_id`` (for a search jump)."""
        rows = self._rows("SELECT box_id, pos FROM events WHERE id = ?", (event_id,))
        if not rows:
            return []
        box_id, pos = rows[0]
        half = limit // 2
        return self._events(
            f"SELECT {self._EVENT_COLUMNS} FROM events e WHERE e.box_id = ? AND e.pos BETWEEN ? AND ? ORDER BY e.pos",
            (box_id, pos - half, pos + (limit - half - 1)),
        )

    def event(self, event_id: str) -> StoredEvent | None:
        events = self._events(f"SELECT {self._EVENT_COLUMNS} FROM events e WHERE e.id = ?", (event_id,))
        return events[0] if events else None

    def ends(self, box_id: str) -> tuple[str | None, str | None, int]:
        """(oldest stored id, newest stored id, count) of a box."""
        rows = self._rows(
            "SELECT (SELECT id FROM events WHERE box_id = ?1 ORDER BY pos LIMIT 1),"
            " (SELECT id FROM events WHERE box_id = ?1 ORDER BY pos DESC LIMIT 1),"
            " (SELECT count(*) FROM events WHERE box_id = ?1)",
            (box_id,),
        )
        return rows[0]

    # --- search -----------------------------------------------------------------------

    def search(self, text: str, *, box_id: str | None = None, limit: int = 50) -> list[SearchHit]:
        """Messages whose text or file name has every word of ``text``, newest first."""
        query = fts_query(text)
        if query is None:
            return []
        if box_id is not None:
            query = f'box : "b{box_id.replace("-", "")}" AND ({query})'
        # The index alone picks the rows (newest first, stopping at the limit): FTS5's
        # snippet() would re-read and re-tokenize every row through the content view,
        # 50× slower at a million messages; the snippet is cut here instead.
        rowids = [r[0] for r in self._rows(
            "SELECT rowid FROM events_fts WHERE events_fts MATCH ? ORDER BY rowid DESC LIMIT ?", (query, limit)
        )]  # fmt: skip
        if not rowids:
            return []
        rows = self._rows(
            f"SELECT {self._EVENT_COLUMNS}, b.title, e.file_name, e.rowid FROM events e LEFT JOIN boxes b ON b.id = e.box_id"
            " WHERE e.rowid IN (SELECT value FROM json_each(?)) ORDER BY e.rowid DESC",
            (json.dumps(rowids),),
        )
        words = _WORD.findall(text)
        return [
            SearchHit(self._event(row[:12]), row[12] or "", make_snippet(row[9] or row[13] or "", words))
            for row in rows
        ]

    # --- figures ----------------------------------------------------------------------

    def probe(self) -> None:
        """Read the schema and the first and last pages of every table and index: a
        wrong key or a damaged file shows here (as :class:`StoreCorrupted`) in a few
        milliseconds however large the store. (Counting the events, as this used to,
        read all of a 1M-event store: 1.9 s at every unlock.) Damage deeper in is met
        when that page is read, and handled there (``LocalStore.rebuild_cache``)."""
        self._rows(
            "SELECT (SELECT count(*) FROM sqlite_schema), (SELECT count(*) FROM meta),"
            " (SELECT id FROM boxes ORDER BY id LIMIT 1), (SELECT id FROM boxes ORDER BY id DESC LIMIT 1),"
            " (SELECT activity FROM boxes ORDER BY activity DESC LIMIT 1),"
            " (SELECT id FROM identities LIMIT 1),"
            " (SELECT id FROM events ORDER BY rowid LIMIT 1), (SELECT id FROM events ORDER BY rowid DESC LIMIT 1),"
            " (SELECT id FROM events ORDER BY id LIMIT 1), (SELECT pos FROM events ORDER BY box_id, pos LIMIT 1)"
        )

    def counts(self) -> dict[str, int]:
        rows = self._rows(
            "SELECT (SELECT count(*) FROM boxes), (SELECT count(*) FROM boxes WHERE member = 0),"
            " (SELECT count(*) FROM events), (SELECT count(*) FROM events WHERE text IS NOT NULL OR file IS NOT NULL)"
        )
        boxes, removed, events, messages = rows[0]
        return {"boxes": boxes, "boxes_left": removed, "events": events, "messages": messages}


def _box(row: tuple) -> StoredBox:
    box_id, view, title, preview, activity, unread, member, synced, complete = row
    return StoredBox(box_id, json.loads(view), title, preview, activity, unread, bool(member), synced, bool(complete))
