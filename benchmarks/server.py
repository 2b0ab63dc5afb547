"""How fast ``boxtui serve`` is, beside a bare FastAPI endpoint measured in the same run.

Setup, once per machine (not part of CI): the load generator is ``wrk`` from Debian's
packages, and the script says so in its output::

    apt-get install -y wrk          # Debian/Ubuntu; the script stops with this hint without it
    python -m venv .venv && .venv/bin/pip install -e '.[test]'
    .venv/bin/python benchmarks/server.py                  # full run, SQLite and PostgreSQL
    .venv/bin/python benchmarks/server.py --quick --db sqlite --only post,reads

What it does, in one run:

1. builds the data set once and caches it (SQLite file / PostgreSQL template database
   under ``~/.cache/boxtui/server-bench``, keyed by the migrations): 1,200 identities
   with bearer sessions, a 64-member "hot" box, 8 "mixed" boxes of 2,000 events, 20
   "soak" boxes of 10 members, a box of 10k and a box of 1M events (interleaved, as on a
   real server), and a 1,000-member box for fan-out. Rows are written straight into the
   schema of the *first* migration (executemany on SQLite, ``COPY`` on PostgreSQL) and
   the server's own migrations then bring them to head, so a later migration that adds
   a maintained counter must backfill it, exactly as it must for a real deployment
   (``BOXTUI_BENCH_PG_CACHE_PREFIX`` names the PostgreSQL cache differently, so runs of
   two checkouts at once do not drop each other's);
2. copies it for the run (a temp file / ``CREATE DATABASE … TEMPLATE``; the copy is
   dropped at the end), starts ``boxtui serve`` on it and a bare FastAPI app
   (``--bare-server``) that parses the same JSON and answers 201, both through
   ``uvicorn.run`` with the arguments ``boxtui serve`` uses;
3. drives both with the same ``wrk`` Lua scripts (bearer headers, a fresh
   ``Idempotency-Key`` per POST) and prints req/s, p50, p99, server CPU per request
   (utime+stime of the server's process tree from ``/proc``; on PostgreSQL also the
   database backends' CPU) and the ratio to the bare endpoint: ``msg.text`` POST at 16
   and 64 clients into one box, the newest page (``tail=true&limit=100``, 16 clients),
   and a mixed load: 8 readers pacing 250 ms between requests alone ("idle"), then
   with one writer per box pacing alike (two ``wrk`` at once); the newest-page target
   compares the readers' p99 in the two, and needs the readers alone to be served;
4. read latency at 10k vs 1M events for every query the client issues (tail page,
   ``before=``/``after=`` cursors, HEAD count, ``ids=``; plus a deep ``offset`` page),
   10k and 1M interleaved so they share prepared statements, the first 5 executions
   against those after 100 (a PostgreSQL generic plan shows up there);
5. fan-out: 1,000 websocket subscribers (permessage-deflate offered, as boxtui's client
   does), spread over ``--fanout-receivers`` client processes (default 2) that read
   plain sockets from one ``epoll`` loop each; time from the POST leaving to each
   socket's frame, taken as the kernel's receive timestamp on the receiving socket
   (``SO_TIMESTAMPNS``: the server's delivery, whatever the receivers' own delay) and
   as the time the receiver read it; the receivers' CPU per post is printed beside the
   server's. One process, and on PostgreSQL two processes sharing it and Redis; the
   bare app's broadcast is the floor;
6. 200 clients posting and listing for 60 s (errors, p99): listing a box's events (the
   newest page), then again listing their boxes (``GET /boxes/joined``);
7. ``--workers`` 1 → 2, one box and 16 boxes, beside the bare app in the same
   1 and 2 worker processes with the same ``wrk`` rows (what a second process can add on
   this machine at all: ``wrk`` and the kernel share its cores), and beside the bare app
   writing one durable row per post to a table of the same database, group-committed
   (``bare+sqlite``, ``bare+postgres``: what a second process can add to any server that
   commits each post before answering, the database sharing the cores too);
8. in-process (the real app under uvicorn in this process, SQLAlchemy event hooks):
   SQL statements per request, whether HEAD runs ``COUNT``, and JSON encodings per
   socket when an event fans out;
9. peak RSS, and every target of issue 8 next to its figure with met / not met.

Figures only, no asserts. ``--py-spy DIR`` records each boxtui row with py-spy (raw
collapsed stacks; figures are then perturbed). The full run takes about 10 minutes on
2 cores once the data set is cached (building it: a few minutes more, once).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

BENCH_DATA_VERSION = 1  # bump when the data set's shape changes
ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "boxtui" / "server-bench"
PG_ADMIN_DSN = os.environ.get("BOXTUI_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BOXTUI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_CACHE_PREFIX = os.environ.get("BOXTUI_BENCH_PG_CACHE_PREFIX", "boxtui_bench_cache_")  # another prefix keeps runs of different checkouts from dropping each other's cache

N_USERS = 200  # load users: hot box, mixed boxes, soak boxes
HOT_MEMBERS = 64
MIXED_BOXES, MIXED_MEMBERS, MIXED_EVENTS = 8, 8, 2_000
SOAK_BOXES, SOAK_MEMBERS, SOAK_EVENTS = 20, 10, 200
HOT_EVENTS = 1_000
FANOUT_MEMBERS, FANOUT_EVENTS = 1_000, 100
SMALL_BIG = (10_000, 1_000_000)
PAGE = 100  # the TUI's page size
IDS_PER_LOOKUP = 20
READERS = 16  # reader connections in the newest-page and mixed rows

TARGETS = {
    "post_share_of_bare": 0.20,
    "post_cpu_ms": 1.0,
    "post_p99_ms": 50.0,
    "pg_vs_sqlite": 1.5,
    "workers_scaling": 1.5,
    "mixed_read_p99_vs_idle": 2.0,
    "big_vs_small": 1.5,
    "fanout_p99_ms_one": 100.0,
    "fanout_p99_ms_two": 200.0,
    "soak_p99_ms": 1000.0,
}


# ============================================================================ utilities


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 8642:
            return port


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def tree_pids(root: int) -> list[int]:
    """``root`` and its live descendants (uvicorn workers, multiprocessing children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def peak_rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def say(text: str = "") -> None:
    print(text, flush=True)


# ============================================================================ bare endpoint


def bare_event_view(box_id: str, content: Any, index: int = 0) -> dict[str, Any]:
    """An event view of the size and shape ``boxtui serve`` answers with."""
    return {
        "id": str(uuid.UUID(int=index + 1, version=4)),
        "type": "msg.text",
        "box_id": box_id,
        "server_event_created_at": "2026-11-24T10:00:00.123456Z",
        "referrer_id": None,
        "sender": {
            "id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            "display_name": "Bench user 7",
            "avatar_url": None,
            "identifier_value": "",
            "identifier_kind": "",
        },
        "content": content,
    }


def bare_box_view(box_id: str, last_event: dict[str, Any]) -> dict[str, Any]:
    """A box view of the size and shape ``GET /boxes/joined`` answers with."""
    return {
        "id": box_id,
        "server_created_at": "2026-11-24T09:00:00.123456Z",
        "public_key": "z" * 43,
        "title": "Soak box",
        "lifecycle": "open",
        "access_mode": "limited",
        "creator": last_event["sender"],
        "last_event": last_event,
        "events_count": 3,
    }


#: Set by the bench for the bare app's "+ one durable row per post" floor:
#: ``sqlite:<path>`` or ``postgres:<libpq DSN>`` (:class:`DurableRows`).
BARE_WRITE_ENV = "BOXTUI_BENCH_BARE_WRITE"
FLOOR_TABLE = "bench_floor_events"
FLOOR_SCHEMA = f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, box_id TEXT NOT NULL, body TEXT NOT NULL)"
FLOOR_SCHEMA_PG = f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} (n bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE, box_id text NOT NULL, body text NOT NULL)"


class DurableRows:
    """The least a server that commits every post before answering must do: one row per
    post (a fresh UUID v4 id under a unique index, the box, the answer) in a table of its
    own, written by the posts that arrived while the previous transaction ran in one
    transaction of their own (group commit, as boxtui's fast path does) and answered
    once it has committed. Nothing else: no session, no membership, no idempotency
    record, no counters, no realtime. With ``--workers`` it is the floor
    :func:`workers_scaling` is read against, on each database.

    SQLite: ``sqlite3`` inline on the event loop (WAL, ``synchronous=NORMAL``, as
    boxtui's), ``BEGIN IMMEDIATE`` waiting in SQLite's busy handler while another process
    writes. PostgreSQL: an ``asyncpg`` connection, one ``INSERT … SELECT unnest(…)`` per
    transaction.
    """

    def __init__(self, spec: str) -> None:
        self.kind, _, self.where = spec.partition(":")
        self.pending: list[tuple[tuple[str, str, str], asyncio.Future]] = []
        self.running = False
        self.conn: Any = None

    async def add(self, box_id: str, body: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self.pending.append(((str(uuid.uuid4()), box_id, body), future))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._commits())
        await future

    async def _commits(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    await self._write([row for row, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting request gets it
                    for _, future in batch:
                        future.set_exception(exc)
                else:
                    for _, future in batch:
                        future.set_result(None)
                await asyncio.sleep(0)
        finally:
            self.running = False

    async def _write(self, rows: list[tuple[str, str, str]]) -> None:
        if self.kind == "sqlite":
            import sqlite3

            if self.conn is None:
                self.conn = sqlite3.connect(self.where, timeout=30, isolation_level=None, check_same_thread=False)
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
                    self.conn.execute(f"PRAGMA {pragma}").close()
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(f"INSERT INTO {FLOOR_TABLE} (id, box_id, body) VALUES (?, ?, ?)", rows)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        else:
            import asyncpg

            if self.conn is None:
                self.conn = await asyncpg.connect(self.where)
            await self.conn.execute(f"INSERT INTO {FLOOR_TABLE} (id, box_id, body) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])",
                                    [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])  # fmt: skip


def make_bare_app():
    """FastAPI with the real routes' shapes and annotations, and no work behind them.

    ``POST /boxes/{id}/events`` reads and parses the JSON body and answers 201 with an
    event view (broadcast, serialised once, to any connected socket); ``GET`` answers a
    page of 100 views held in memory; the websocket accepts anyone. With
    ``BOXTUI_BENCH_BARE_WRITE`` set, a POST also writes its row (:class:`DurableRows`)
    before it is answered.
    """
    app = FastAPI()
    rows = DurableRows(os.environ[BARE_WRITE_ENV]) if os.environ.get(BARE_WRITE_ENV) else None
    queues: set[asyncio.Queue[str]] = set()
    sample = {"encrypted": "x" * 330, "public_key": "y" * 43}
    page = [bare_event_view("0b1ea4f3-8e44-4b5c-9a11-d5e3a1c7a001", sample, i) for i in range(PAGE)]
    boxes = [bare_box_view(str(uuid.UUID(int=i + 1, version=4)), page[i]) for i in range(3)]  # a soak user's boxes

    @app.post("/boxes/{box_id}/events", status_code=201)
    async def post_event(box_id: str, request: Request) -> dict[str, Any]:
        body = json.loads(await request.body())
        view = bare_event_view(box_id, body.get("content"), random.getrandbits(48))
        if rows is not None:
            await rows.add(box_id, json.dumps(view, separators=(",", ":")))
        if queues:
            text = json.dumps({"type": "event.new", "object": view}, separators=(",", ":"))
            for queue in queues:
                queue.put_nowait(text)
        return view

    @app.get("/boxes/{box_id}/events")
    async def list_events(box_id: str) -> list[dict[str, Any]]:
        return page

    @app.get("/boxes/joined")
    async def list_boxes() -> list[dict[str, Any]]:
        return boxes

    @app.websocket("/box-users/{identity_id}/ws")
    async def realtime(websocket: WebSocket, identity_id: str) -> None:
        await websocket.accept()
        queue: asyncio.Queue[str] = asyncio.Queue()
        queues.add(queue)

        async def send() -> None:
            while True:
                await websocket.send_text(await queue.get())

        sender = asyncio.create_task(send())
        try:
            while True:
                await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            queues.discard(queue)
            sender.cancel()

    return app


def run_bare_server(port: int, log_level: str, workers: int = 1) -> None:
    """The bare app through ``boxtui serve``'s own ``serve()``, so uvicorn gets exactly
    the arguments the real server gets (protocol class, timeouts, websocket limits…).

    With ``workers`` > 1, the worker processes of ``boxtui serve --workers``
    (:func:`boxtui.server.serve.run_workers`: uvicorn's supervisor, each worker on its
    own ``SO_REUSEPORT`` socket; each imports this file and calls :func:`make_bare_app`):
    the floor that ``--workers`` scaling is read against."""
    import boxtui.server.serve as serve_module
    from boxtui.server.settings import ServerSettings

    settings = ServerSettings(host="127.0.0.1", port=port)
    if workers > 1:
        import uvicorn

        sys.path.insert(0, str(Path(__file__).resolve().parent))  # (uvicorn.run's app_dir)
        config = uvicorn.Config(f"{Path(__file__).stem}:make_bare_app", factory=True, workers=workers,
                                http=serve_module.TimedHttpToolsProtocol, **serve_module._uvicorn_options(settings, log_level))  # fmt: skip
        serve_module.run_workers(config)
        return
    serve_module.create_app = lambda settings: make_bare_app()
    serve_module.serve(settings, log_level=log_level)


# ============================================================================ data set


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclasses.dataclass
class Dataset:
    tokens: dict[str, str]
    hot_box: str
    hot_members: list[str]
    mixed: list[dict[str, Any]]  # {"box", "writer", "readers"}
    soak: list[dict[str, Any]]  # {"box", "members"}
    big: dict[str, dict[str, Any]]  # "10k"/"1M" → {"box", "reader", "visible", "middle", "near_end", "ids"}
    fanout_box: str
    fanout_members: list[str]
    body: str  # a real msg.text POST body

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Dataset:
        return cls(**json.loads(path.read_text()))


def size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


class _Rows:
    """Rows for the first migration's schema, generated in order (``seq`` ascending)."""

    def __init__(self, small: int, big: int) -> None:
        from nacl.public import PrivateKey

        from boxtui.core.encoding import b64u_encode
        from boxtui.crypto.cryptogram import seal_text

        self.rng = random.Random(20261124)
        rng = self.rng
        self.now = datetime.now(timezone.utc).replace(microsecond=0)
        self.identities: list[tuple] = []
        self.sessions: list[tuple] = []
        self.boxes: dict[str, dict[str, Any]] = {}
        self.memberships: list[tuple] = []
        self.tokens: dict[str, str] = {}
        self.seq = 0
        self.small, self.big = small, big
        total = small + big + MIXED_BOXES * MIXED_EVENTS + SOAK_BOXES * SOAK_EVENTS + HOT_EVENTS + FANOUT_EVENTS + 5000
        self.start = self.now - timedelta(seconds=5 * total)
        words = "box key share link file meeting draft plan note reply edit later today morning team".split()
        self._texts = [" ".join(rng.choice(words) for _ in range(rng.choice((2, 5, 9, 20, 40)))) for _ in range(12)]
        self._seal, self._b64u, self._key = seal_text, b64u_encode, PrivateKey.generate
        self.users = [self._identity(f"bench-{i}@example.org", f"Bench user {i}") for i in range(N_USERS)]
        self.fans = [self._identity(f"fan-{i}@example.org", f"Fan {i}") for i in range(FANOUT_MEMBERS)]
        self.visible: dict[str, list[str]] = {}
        self.body = ""

    def _identity(self, email: str, name: str) -> str:
        identity_id = _uuid(self.rng)
        token = f"bench-{self.rng.getrandbits(96):024x}"
        self.identities.append((identity_id, email, name, None, None, None, self.now - timedelta(days=400)))
        self.sessions.append(
            (_uuid(self.rng), hashlib.sha256(token.encode()).hexdigest(), identity_id, 2, f"{self.rng.getrandbits(128):032x}",
             self.now, self.now + timedelta(days=3650), False)
        )  # fmt: skip
        self.tokens[identity_id] = token
        return identity_id

    def box(self, title: str, creator: str, members: list[str]) -> str:
        box_id = _uuid(self.rng)
        public = self._key().public_key.encode()
        public_b64 = self._b64u(public)
        sealed = [self._seal(text, public) for text in self._texts]
        self.boxes[box_id] = {
            "row": [box_id, title, public_b64, "open", "limited", creator, self.now - timedelta(days=300), None],
            "pool": [{"encrypted": s, "public_key": public_b64} for s in sealed],
            "members": [creator] + [m for m in members if m != creator],
        }
        self.visible[box_id] = []
        if not self.body:
            self.body = json.dumps({"type": "msg.text", "content": self.boxes[box_id]["pool"][3]}, separators=(",", ":"))
        return box_id

    def _event(self, box_id: str, type_: str, sender: str, *, content=None, referrer=None, visible=True, file_id=None) -> tuple:
        self.seq += 1
        event_id = _uuid(self.rng)
        if visible:
            self.visible[box_id].append(event_id)
            self.boxes[box_id]["row"][7] = self.seq
        created = self.start + timedelta(seconds=5 * self.seq)
        return (self.seq, event_id, box_id, type_, sender, referrer, content, None, created, visible, True, file_id, None, None, None, None)

    def box_opening(self, box_id: str) -> Iterator[tuple]:
        """``create``, then each member's ``member.join`` and the rule joining adds."""
        info = self.boxes[box_id]
        creator, row = info["members"][0], info["row"]
        yield self._event(box_id, "create", creator, content={"public_key": row[2], "title": row[1], "state": "open"})
        self.memberships.append((_uuid(self.rng), box_id, creator, None, True, 0, row[6]))
        email = {i[0]: i[1] for i in self.identities}
        for member in info["members"][1:]:
            join = self._event(box_id, "member.join", member)
            yield join
            yield self._event(box_id, "access.add", member, content={"restriction_type": "identifier", "value": email[member]}, visible=False)
            self.memberships.append((_uuid(self.rng), box_id, member, join[1], True, 0, join[8]))

    def message(self, box_id: str, index: int) -> tuple:
        info = self.boxes[box_id]
        sender = info["members"][index % len(info["members"])]
        content = info["pool"][index % len(info["pool"])]
        if index % 100 == 57:  # about 1 % files
            file_id = _uuid(self.rng)
            return self._event(box_id, "msg.file", sender, content={**content, "encrypted_file_id": file_id}, file_id=file_id)
        return self._event(box_id, "msg.text", sender, content=content)

    def messages(self, boxes: list[str], per_box: int) -> Iterator[tuple]:
        for index in range(per_box):
            for box_id in boxes:
                yield self.message(box_id, index)

    def build(self) -> tuple[Dataset, Iterator[tuple]]:
        """The data set description, and the events generator (boxes/memberships fill as it runs)."""
        users, fans = self.users, self.fans
        hot = self.box("Hot", users[0], users[:HOT_MEMBERS])
        mixed = []
        for b in range(MIXED_BOXES):
            members = users[HOT_MEMBERS + b * MIXED_MEMBERS : HOT_MEMBERS + (b + 1) * MIXED_MEMBERS]
            mixed.append({"box": self.box(f"Mixed {b}", members[0], members), "writer": members[0], "readers": members[1:]})
        soak = []
        for b in range(SOAK_BOXES):
            members = users[b * SOAK_MEMBERS : (b + 1) * SOAK_MEMBERS]
            soak.append({"box": self.box(f"Soak {b}", members[0], members), "members": members})
        small_box = self.box(f"Box of {size_label(self.small)}", users[0], users[:2])
        big_box = self.box(f"Box of {size_label(self.big)}", users[0], users[:2])
        fan_box = self.box("Fan-out", fans[0], fans)

        def events() -> Iterator[tuple]:
            for box_id in self.boxes:
                yield from self.box_opening(box_id)
            total, placed = self.small + self.big, 0
            for k in range(total):
                if (k * self.small) // total != ((k + 1) * self.small) // total:
                    yield self.message(small_box, placed)
                    placed += 1
                else:
                    yield self.message(big_box, k - placed)
            yield from self.messages([m["box"] for m in mixed], MIXED_EVENTS)
            yield from self.messages([s["box"] for s in soak], SOAK_EVENTS)
            yield from self.messages([hot], HOT_EVENTS)
            yield from self.messages([fan_box], FANOUT_EVENTS)

        def big_info(box_id: str) -> dict[str, Any]:
            ids = self.visible[box_id]
            step = max(1, len(ids) // IDS_PER_LOOKUP)
            return {
                "box": box_id,
                "reader": users[0],
                "visible": len(ids),
                "middle": ids[len(ids) // 2],
                "near_end": ids[-3 * PAGE],
                "ids": ids[step // 2 :: step][:IDS_PER_LOOKUP],
            }

        dataset = Dataset(
            tokens=self.tokens, hot_box=hot, hot_members=users[:HOT_MEMBERS], mixed=mixed, soak=soak, big={},
            fanout_box=fan_box, fanout_members=fans, body=self.body,
        )  # fmt: skip
        self._finish = lambda: dataset.big.update({size_label(self.small): big_info(small_box), size_label(self.big): big_info(big_box)})
        return dataset, events()

    def finish(self) -> None:
        self._finish()


EVENT_COLUMNS = (
    "seq id box_id type sender_id referrer_id content extra created_at visible active file_id "
    "edited_content last_edited_at deleted_at deleted_by_id"
).split()
TABLE_COLUMNS = {
    "identities": "id email display_name avatar_url public_key password_hash created_at".split(),
    "auth_sessions": "id token_hash identity_id acr csrf_token created_at expires_at revoked".split(),
    "boxes": "id title public_key lifecycle access_mode creator_id created_at last_event_seq".split(),
    "memberships": "id box_id identity_id join_event_id active unread_count created_at".split(),
}
JSON_COLUMNS = {"content", "extra", "edited_content"}


def _chunks(rows: Iterator[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sqlite_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_value(column: str, value: Any) -> Any:
    if value is not None and column in JSON_COLUMNS:
        return json.dumps(value)
    return value


async def _migrate(url: str, revision: str) -> None:
    from alembic import command

    from boxtui.server.db import make_engine
    from boxtui.server.migrate import alembic_config

    engine = make_engine(url)
    try:
        cfg = alembic_config(url)

        def upgrade(connection) -> None:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
    finally:
        await engine.dispose()


def base_revision() -> str:
    from alembic.script import ScriptDirectory

    from boxtui.server.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_base()


def cache_key(small: int, big: int) -> str:
    from boxtui.server.migrate import MIGRATIONS_DIR

    digest = hashlib.sha256(f"{BENCH_DATA_VERSION}:{small}:{big}".encode())
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _check_columns(actual: dict[str, list[str]]) -> None:
    for table, columns in {**TABLE_COLUMNS, "events": EVENT_COLUMNS}.items():
        if missing := set(columns) - set(actual[table]):
            raise SystemExit(f"the first migration's {table} table lacks {sorted(missing)}: update benchmarks/server.py's loader")


async def build_sqlite(path: Path, small: int, big: int) -> Dataset:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    await _migrate(url, base_revision())
    rows = _Rows(small, big)
    dataset, events = rows.build()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    _check_columns({t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in [*TABLE_COLUMNS, "events"]})

    def insert(table: str, columns: list[str], chunk: list[tuple]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        conn.executemany(sql, ([_sqlite_value(c, v) for c, v in zip(columns, row)] for row in chunk))

    insert("identities", TABLE_COLUMNS["identities"], rows.identities)
    insert("auth_sessions", TABLE_COLUMNS["auth_sessions"], rows.sessions)
    insert("boxes", TABLE_COLUMNS["boxes"], [tuple(b["row"]) for b in rows.boxes.values()])
    done = 0
    for chunk in _chunks(events):
        insert("events", EVENT_COLUMNS, chunk)
        done += len(chunk)
        print(f"\r  sqlite: {done:,} events written", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    insert("memberships", TABLE_COLUMNS["memberships"], rows.memberships)
    conn.executemany("UPDATE boxes SET last_event_seq = ? WHERE id = ?", [(b["row"][7], box_id) for box_id, b in rows.boxes.items()])
    conn.commit()
    conn.close()
    await _migrate(url, "head")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")  # one file to copy; the server turns WAL back on
    conn.close()
    rows.finish()
    return dataset


async def build_postgres(dsn: str, small: int, big: int) -> Dataset:
    import asyncpg

    await _migrate(dsn.replace("postgresql://", "postgresql+asyncpg://"), base_revision())
    rows = _Rows(small, big)
    dataset, events = rows.build()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")  # skip FK triggers: consistent by construction
        actual = {}
        for table in [*TABLE_COLUMNS, "events"]:
            actual[table] = [r["column_name"] for r in await conn.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = $1", table)]
        _check_columns(actual)

        async def copy(table: str, columns: list[str], chunk: list[tuple]) -> None:
            await conn.copy_records_to_table(table, records=[tuple(_pg_value(c, v) for c, v in zip(columns, row)) for row in chunk], columns=columns)

        await copy("identities", TABLE_COLUMNS["identities"], rows.identities)
        await copy("auth_sessions", TABLE_COLUMNS["auth_sessions"], rows.sessions)
        await copy("boxes", TABLE_COLUMNS["boxes"], [tuple(b["row"]) for b in rows.boxes.values()])
        done = 0
        for chunk in _chunks(events):
            await copy("events", EVENT_COLUMNS, chunk)
            done += len(chunk)
            print(f"\r  postgres: {done:,} events copied", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        await copy("memberships", TABLE_COLUMNS["memberships"], rows.memberships)
        await conn.executemany("UPDATE boxes SET last_event_seq = $1 WHERE id = $2", [(b["row"][7], box_id) for box_id, b in rows.boxes.items()])
        await conn.execute("SELECT setval(pg_get_serial_sequence('events', 'seq'), (SELECT max(seq) FROM events))")
    finally:
        await conn.close()
    await _migrate(dsn.replace("postgresql://", "postgresql+asyncpg://"), "head")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does on a live server soon after a load
    finally:
        await conn.close()
    rows.finish()
    return dataset


# ============================================================================ databases


def _pg_dsn(name: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_available() -> str | None:
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL"
        return f"{exc.__class__.__name__}: {exc}"
    return None


async def redis_available() -> str | None:
    try:
        import redis.asyncio as redis

        client = redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            await client.ping()
        finally:
            await client.aclose()
    except Exception as exc:  # noqa: BLE001
        return f"{exc.__class__.__name__}: {exc}"
    return None


def _prune_cache(key: str) -> None:
    """Drop cached data sets of other keys (older migrations or sizes)."""
    if CACHE_DIR.exists():
        for entry in CACHE_DIR.iterdir():
            if entry.name != key:
                shutil.rmtree(entry, ignore_errors=True)


async def _drop_stale_runs() -> None:
    """Working databases left by a run that was killed (its pid is gone)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        names = [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'boxtui_bench_run_%'")]
    finally:
        await conn.close()
    for name in names:
        pid = int(name.split("_")[3])
        if not Path(f"/proc/{pid}").exists():
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class WorkingDB:
    """A fresh copy of the cached data set for one run; ``close()`` drops it."""

    def __init__(self, kind: str, small: int, big: int, use_cache: bool, tmp: Path) -> None:
        self.kind, self.small, self.big, self.use_cache, self.tmp = kind, small, big, use_cache, tmp
        self.key = cache_key(small, big)
        self.url = ""
        self.pg_name = ""
        self.dataset: Dataset | None = None

    async def open(self) -> Dataset:
        """Build the cache if it is missing or stale, then copy it; one run at a time
        (another benchmark on the machine may be building or copying the same cache)."""
        import fcntl

        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with (CACHE_DIR.parent / "server-bench.lock").open("w") as lock:
            await asyncio.get_running_loop().run_in_executor(None, fcntl.flock, lock, fcntl.LOCK_EX)
            try:
                return await self._open()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    async def _open(self) -> Dataset:
        started = time.perf_counter()
        meta = CACHE_DIR / self.key / f"dataset-{self.kind}.json"
        if self.kind == "sqlite":
            cached = CACHE_DIR / self.key / "boxtui.db"
            if not (self.use_cache and cached.exists() and meta.exists()):
                say(f"  building the SQLite data set ({self.small:,} + {self.big:,} events; cached for later runs)…")
                _prune_cache(self.key)
                dataset = await build_sqlite(cached, self.small, self.big)
                dataset.save(meta)
            target = self.tmp / "sqlite" / "boxtui.db"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, target)
            self.url = f"sqlite+aiosqlite:///{target}"
        else:
            import asyncpg

            cache_name = PG_CACHE_PREFIX + self.key
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", PG_CACHE_PREFIX + "%")}
            finally:
                await conn.close()
            if not (self.use_cache and cache_name in existing and meta.exists()):
                say(f"  building the PostgreSQL data set ({self.small:,} + {self.big:,} events; cached for later runs)…")
                _prune_cache(self.key)
                for stale in existing:
                    await _pg_admin(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
                await _pg_admin(f'CREATE DATABASE "{cache_name}"')
                meta.parent.mkdir(parents=True, exist_ok=True)
                dataset = await build_postgres(_pg_dsn(cache_name), self.small, self.big)
                dataset.save(meta)
            self.pg_name = f"boxtui_bench_run_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            await _pg_admin(f'CREATE DATABASE "{self.pg_name}" TEMPLATE "{cache_name}"')
            self.url = _pg_dsn(self.pg_name).replace("postgresql://", "postgresql+asyncpg://")
            # The copy goes through the WAL (PostgreSQL 15's default): finish the
            # checkpoints it set off now, not in the middle of a measured row.
            await self.checkpoint()
        self.dataset = Dataset.load(meta)
        say(f"  {self.kind}: working copy of the data set ready in {time.perf_counter() - started:.1f} s")
        return self.dataset

    async def checkpoint(self) -> None:
        """PostgreSQL: write out what the rows before wrote, before a latency row. The
        WAL they leave sets off a checkpoint of PostgreSQL's own (``max_wal_size``), and
        a commit made while one flushes the data files waits for the disk: two full runs
        measured the fan-out's p99 at 155 and 219 ms during one, 35-52 ms in reruns
        without (PROFILE.md). That is the database host's disk, which a deployment tunes
        (docs/operations.md), not the server's fan-out, so the row starts from a clean
        checkpoint, as the rows after the working copy do."""
        if self.kind != "postgres":
            return
        try:
            await _pg_admin("CHECKPOINT")
        except Exception as exc:  # noqa: BLE001 - not a superuser: measure anyway
            say(f"  postgres: CHECKPOINT failed ({exc}); a checkpoint may run during the rows")

    async def backend_pids(self) -> list[int]:
        if self.kind != "postgres":
            return []
        import asyncpg

        conn = await asyncpg.connect(_pg_dsn(self.pg_name))
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.pg_name)
        finally:
            await conn.close()
        return [r["pid"] for r in rows]

    async def next_xid(self) -> int:
        """PostgreSQL: the next transaction id to be assigned (0 on SQLite)."""
        if self.kind != "postgres":
            return 0
        import asyncpg

        conn = await asyncpg.connect(_pg_dsn(self.pg_name))
        try:
            return await conn.fetchval("SELECT txid_snapshot_xmax(txid_current_snapshot())")
        finally:
            await conn.close()

    async def rows_written_since(self, mark: int) -> int:
        """PostgreSQL: rows of the app's tables written (inserted, or a new version) by the
        transactions that began since ``mark`` (:meth:`next_xid`), whichever backend ran
        them: their ``xmin``."""
        end = await self.next_xid()
        if end == mark:
            return 0
        import asyncpg

        conn = await asyncpg.connect(_pg_dsn(self.pg_name))
        try:
            tables = [r[0] for r in await conn.fetch("SELECT relname FROM pg_stat_user_tables")]
            total = 0
            for table in tables:
                total += await conn.fetchval(f'SELECT count(*) FROM "{table}" WHERE xmin::text::bigint >= $1 AND xmin::text::bigint < $2', mark % 2**32, end % 2**32)
            return total
        finally:
            await conn.close()

    async def close(self) -> None:
        if self.pg_name:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.pg_name = ""


# ============================================================================ server processes


class ServerProcess:
    """``boxtui serve`` (or the bare app) in a process of its own."""

    def __init__(self, label: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.label, self.argv, self.port, self.log, self.env = label, argv, port, log, env
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def boxtui(cls, label: str, database_url: str, data_dir: Path, log_level: str, *, redis: bool = False, workers: int | None = None) -> ServerProcess:
        port = free_port()
        argv = [sys.executable, "-m", "boxtui", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
                "--database-url", database_url, "--log-level", log_level]  # fmt: skip
        if redis:
            argv += ["--redis-url", REDIS_URL]
        if workers is not None:
            argv += ["--workers", str(workers)]
        return cls(label, argv, port, data_dir.parent / f"{label}.log")

    @classmethod
    def bare(cls, log_level: str, tmp: Path, workers: int = 1, write: str | None = None) -> ServerProcess:
        """The bare app; ``write`` (``BOXTUI_BENCH_BARE_WRITE``) adds its durable row per post."""
        port = free_port()
        argv = [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port), "--log-level", log_level, "--bare-workers", str(workers)]
        label = ("bare" if write is None else f"bare+{write.partition(':')[0]}") + ("" if workers == 1 else f"-workers{workers}")
        return cls(label, argv, port, tmp / f"{label}.log", None if write is None else {**os.environ, BARE_WRITE_ENV: write})

    def start(self, timeout: float = 120) -> ServerProcess:
        import httpx

        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, cwd=ROOT, start_new_session=True, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.label} server exited: {self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + ("/healthz" if not self.label.startswith("bare") else "/docs"), timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise SystemExit(f"{self.label} server did not answer within {timeout} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid) if self.proc else []

    def cpu(self) -> dict[int, float]:
        return cpu_seconds(self.pids())

    def rss_mb(self) -> float:
        return peak_rss_mb(self.pids())

    def exceptions(self) -> dict[str, int]:
        """The exception line ending each traceback in the log, counted."""
        found: dict[str, int] = {}
        with contextlib.suppress(OSError):
            in_traceback = False
            for line in self.log.read_text(errors="replace").splitlines():
                if line.startswith("Traceback (most recent call last)"):
                    in_traceback = True
                elif in_traceback and line and not line.startswith((" ", "During handling", "The above exception", "+", "|")):
                    key = line[:150]
                    found[key] = found.get(key, 0) + 1
                    in_traceback = False
        return found

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def serve_has_workers() -> bool:
    out = subprocess.run([sys.executable, "-m", "boxtui", "serve", "--help"], capture_output=True, text=True, cwd=ROOT, check=False)
    return "--workers" in out.stdout


# ============================================================================ wrk


LUA = r"""
-- written by benchmarks/server.py
local plan = {
%(plan)s
}
local bodies = {
%(bodies)s
}
local prefix = "%(prefix)s"
%(delay)s
local counter = 0
local threads = {}
local next_tid = 0
tid = 0
codes = {}

function init(args)
  if args[1] then prefix = args[1] end  -- a fresh prefix per wrk run: warm-up and run never share a key
end

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local p = plan[(counter + tid * 7919) %% #plan + 1]
  local headers = {["Authorization"] = "Bearer " .. p[3]}
  local body = nil
  if p[4] > 0 then
    body = bodies[p[4]]
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = prefix .. "-" .. tid .. "-" .. counter
  end
  return wrk.format(p[1], p[2], headers, body)
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local parts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do
      parts[#parts + 1] = string.format("[%%d,%%d]", k, v)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"codes":[%%s]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
"""


@dataclasses.dataclass
class Load:
    """One ``wrk`` run's figures."""

    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    errors: int = 0
    codes: dict[int, int] = dataclasses.field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def error_text(self) -> str:
        bad = {code: n for code, n in self.codes.items() if code >= 400}
        text = str(self.errors)
        if bad:
            text += " (" + ", ".join(f"{n}×{code}" for code, n in sorted(bad.items())) + ")"
        return text


def write_lua(path: Path, plan: list[tuple[str, str, str, int]], bodies: list[str], think_ms: int = 0) -> Path:
    """A wrk script cycling through ``plan`` (method, path, token, body index or 0); each
    connection waits ``think_ms`` after a response before its next request."""
    lines = ",\n".join(f'  {{"{m}", "{p}", "{t}", {b}}}' for m, p, t, b in plan)
    body_lines = ",\n".join(f"  [==[{b}]==]" for b in bodies)
    delay = f"function delay()\n  return {think_ms}\nend\n" if think_ms else ""
    path.write_text(LUA % {"plan": lines, "bodies": body_lines, "prefix": uuid.uuid4().hex[:12], "delay": delay})
    return path


def wrk_command(url: str, script: Path, connections: int, seconds: float) -> list[str]:
    """``wrk`` with one thread; the script gets a fresh Idempotency-Key prefix per run."""
    return ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script), url, "--", uuid.uuid4().hex]


def parse_wrk(output: str) -> Load:
    for line in output.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON ") :])
            codes: dict[int, int] = {}
            for code, n in data["codes"]:
                codes[code] = codes.get(code, 0) + n
            non_2xx = sum(n for code, n in codes.items() if code >= 400)
            socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
            return Load(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000, non_2xx + socket_errors, codes)
    raise RuntimeError(f"wrk printed no figures:\n{output[-2000:]}")


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).splitlines()[0].split(" Copyright")[0].strip()


@dataclasses.dataclass
class Row:
    """One workload against one server: figures for the table."""

    load: Load
    cpu_ms: float
    db_cpu_ms: float | None = None
    extra: dict[str, Load] = dataclasses.field(default_factory=dict)
    #: CPU ms per request of each process of the server, the one started first first.
    by_process: list[float] = dataclasses.field(default_factory=list)


def cores(row: Row) -> str:
    """``row``'s CPU per request (the database's beside it) and the cores that kept busy."""
    total = row.cpu_ms + (row.db_cpu_ms or 0.0)
    db = f" + {row.db_cpu_ms:.2f}" if row.db_cpu_ms is not None else ""
    return f"{row.cpu_ms:.2f}{db} ms, {total * row.load.rps / 1000:.2f} cores"


class Runner:
    def __init__(self, args, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.duration = args.duration
        self.warmup = 1.0 if args.quick else 2.0
        self.py_spy = Path(args.py_spy) if args.py_spy else None
        self.py_spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if self.py_spy and not Path(self.py_spy_bin).exists():
            raise SystemExit("--py-spy needs py-spy: pip install py-spy")

    def script(self, name: str, plan, bodies, think_ms: int = 0) -> Path:
        return write_lua(self.tmp / f"{name}.lua", plan, bodies, think_ms)

    async def drive(self, server: ServerProcess, db: WorkingDB | None, runs: dict[str, tuple[Path, int]], label: str) -> Row:
        """Warm up, then run every ``wrk`` of ``runs`` at once; CPU from /proc around the measured part."""
        for script, connections in runs.values():
            subprocess.run(wrk_command(server.url, script, connections, self.warmup), capture_output=True, check=False)
        backends = await db.backend_pids() if db else []
        cpu0, db0 = server.cpu(), cpu_seconds(backends)
        spy = None
        if self.py_spy and not server.label.startswith("bare"):
            self.py_spy.mkdir(parents=True, exist_ok=True)
            out = self.py_spy / f"{label}.txt"
            spy = subprocess.Popen([self.py_spy_bin, "record", "--pid", str(server.proc.pid), "--duration", str(round(self.duration)),
                                    "--rate", "250", "--format", "raw", "--nonblocking", "--subprocesses", "-o", str(out)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        procs = {
            name: subprocess.Popen(wrk_command(server.url, script, connections, self.duration), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, (script, connections) in runs.items()
        }
        loads = {name: parse_wrk(proc.communicate()[0]) for name, proc in procs.items()}
        if spy is not None:
            spy.wait()
        cpu_after = server.cpu()
        cpu = cpu_delta(cpu0, cpu_after)
        db_cpu = cpu_delta(db0, cpu_seconds(backends + await db.backend_pids())) if db and db.kind == "postgres" else None
        total = sum(load.requests for load in loads.values()) or 1
        if len(loads) == 1:
            (load,) = loads.values()
        else:  # several wrk at once: the row's totals; each one's figures stay in ``extra``
            load = Load(total, max(l.seconds for l in loads.values()), errors=sum(l.errors for l in loads.values()))
        by_process = [(value - cpu0.get(pid, 0.0)) * 1000 / total for pid, value in sorted(cpu_after.items())]
        return Row(load, cpu * 1000 / total, None if db_cpu is None else db_cpu * 1000 / total, loads, by_process)


# ============================================================================ workloads


def post_plan(ds: Dataset, writers: int) -> list[tuple[str, str, str, int]]:
    members = ds.hot_members[:writers]
    return [("POST", f"/boxes/{ds.hot_box}/events", ds.tokens[m], 1) for m in members]


def spread_plan(ds: Dataset, writers: int) -> list[tuple[str, str, str, int]]:
    """One writer per box (the soak boxes): chat traffic spread over conversations."""
    return [("POST", f"/boxes/{box['box']}/events", ds.tokens[box["members"][0]], 1) for box in ds.soak[:writers]]


def tail_path(box_id: str) -> str:
    return f"/boxes/{box_id}/events?tail=true&limit={PAGE}"


def reader_plan(ds: Dataset) -> list[tuple[str, str, str, int]]:
    plan = []
    for i in range(max(len(m["readers"]) for m in ds.mixed)):
        for box in ds.mixed:
            plan.append(("GET", tail_path(box["box"]), ds.tokens[box["readers"][i % len(box["readers"])]], 0))
    return plan


def writer_plan(ds: Dataset) -> list[tuple[str, str, str, int]]:
    return [("POST", f"/boxes/{box['box']}/events", ds.tokens[box["writer"]], 1) for box in ds.mixed]


def soak_plan(ds: Dataset, listing: str = "page") -> list[tuple[str, str, str, int]]:
    """Each client posts to its box, then lists: its box's newest page, or (``listing``
    "boxes") its boxes."""
    plan = []
    for i in range(SOAK_MEMBERS):
        for box in ds.soak:
            token = ds.tokens[box["members"][i]]
            plan.append(("POST", f"/boxes/{box['box']}/events", token, 1))
            plan.append(("GET", tail_path(box["box"]) if listing == "page" else "/boxes/joined", token, 0))
    return plan


THINK_MS = 250  # pause of each paced reader and writer between requests
THROUGHPUT_ROWS = {
    "post16": "POST msg.text, 16 clients, 1 box",
    "post64": "POST msg.text, 64 clients, 1 box",
    "get": f"GET newest page (tail, {PAGE}), {READERS} clients, 8 boxes",
    "idle": f"newest page, 8 readers pacing {THINK_MS} ms, idle",
    "mixed": f"same + 8 writers (1 per box) pacing {THINK_MS} ms",
}
PACED_ROWS = {"idle", "mixed"}


async def throughput(runner: Runner, server: ServerProcess, db: WorkingDB | None, ds: Dataset, only: set[str], tag: str) -> dict[str, Row]:
    bodies = [ds.body]
    rows: dict[str, Row] = {}
    if "post" in only:
        for name, clients in (("post16", 16), ("post64", 64)):
            script = runner.script(f"{tag}-{name}", post_plan(ds, clients), bodies)
            rows[name] = await runner.drive(server, db, {"post": (script, clients)}, f"{tag}-{name}")
    if "get" in only:
        readers = runner.script(f"{tag}-readers", reader_plan(ds), bodies)
        rows["get"] = await runner.drive(server, db, {"get": (readers, READERS)}, f"{tag}-get")
    if "mixed" in only:
        paced = runner.script(f"{tag}-paced-readers", reader_plan(ds), bodies, THINK_MS)
        rows["idle"] = await runner.drive(server, db, {"readers": (paced, len(ds.mixed))}, f"{tag}-idle")
        writers = runner.script(f"{tag}-paced-writers", writer_plan(ds), bodies, THINK_MS)
        rows["mixed"] = await runner.drive(server, db, {"writers": (writers, len(ds.mixed)), "readers": (paced, len(ds.mixed))}, f"{tag}-mixed")
    return rows


# ---------------------------------------------------------------------------- reads


def read_queries(ds: Dataset, label: str) -> dict[str, tuple[str, str]]:
    info = ds.big[label]
    box = info["box"]
    return {
        "tail page": ("GET", tail_path(box)),
        "before= (middle)": ("GET", f"/boxes/{box}/events?before={info['middle']}&limit={PAGE}"),
        "before= (near the end)": ("GET", f"/boxes/{box}/events?before={info['near_end']}&limit={PAGE}"),
        "after= (middle)": ("GET", f"/boxes/{box}/events?after={info['middle']}&limit={PAGE}"),
        "HEAD count": ("HEAD", f"/boxes/{box}/events"),
        f"ids= ({IDS_PER_LOOKUP} ids)": ("GET", "/events?ids=" + ",".join(info["ids"])),
        "offset= (middle; not a client query)": ("GET", f"/boxes/{box}/events?offset={info['visible'] // 2}&limit={PAGE}"),
    }


@dataclasses.dataclass
class ReadFigure:
    first5_ms: float
    p50_ms: float
    p99_ms: float
    ok: bool


@dataclasses.dataclass
class ReadRow:
    """One query at both sizes; ``ratio`` is the median of per-round big/small ratios
    (each round times the two back to back, so machine noise hits both alike)."""

    figures: dict[str, ReadFigure]
    ratio: float
    executions: int  # of the query's statement before the measured rounds


SLOW_MS = 40.0  # a query slower than this at the big size warms up on the small box only


async def reads(server: ServerProcess, ds: Dataset, warm: int, measure: int) -> dict[str, ReadRow]:
    """Each query at both sizes, sequential requests on one connection (so one prepared
    statement serves both sizes, as on a real server where boxes of every size share it).

    Rounds 1–5 time both sizes (PostgreSQL's custom plans); the warm-up rounds up to
    ``warm`` executions follow (a slow big-box query warms on the small box alone: the
    statement's execution count is what matters for the generic plan, which PostgreSQL
    considers from the 6th); then ``measure`` rounds time both again.
    """
    import httpx

    labels = list(ds.big)
    small, big = labels
    out: dict[str, ReadRow] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        per_label = {label: read_queries(ds, label) for label in labels}

        async def timed(name: str, label: str) -> tuple[float, bool]:
            method, path = per_label[label][name]
            headers = {"Authorization": f"Bearer {ds.tokens[ds.big[label]['reader']]}"}
            started = time.perf_counter()
            response = await client.request(method, path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            ok = response.status_code in (200, 204)
            if method == "HEAD":
                ok = ok and response.headers.get("x-total-count") == str(ds.big[label]["visible"])
            return elapsed, ok

        for name in per_label[small]:
            first: dict[str, list[float]] = {label: [] for label in labels}
            measured: dict[str, list[float]] = {label: [] for label in labels}
            ok = {label: True for label in labels}
            executions = 0
            for _ in range(5):
                for label in labels:
                    elapsed, good = await timed(name, label)
                    first[label].append(elapsed)
                    ok[label] &= good
                    executions += 1
            slow = statistics.median(first[big]) > SLOW_MS
            while executions < warm:
                for label in [small] if slow else labels:
                    await timed(name, label)
                    executions += 1
            ratios = []
            for _ in range(min(measure, 10) if slow else measure):  # a slow query's spread is small beside its size
                pair = {}
                for label in labels:
                    elapsed, good = await timed(name, label)
                    measured[label].append(elapsed)
                    ok[label] &= good
                    pair[label] = elapsed
                ratios.append(pair[big] / pair[small])
            out[name] = ReadRow(
                {label: ReadFigure(statistics.median(first[label]), percentile(measured[label], 50), percentile(measured[label], 99), ok[label]) for label in labels},
                statistics.median(ratios),
                executions,
            )
    return out


# ---------------------------------------------------------------------------- fan-out


@dataclasses.dataclass
class FanoutResult:
    subscribers: int
    posts: int
    delivered: int
    p50_ms: float  # POST sent → frame in the receiving socket (the kernel's receive timestamp)
    p99_ms: float
    read_p50_ms: float  # POST sent → frame read by the receiver process
    read_p99_ms: float
    connect_s: float
    cpu_ms_per_post: float
    receiver_cpu_ms_per_post: float
    deflate: bool
    receivers: int


SO_TIMESTAMPNS = 35  # Linux; socket.SO_TIMESTAMPNS where Python defines it


def _handshake(url: str, token: str) -> tuple[socket.socket, bytes]:
    """Send the upgrade request of a websocket (what boxtui's client sends, permessage-
    deflate offered); return the blocking socket (the answer is read by _upgraded)."""
    import base64
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nAuthorization: Bearer {token}\r\n\r\n")  # fmt: skip
    sock.sendall(request.encode())
    return sock, b""


def _upgraded(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read the answer to the upgrade: (its head, the bytes after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed a websocket during its handshake")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"websocket refused: {head.splitlines()[0]!r}")
    return head, rest


def _receiver(spec: dict[str, Any]) -> None:
    """A fan-out receiver process: open ``spec["sockets"]`` ([url, token] pairs) as plain
    non-blocking sockets read from one ``epoll`` loop (a few µs per frame, so the
    receivers take little CPU from the server on a small machine), say ``ready``, then
    ``done N`` each time every socket has N frames; on ``stop`` print the frames as
    JSON ([kernel time, read time, event id], ...). The kernel time is the socket's
    receive timestamp (``SO_TIMESTAMPNS``, CLOCK_REALTIME: when the frame reached this
    machine's socket, however late this process got to it); the read time is
    ``time.perf_counter`` (CLOCK_MONOTONIC, as the parent's) when this process read it."""
    import select
    import struct
    import zlib

    pairs = spec["sockets"]
    socks: list[socket.socket] = []
    buffers: list[bytes] = []
    inflaters: list[Any] = []
    deflate = False
    for batch in range(0, len(pairs), 50):  # 50 handshakes in flight at a time
        opened = [_handshake(url, token)[0] for url, token in pairs[batch : batch + 50]]
        for sock in opened:
            head, rest = _upgraded(sock)
            negotiated = b"permessage-deflate" in head.lower()
            deflate |= negotiated
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMPNS", SO_TIMESTAMPNS), 1)
            socks.append(sock)
            buffers.append(rest)
            inflaters.append(zlib.decompressobj(-zlib.MAX_WBITS) if negotiated else None)
    index_of = {sock.fileno(): i for i, sock in enumerate(socks)}
    poller = select.epoll()
    for sock in socks:
        poller.register(sock.fileno(), select.EPOLLIN)
    stdin = sys.stdin.fileno()
    poller.register(stdin, select.EPOLLIN)
    arrivals: list[tuple[float | None, float, bytes]] = []
    counts = [0] * len(socks)
    reached: list[int] = [len(socks)]  # reached[n]: sockets holding at least n frames
    complete = 0
    ancillary = socket.CMSG_SPACE(16)
    mask = b"\x00\x00\x00\x00"
    print(f"ready {int(deflate)}", flush=True)
    running = True
    while running:
        for fd, _ in poller.poll():
            if fd == stdin:
                command = os.read(stdin, 4096)
                if not command or b"stop" in command:  # stop, or the parent is gone
                    running = False
                continue
            i = index_of[fd]
            sock = socks[i]
            try:
                data, anc, _, _ = sock.recvmsg(1 << 20, ancillary)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data, anc = b"", []
            read_at = time.perf_counter()
            if not data:
                poller.unregister(fd)
                continue
            kernel_at = None
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    seconds, nanos = struct.unpack("qq", raw[:16])
                    kernel_at = seconds + nanos / 1e9
            buf = buffers[i] + data
            while len(buf) >= 2:
                length, offset = buf[1] & 0x7F, 2
                if length == 126:
                    if len(buf) < 4:
                        break
                    length, offset = struct.unpack("!H", buf[2:4])[0], 4
                elif length == 127:
                    if len(buf) < 10:
                        break
                    length, offset = struct.unpack("!Q", buf[2:10])[0], 10
                if len(buf) < offset + length:
                    break
                first, payload, buf = buf[0], buf[offset : offset + length], buf[offset + length :]
                opcode = first & 0x0F
                if opcode == 9:  # ping → pong (client frames are masked)
                    with contextlib.suppress(OSError):
                        sock.send(bytes([0x8A, 0x80 | len(payload)]) + mask + payload if len(payload) < 126 else b"")
                elif opcode == 8:
                    poller.unregister(fd)
                    break
                elif opcode in (1, 2):
                    if first & 0x40 and inflaters[i] is not None:  # RSV1: compressed
                        payload = inflaters[i].decompress(payload + b"\x00\x00\xff\xff")
                    arrivals.append((kernel_at, read_at, payload))
                    counts[i] += 1
                    n = counts[i]
                    if n == len(reached):
                        reached.append(0)
                    reached[n] += 1
                    if reached[n] == len(socks) and n > complete:
                        complete = n
                        print(f"done {complete}", flush=True)
            buffers[i] = buf
    out = []
    for kernel_at, read_at, payload in arrivals:
        with contextlib.suppress(ValueError, AttributeError, KeyError, TypeError):
            out.append([kernel_at, read_at, json.loads(payload)["object"]["id"]])
    print(json.dumps(out), flush=True)
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


async def fanout(servers: list[ServerProcess], ds: Dataset, subscribers: int, posts: int, receivers: int = 2) -> FanoutResult:
    """``posts`` posts, one at a time, to a box whose ``subscribers`` members each hold a
    socket (spread over the ``servers`` and over ``receivers`` client processes);
    latency = POST sent → frame received, taken two ways: the receiving socket's kernel
    timestamp (what the server's delivery took, whatever the receivers' own delay) and
    the time the receiver process read the frame. One unmeasured POST goes first, before
    the sockets connect: a server's first post compiles its statements, and a server
    that has been up a while has done that long ago."""
    import httpx

    members = ds.fanout_members[:subscribers]
    poster = members[1]
    headers = {"Authorization": f"Bearer {ds.tokens[poster]}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60) as client:
        for server in servers:
            await client.post(f"{server.url}/boxes/{ds.fanout_box}/events", content=ds.body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
    pairs = [[servers[i % len(servers)].url.replace("http://", "ws://") + f"/box-users/{m}/ws", ds.tokens[m]] for i, m in enumerate(members)]
    slices = [pairs[k::receivers] for k in range(receivers) if pairs[k::receivers]]
    started = time.perf_counter()
    procs = []
    for part in slices:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--fanout-receiver", stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 28
        )
        proc.stdin.write((json.dumps({"sockets": part}) + "\n").encode())
        await proc.stdin.drain()
        procs.append(proc)
    deflate = False
    for proc in procs:
        line = (await asyncio.wait_for(proc.stdout.readline(), 300)).decode().split()
        if not line or line[0] != "ready":
            raise RuntimeError("a fan-out receiver failed to connect its sockets")
        deflate |= line[1] == "1"
    connect_s = time.perf_counter() - started
    await asyncio.sleep(0.5)  # the last handshakes' work done
    sent: dict[str, tuple[float, float]] = {}
    cpu0 = [s.cpu() for s in servers]
    receiver_cpu0 = cpu_seconds([proc.pid for proc in procs])
    async with httpx.AsyncClient(timeout=60) as client:
        for n in range(posts):
            server = servers[n % len(servers)]
            wall, t0 = time.time(), time.perf_counter()
            response = await client.post(f"{server.url}/boxes/{ds.fanout_box}/events", content=ds.body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            if response.status_code == 201:
                sent[response.json()["id"]] = (wall, t0)

            async def delivered(proc) -> None:
                while int((await proc.stdout.readline()).decode().split()[1]) < n + 1:
                    pass

            with contextlib.suppress(asyncio.TimeoutError, IndexError, ValueError):
                await asyncio.wait_for(asyncio.gather(*(delivered(proc) for proc in procs)), 30)
            await asyncio.sleep(0.05)
    cpu = sum(cpu_delta(c, s.cpu()) for c, s in zip(cpu0, servers))
    receiver_cpu = cpu_delta(receiver_cpu0, cpu_seconds([proc.pid for proc in procs]))
    arrived, read = [], []
    for proc in procs:
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        while (line := await proc.stdout.readline()) and not line.startswith(b"["):
            pass
        for kernel_at, read_at, event_id in json.loads(line or b"[]"):
            if event_id in sent:
                wall, t0 = sent[event_id]
                read.append((read_at - t0) * 1000)
                arrived.append(((kernel_at - wall) if kernel_at is not None else (read_at - t0)) * 1000)
        await proc.wait()
    return FanoutResult(len(members), posts, len(arrived), percentile(arrived, 50), percentile(arrived, 99), percentile(read, 50), percentile(read, 99),
                        connect_s, cpu * 1000 / posts, receiver_cpu * 1000 / posts, deflate, len(procs))  # fmt: skip


# ---------------------------------------------------------------------------- in-process counts


@dataclasses.dataclass
class Counts:
    statements: dict[str, int]
    commits: dict[str, int]
    rows_written: dict[str, int]
    head_uses_count: bool
    encodings_per_socket: float
    sql_samples: dict[str, list[str]]


async def inprocess_counts(db: WorkingDB, ds: Dataset, tmp: Path) -> Counts:
    """The real app under uvicorn in this process; statements via SQLAlchemy hooks, JSON encodings by wrapping json.dumps."""
    import httpx
    import uvicorn
    from sqlalchemy import event
    from websockets.asyncio.client import connect

    from boxtui.server.app import create_app
    from boxtui.server.settings import ServerSettings

    settings = ServerSettings(data_dir=tmp / f"inprocess-{db.kind}", database_url=db.url, port=0)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws_ping_interval=settings.ws_ping_seconds)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    statements: list[str] = []
    commits = [0]
    written = [0]
    # Every engine the app uses (SQLite has a separate read-only one since issue 8).
    database = getattr(app.state, "database", None)
    engines = [e.sync_engine for e in (database.engines if database is not None else [app.state.engine])]

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE") and (cursor.rowcount or 0) > 0:
            written[0] += cursor.rowcount

    for engine in engines:
        event.listen(engine, "before_cursor_execute", lambda conn, cur, statement, *rest: statements.append(statement))
        event.listen(engine, "after_cursor_execute", after)
        event.listen(engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    # The fast path's own connections and the realtime bus's (raw sqlite3 / asyncpg: not
    # SQLAlchemy's): their statements count too, COMMIT as a commit.
    fast = getattr(app.state, "fast_path", None)
    raw_writes: list[Callable[[], int]] = []

    def raw(statement: str) -> None:
        statements.append(statement)
        if statement.strip().upper().startswith("COMMIT"):
            commits[0] += 1

    if fast is not None and hasattr(fast, "writer"):  # SQLite: every statement, and rows changed
        fast.writer.set_trace_callback(raw)
        fast.reader.set_trace_callback(statements.append)  # (its COMMIT ends a read)
        raw_writes.append(lambda: fast.writer.total_changes)
    logged: set[int] = set()

    def log_asyncpg() -> None:
        """The asyncpg connections open so far (the fast path's pool, the bus's notifier)."""
        conns = [h._con for h in getattr(getattr(fast, "pool", None), "_holders", ()) if h._con is not None]
        bus = getattr(getattr(app.state, "hub", None), "bus", None)
        if getattr(bus, "_notifier", None) is not None:
            conns.append(bus._notifier)
        for conn in conns:
            if id(conn) not in logged:
                logged.add(id(conn))
                conn.add_query_logger(lambda record: raw(record.query))
    small, big = ds.soak[0], ds.big[next(iter(ds.big))]

    def auth(identity: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {ds.tokens[identity]}"}

    post_headers = {"Content-Type": "application/json"}  # plus a fresh Idempotency-Key, as boxtui.client sends
    requests = {
        f"POST msg.text ({SOAK_MEMBERS} members)": ("POST", f"/boxes/{small['box']}/events", small["members"][1]),
        f"POST msg.text ({FANOUT_MEMBERS:,} members)": ("POST", f"/boxes/{ds.fanout_box}/events", ds.fanout_members[1]),
        "GET tail page": ("GET", tail_path(big["box"]), big["reader"]),
        "GET before=": ("GET", f"/boxes/{big['box']}/events?before={big['middle']}&limit={PAGE}", big["reader"]),
        "GET after=": ("GET", f"/boxes/{big['box']}/events?after={big['middle']}&limit={PAGE}", big["reader"]),
        "HEAD count": ("HEAD", f"/boxes/{big['box']}/events", big["reader"]),
        f"GET ids= ({IDS_PER_LOOKUP})": ("GET", "/events?ids=" + ",".join(big["ids"]), big["reader"]),
        "GET /boxes/joined": ("GET", "/boxes/joined?limit=50", small["members"][1]),
    }
    counts: dict[str, int] = {}
    commit_counts: dict[str, int] = {}
    rows_written: dict[str, int] = {}
    samples: dict[str, list[str]] = {}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for name, (method, path, who) in requests.items():
                for attempt in range(3):  # the last of three: warm caches, no first-use queries
                    log_asyncpg()
                    measured = attempt == 2
                    xid = await db.next_xid() if measured else 0
                    statements.clear()
                    commits[0] = written[0] = 0
                    changes = sum(f() for f in raw_writes)
                    body = ds.body if method == "POST" else None
                    headers = {**auth(who), **post_headers, "Idempotency-Key": uuid.uuid4().hex} if body else auth(who)
                    response = await client.request(method, path, content=body, headers=headers)
                    response.raise_for_status()
                    changes = sum(f() for f in raw_writes) - changes
                counts[name] = len(statements)
                commit_counts[name] = commits[0]
                # Rows: SQLAlchemy's rowcounts and the SQLite fast path's changes; on
                # PostgreSQL the rows the request's transactions wrote (every backend's).
                rows_written[name] = written[0] + changes if db.kind == "sqlite" else await db.rows_written_since(xid)
                samples[name] = list(statements)
            encodings = await _encodings_per_socket(client, base, ds, auth, post_headers, connect)
    finally:
        server.should_exit = True
        await task
    head_uses_count = any("count(" in s.lower() for s in samples["HEAD count"])
    return Counts(counts, commit_counts, rows_written, head_uses_count, encodings, samples)


async def _encodings_per_socket(client, base: str, ds: Dataset, auth, post_headers, connect) -> float:
    """JSON encodings a post costs per connected socket: the slope between 1 and 21 sockets."""
    import json as json_module

    calls = [0]
    original = json_module.dumps

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    orjson = None
    with contextlib.suppress(ImportError):
        import orjson  # type: ignore[no-redef]
    orjson_original = orjson.dumps if orjson else None

    def counting_orjson(*args, **kwargs):
        calls[0] += 1
        return orjson_original(*args, **kwargs)

    totals = {}
    for n in (1, 21):
        members = ds.fanout_members[2 : 2 + n]
        sockets = [
            await connect(base.replace("http://", "ws://") + f"/box-users/{m}/ws", additional_headers=auth(m), ping_interval=None) for m in members
        ]
        await asyncio.sleep(0.2)
        json_module.dumps = counting
        if orjson:
            orjson.dumps = counting_orjson
        calls[0] = 0
        try:
            headers = {**auth(ds.fanout_members[1]), **post_headers, "Idempotency-Key": uuid.uuid4().hex}
            response = await client.post(f"/boxes/{ds.fanout_box}/events", content=ds.body, headers=headers)
            response.raise_for_status()
            for ws in sockets:
                await asyncio.wait_for(ws.recv(), 30)
            totals[n] = calls[0]
        finally:
            json_module.dumps = original
            if orjson:
                orjson.dumps = orjson_original
            for ws in sockets:
                await ws.close()
    return (totals[21] - totals[1]) / 20


# ============================================================================ report


class Report:
    def __init__(self) -> None:
        self.targets: list[tuple[str, str, str]] = []

    def target(self, name: str, figure: str, ok: bool | None) -> None:
        self.targets.append((name, figure, verdict(ok)))

    def print_targets(self) -> None:
        say("\n== Targets (issue 8) ==")
        width = max(len(t[0]) for t in self.targets)
        fwidth = max(len(t[1]) for t in self.targets)
        for name, figure, result in self.targets:
            say(f"  {name:<{width}}  {figure:<{fwidth}}  {result}")


def print_throughput(results: dict[str, dict[str, Row]], order: list[str]) -> None:
    say("\n== Throughput (wrk, the same Lua scripts for every server; CPU = the server's processes, db CPU = PostgreSQL backends) ==")
    head = f"  {'workload':<46} {'server':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10} {'db CPU':>7} {'vs bare':>8}  errors"
    say(head)
    for key, title in THROUGHPUT_ROWS.items():
        if key not in results.get("bare", {}) and not any(key in results.get(s, {}) for s in order):
            continue
        bare = results.get("bare", {}).get(key)
        for server in ["bare", *order]:
            row = results.get(server, {}).get(key)
            if row is None:
                continue
            parts = row.extra if key == "mixed" else {"": row.load}
            for part, load in parts.items():
                name = title if server == "bare" and part in ("", "writers") else ""
                label = f"{server}{' ' + part if part else ''}"
                ratio = ""
                if bare is not None and key not in PACED_ROWS:
                    bare_load = bare.extra.get(part) if key == "mixed" else bare.load
                    if bare_load and bare_load.rps:
                        ratio = f"{100 * load.rps / bare_load.rps:.1f} %"
                cpu = fmt(row.cpu_ms, 2) if part in ("", "writers") else ""
                db_cpu = fmt(row.db_cpu_ms, 2) if row.db_cpu_ms is not None and part in ("", "writers") else ""
                say(f"  {name:<46} {label:<9} {fmt(load.rps):>8} {fmt(load.p50_ms):>8} {fmt(load.p99_ms):>8} {cpu:>10} {db_cpu:>7} {ratio:>8}  {load.error_text()}")


# ============================================================================ main


async def run(args) -> None:
    only = set(args.only.split(",")) if args.only else {"post", "get", "mixed", "reads", "fanout", "soak", "workers", "counts"}
    if unknown := only - {"post", "get", "mixed", "reads", "fanout", "soak", "workers", "counts"}:
        raise SystemExit(f"--only: unknown part(s) {sorted(unknown)}")
    if not shutil.which("wrk") and only & {"post", "get", "mixed", "soak", "workers"}:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu), then run again")
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))  # 1,000 sockets each side
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    pg_reason = await pg_available() if "postgres" in dbs else None
    if not pg_reason and "postgres" in dbs:
        await _drop_stale_runs()
    if pg_reason:
        say(f"PostgreSQL: not measured (nothing answers at {PG_ADMIN_DSN}: {pg_reason})")
        dbs.remove("postgres")
    redis_reason = await redis_available()
    small, big = args.small, args.big
    subscribers = args.subscribers
    fan_posts = 10 if args.quick else 20
    warm, measure = (10, 10) if args.quick else (100, 30)
    soak_seconds = 10 if args.quick else 60

    load = os.getloadavg()
    say(f"boxtui server benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    say(f"load generator: {wrk_version() if shutil.which('wrk') else 'none (wrk missing)'}, -t1, --timeout 30s, Lua scripts with bearer headers "
        f"and a fresh Idempotency-Key per POST; fan-out sockets: plain sockets read from epoll in --fanout-receivers processes (permessage-deflate offered, as boxtui's client)")  # fmt: skip
    say(f"machine: {os.cpu_count()} cores, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    say(f"servers: boxtui serve and the bare FastAPI app, each one process, started through boxtui.server.serve.serve() (the same uvicorn.run call), "
        f"log level {args.log_level!r}; {args.duration:.0f} s per wrk row after a {1 if args.quick else 2} s warm-up{' (--quick)' if args.quick else ''}")  # fmt: skip
    say(f"databases: {', '.join(dbs)}; data set: boxes of {small:,} and {big:,} events (+ hot, mixed, soak, fan-out boxes)")

    report = Report()
    results: dict[str, dict[str, Row]] = {}
    read_results: dict[str, dict[str, ReadRow]] = {}
    fan_results: dict[str, FanoutResult | str] = {}
    soak_results: dict[str, Row] = {}
    soak_box_results: dict[str, Row] = {}
    worker_results: dict[str, Any] = {}
    count_results: dict[str, Counts] = {}
    rss: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="boxtui-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runner = Runner(args, tmp)
        bare = None
        if only & {"post", "get", "mixed", "fanout", "soak"}:
            bare = ServerProcess.bare(args.log_level, tmp).start()
        try:
            for kind in dbs:
                say(f"\n-- {kind} --")
                db = WorkingDB(kind, small, big, not args.no_cache, tmp)
                try:
                    ds = await db.open()
                    if bare is not None and "bare" not in results and only & {"post", "get", "mixed"}:
                        results["bare"] = await throughput(runner, bare, None, ds, only, "bare")
                        rss["bare"] = bare.rss_mb()
                    if bare is not None and "bare" not in fan_results and "fanout" in only:
                        fan_results["bare"] = await fanout([bare], ds, subscribers, fan_posts, args.fanout_receivers)
                    server = ServerProcess.boxtui(kind, db.url, tmp / f"data-{kind}", args.log_level).start()
                    try:
                        if only & {"post", "get", "mixed"}:
                            say("  throughput…")
                            results[kind] = await throughput(runner, server, db, ds, only, kind)
                        if "reads" in only:
                            say("  reads at 10k vs 1M…")
                            read_results[kind] = await reads(server, ds, warm, measure)
                        if "fanout" in only:
                            say(f"  fan-out to {subscribers:,} sockets, one process…")
                            await db.checkpoint()
                            fan_results[f"{kind}, one process"] = await fanout([server], ds, subscribers, fan_posts, args.fanout_receivers)
                        soak_runner = Runner(args, tmp)
                        soak_runner.duration = soak_seconds
                        for listing, soak_rows in (("page", soak_results), ("boxes", soak_box_results)) if "soak" in only else ():
                            if "bare" not in soak_rows:  # the floor: the same load on the bare app
                                script = runner.script(f"bare-soak-{listing}", soak_plan(ds, listing), [ds.body])
                                soak_rows["bare"] = await soak_runner.drive(bare, None, {"soak": (script, 200)}, f"bare-soak-{listing}")
                            say(f"  200 clients for {soak_seconds} s, listing {'a box' if listing == 'page' else 'their boxes'}…")
                            script = runner.script(f"{kind}-soak-{listing}", soak_plan(ds, listing), [ds.body])
                            soak_rows[kind] = await soak_runner.drive(server, db, {"soak": (script, 200)}, f"{kind}-soak-{listing}")
                        rss[kind] = server.rss_mb()
                        for line, n in sorted(server.exceptions().items(), key=lambda item: -item[1]):
                            why = " (requests wrk cut off when a run ends)" if "ClientDisconnect" in line else ""
                            say(f"  the {kind} server logged {n}× {line}{why}")
                    finally:
                        server.stop()
                    if "fanout" in only and kind == "postgres":
                        if redis_reason:
                            fan_results["postgres, two processes + Redis"] = f"not run: no Redis at {REDIS_URL} ({redis_reason})"
                        else:
                            say(f"  fan-out to {subscribers:,} sockets, two processes + Redis…")
                            pair = [ServerProcess.boxtui(f"{kind}-{n}", db.url, tmp / f"data-{kind}-{n}", args.log_level, redis=True).start() for n in "ab"]
                            try:
                                await db.checkpoint()
                                fan_results["postgres, two processes + Redis"] = await fanout(pair, ds, subscribers, fan_posts, args.fanout_receivers)
                            finally:
                                for s in pair:
                                    s.stop()
                    if "workers" in only and "bare" not in worker_results:
                        worker_results["bare"] = await bare_workers_scaling(runner, ds, tmp, args.log_level)
                    if "workers" in only:
                        worker_results[kind] = await workers_scaling(runner, db, ds, tmp, args.log_level)
                        worker_results[f"bare+{kind}"] = await bare_workers_scaling(runner, ds, tmp, args.log_level, db)
                    if "counts" in only:
                        say("  in-process statement and encoding counts…")
                        count_results[kind] = await inprocess_counts(db, ds, tmp)
                finally:
                    await db.close()
        finally:
            if bare is not None:
                rss.setdefault("bare", bare.rss_mb())
                bare.stop()

    # ------------------------------------------------------------------ print
    order = [k for k in dbs if k in results]
    if results:
        print_throughput(results, order)
    if read_results:
        labels = [size_label(small), size_label(big)]
        say(f"\n== Reads at {labels[0]} vs {labels[1]} events (ms; sequential; 'first 5' = median of executions 1–5, p50/p99 = {measure} rounds "
            f"after the statement ran 'warm' times; ratio = median of back-to-back {labels[1]}/{labels[0]} pairs) ==")  # fmt: skip
        say(f"  {'query':<38} {'db':<9} " + " ".join(f"{l + ' first 5':>12} {l + ' p50':>9} {l + ' p99':>9}" for l in labels) + f" {'ratio':>7} {'warm':>5}")
        for kind, per_query in read_results.items():
            for name, row in per_query.items():
                s_fig, b_fig = row.figures[labels[0]], row.figures[labels[1]]
                bad = "" if s_fig.ok and b_fig.ok else "  (wrong answer!)"
                cells = " ".join(f"{fmt(f.first5_ms, 2):>12} {fmt(f.p50_ms, 2):>9} {fmt(f.p99_ms, 2):>9}" for f in (s_fig, b_fig))
                say(f"  {name:<38} {kind:<9} {cells} {fmt(row.ratio, 2) + '×':>7} {row.executions:>5}{bad}")
    if fan_results:
        say(f"\n== Fan-out: one msg.text to a box whose members each hold a socket; POST sent → frame in the receiving socket / read by the receiver (ms) ==")
        arranged = next((fig for fig in fan_results.values() if not isinstance(fig, str)), None)
        if arranged is not None:
            say(f"  receivers: {arranged.receivers} processes × {arranged.subscribers // arranged.receivers:,} sockets each, plain sockets read from one epoll loop per process "
                f"(no websocket library); 'arrived' = the socket's kernel receive timestamp (SO_TIMESTAMPNS), 'read' = when the receiver process read the frame; "
                f"{arranged.posts} measured posts after one unmeasured post (made before the sockets connect); PostgreSQL: a CHECKPOINT before each row "
                f"(the WAL of the rows before would set one off during it)")  # fmt: skip
        say(f"  {'setup':<36} {'sockets':>7} {'delivered':>11} {'arrived p50':>11} {'p99':>7} {'read p50':>8} {'p99':>7} {'server CPU ms/post':>18} {'receivers CPU':>13} {'connect s':>9}  deflate")
        for name, fig in fan_results.items():
            if isinstance(fig, str):
                say(f"  {name:<36} {fig}")
                continue
            say(f"  {name:<36} {fig.subscribers:>7} {fig.delivered:>5}/{fig.subscribers * fig.posts:<5} {fmt(fig.p50_ms):>11} {fmt(fig.p99_ms):>7} "
                f"{fmt(fig.read_p50_ms):>8} {fmt(fig.read_p99_ms):>7} {fmt(fig.cpu_ms_per_post):>18} {fmt(fig.receiver_cpu_ms_per_post):>13} {fmt(fig.connect_s):>9}  {'yes' if fig.deflate else 'no'}")  # fmt: skip
    for soak_rows, what in ((soak_results, "GET tail"), (soak_box_results, "GET /boxes/joined")):
        if soak_rows:
            say(f"\n== 200 clients posting and listing (every request alternates POST / {what}), {soak_seconds} s ==")
            say(f"  {'db':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>10}  errors")
            for kind, row in soak_rows.items():
                say(f"  {kind:<9} {fmt(row.load.rps):>8} {fmt(row.load.p50_ms):>8} {fmt(row.load.p99_ms):>8} {fmt(row.cpu_ms, 2):>10}  {row.load.error_text()}")
    if worker_results:
        say("\n== --workers: POST msg.text, 16 clients, 1 box (and over 16 boxes) ==")
        for kind, fig in worker_results.items():
            if isinstance(fig, str):
                say(f"  {kind:<9} {fig}")
            else:
                say(f"  {kind:<9} 1 worker {fmt(fig['one'].load.rps)} req/s, 2 workers {fmt(fig['two'].load.rps)} req/s: "
                    f"{fig['two'].load.rps / fig['one'].load.rps:.2f}×; realtime across processes: {fig['realtime']}")  # fmt: skip
                say(f"  {'':<9} 16 clients over 16 boxes (one writer each): 1 worker {fmt(fig['one_spread'].load.rps)} req/s, "
                    f"2 workers {fmt(fig['two_spread'].load.rps)} req/s: {fig['two_spread'].load.rps / fig['one_spread'].load.rps:.2f}×")  # fmt: skip
                say(f"  {'':<9} CPU ms/req (+ db), cores busy: " + "; ".join(f"{label} {cores(fig[key])}" for key, label in
                    (("one", "1 box, 1 worker"), ("two", "2 workers"), ("one_spread", "16 boxes, 1 worker"), ("two_spread", "2 workers"))))  # fmt: skip
                say(f"  {'':<9} 2 workers, CPU ms/req by process (supervisor first; how evenly the connections were spread): "
                    + "; ".join(f"{label} " + ", ".join(f"{ms:.2f}" for ms in fig[key].by_process) for key, label in (("two", "1 box"), ("two_spread", "16 boxes"))))  # fmt: skip
    if count_results:
        say("\n== In-process: per request, SQL statements (SQLAlchemy's, the fast path's and the realtime bus's; BEGIN included) / commits / rows written ==")
        names = list(next(iter(count_results.values())).statements)
        say(f"  {'request':<32} " + " ".join(f"{k + ' stmts/commits/rows':>28}" for k in count_results))
        for name in names:
            say(f"  {name:<32} " + " ".join(f"{f'{c.statements[name]} / {c.commits[name]} / {c.rows_written[name]}':>28}" for c in count_results.values()))
        for kind, c in count_results.items():
            say(f"  {kind}: HEAD count runs COUNT(*): {'yes' if c.head_uses_count else 'no'}; JSON encodings per extra socket per post: {c.encodings_per_socket:.2f}")
        if args.show_sql:
            for kind, c in count_results.items():
                for name, sqls in c.sql_samples.items():
                    say(f"\n  [{kind}] {name}:")
                    for sql in sqls:
                        say("    " + " ".join(sql.split())[:220])
    if rss:
        say("\n== Peak RSS (VmHWM of the server's processes at the end of its runs) ==")
        say("  " + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()))

    # ------------------------------------------------------------------ targets
    bare_rows = results.get("bare", {})
    for kind in order:
        row = results[kind].get("post16")
        if row is None:
            continue
        if "post16" in bare_rows and bare_rows["post16"].load.rps:
            share = row.load.rps / bare_rows["post16"].load.rps
            report.target(f"POST 16 clients ≥ 20 % of bare req/s ({kind})", f"{100 * share:.1f} % ({fmt(row.load.rps)} / {fmt(bare_rows['post16'].load.rps)})", share >= TARGETS["post_share_of_bare"])
        report.target(f"POST server CPU ≤ 1 ms/request ({kind})", f"{row.cpu_ms:.2f} ms", row.cpu_ms <= TARGETS["post_cpu_ms"])
        report.target(f"POST 16 clients p99 < 50 ms ({kind})", f"{fmt(row.load.p99_ms)} ms", row.load.p99_ms < TARGETS["post_p99_ms"])
        if row.load.errors:
            report.target(f"POST 16 clients without errors ({kind})", row.load.error_text(), False)
    if "sqlite" in order and "postgres" in order and "post16" in results["sqlite"] and "post16" in results["postgres"]:
        s, p = results["sqlite"]["post16"].load, results["postgres"]["post16"].load
        report.target("POST on PostgreSQL within 1.5× of SQLite (req/s)", f"{s.rps / p.rps:.2f}× slower" if p.rps else "—", bool(p.rps) and s.rps / p.rps <= TARGETS["pg_vs_sqlite"])
    bare_workers = worker_results.get("bare")

    def bare_note(one: str, two: str, kind: str) -> str:  # the floors' own 1 → 2 in the same run
        floors = []
        for name, fig in (("bare endpoint", bare_workers), ("bare + one durable row per post", worker_results.get(f"bare+{kind}"))):
            if isinstance(fig, dict) and fig[one].load.rps:
                floors.append(f"{name} {fig[two].load.rps / fig[one].load.rps:.2f}×")
        return f" ({'; '.join(floors)})" if floors else ""
    for kind in dbs:
        fig = worker_results.get(kind)
        if fig is None:
            continue
        if isinstance(fig, str):
            report.target(f"--workers 1 → 2 ≥ 1.5× POST req/s ({kind})", fig, None)
        else:
            scale = fig["two"].load.rps / fig["one"].load.rps if fig["one"].load.rps else 0
            report.target(f"--workers 1 → 2 ≥ 1.5× POST req/s ({kind})", f"{scale:.2f}×{bare_note('one', 'two', kind)}; realtime {fig['realtime']}", scale >= TARGETS["workers_scaling"] and fig["realtime_ok"])
            scale = fig["two_spread"].load.rps / fig["one_spread"].load.rps if fig["one_spread"].load.rps else 0
            report.target(f"--workers 1 → 2 ≥ 1.5×, 16 boxes ({kind})", f"{scale:.2f}×{bare_note('one_spread', 'two_spread', kind)}", scale >= TARGETS["workers_scaling"] and fig["realtime_ok"])
    for kind in order:
        rows = results[kind]
        if "mixed" in rows and "idle" in rows:
            idle, busy = rows["idle"].load.p99_ms, rows["mixed"].extra["readers"].p99_ms
            figure = f"{fmt(busy)} vs {fmt(idle)} ms: {busy / idle:.1f}×"
            ok = busy / idle <= TARGETS["mixed_read_p99_vs_idle"]
            bare_idle = bare_rows.get("idle")
            if bare_idle is not None and rows["idle"].load.rps < 0.9 * bare_idle.load.rps:
                # The paced readers alone already queue (the bare endpoint serves them all):
                # "within 2x of idle" says nothing when idle is itself saturated.
                figure += f", but idle readers not served ({fmt(rows['idle'].load.rps)} of {fmt(bare_idle.load.rps)} req/s, p99 {idle / bare_idle.load.p99_ms:.0f}× bare's)"
                ok = False
            report.target(f"newest-page p99 under mixed load ≤ 2× idle ({kind})", figure, ok)
    for kind, per_query in read_results.items():
        b_label = size_label(big)
        for name, row in per_query.items():
            if name.startswith("offset"):
                continue
            ok = row.ratio <= TARGETS["big_vs_small"] and all(f.ok for f in row.figures.values())
            report.target(f"{name} at {b_label} ≤ 1.5× {size_label(small)}, after {row.executions} runs ({kind})", f"{row.ratio:.2f}× ({fmt(row.figures[b_label].p50_ms, 2)} ms)", ok)
    for kind, c in count_results.items():
        report.target(f"counts from maintained counters, not COUNT(*) ({kind})", "HEAD runs COUNT(*)" if c.head_uses_count else "no COUNT in HEAD", not c.head_uses_count)
        names = [n for n in c.statements if n.startswith("POST")]
        small_n, big_n = c.statements[names[0]], c.statements[names[1]]
        small_w, big_w = c.rows_written[names[0]], c.rows_written[names[1]]
        report.target(
            f"POST: O(1) statements and rows in member count ({kind})",
            f"{small_n} stmts, {small_w} rows at {SOAK_MEMBERS} members; {big_n} stmts, {big_w} rows at {FANOUT_MEMBERS:,}",
            big_n <= small_n and big_w <= small_w,
        )
        report.target(f"an event serialised once, not per socket ({kind})", f"{c.encodings_per_socket:.2f} encodings per extra socket", c.encodings_per_socket < 0.05)
    for name, fig in fan_results.items():
        if name == "bare":
            continue
        limit = TARGETS["fanout_p99_ms_two"] if "two" in name else TARGETS["fanout_p99_ms_one"]
        if isinstance(fig, str):
            report.target(f"fan-out to {subscribers:,}: p99 < {limit:.0f} ms ({name})", fig, None)
            continue
        complete = fig.delivered == fig.subscribers * fig.posts
        report.target(f"fan-out to {fig.subscribers:,}: p99 < {limit:.0f} ms ({name})", f"{fmt(fig.p99_ms)} ms" + ("" if complete else f", only {fig.delivered}/{fig.subscribers * fig.posts} delivered"), complete and fig.p99_ms < limit)
    for soak_rows, what in ((soak_results, ""), (soak_box_results, ", listing boxes")):
        for kind, row in soak_rows.items():
            if kind == "bare":
                continue  # the floor, printed in its table
            report.target(f"200 clients {soak_seconds} s{what}: 0 errors, p99 < 1 s ({kind})", f"{row.load.error_text()} errors, p99 {fmt(row.load.p99_ms)} ms",
                          row.load.errors == 0 and row.load.p99_ms < TARGETS["soak_p99_ms"])  # fmt: skip
    if report.targets:
        report.print_targets()
    load = os.getloadavg()
    say(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


async def bare_workers_scaling(runner: Runner, ds: Dataset, tmp: Path, log_level: str, db: WorkingDB | None = None) -> dict[str, Any]:
    """The bare endpoint with 1 and 2 uvicorn workers under the same ``wrk`` rows: how
    much a second process can add on this machine at all (wrk and the kernel share its
    cores), the floor :func:`workers_scaling` is read against. With ``db``, the bare
    endpoint plus one durable row per post in a table of that database
    (:class:`DurableRows`): what a second process can add to any server that commits
    each post before answering, with the database on the same cores."""
    figures: dict[str, Any] = {}
    tag = "bare" if db is None else f"bare+{db.kind}"
    script = runner.script(f"{tag}-workers", post_plan(ds, 16), [ds.body])
    spread = runner.script(f"{tag}-workers-spread", spread_plan(ds, 16), [ds.body])
    for name, n in (("one", 1), ("two", 2)):
        write = None if db is None else await floor_table(db, tmp)
        server = ServerProcess.bare(log_level, tmp, workers=n, write=write).start()
        try:
            figures[name] = await runner.drive(server, db, {"post": (script, 16)}, f"{tag}-workers{n}")
            figures[f"{name}_spread"] = await runner.drive(server, db, {"post": (spread, 16)}, f"{tag}-workers{n}-spread")
        finally:
            server.stop()
    figures["realtime"], figures["realtime_ok"] = "not applicable (bare)", True
    return figures


async def floor_table(db: WorkingDB, tmp: Path) -> str:
    """An empty table for :class:`DurableRows` beside ``db`` (SQLite: a file of its own;
    PostgreSQL: in the run's database); its ``BOXTUI_BENCH_BARE_WRITE`` value."""
    if db.kind == "sqlite":
        import sqlite3

        path = tmp / "floor.sqlite"
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(FLOOR_SCHEMA)
        finally:
            conn.close()
        return f"sqlite:{path}"
    import asyncpg

    dsn = _pg_dsn(db.pg_name)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        await conn.execute(FLOOR_SCHEMA_PG)
    finally:
        await conn.close()
    return f"postgres:{dsn}"


async def workers_scaling(runner: Runner, db: WorkingDB, ds: Dataset, tmp: Path, log_level: str) -> dict[str, Any] | str:
    if not serve_has_workers():
        return "not available (boxtui serve has no --workers)"
    figures: dict[str, Any] = {}
    script = runner.script(f"{db.kind}-workers", post_plan(ds, 16), [ds.body])
    spread = runner.script(f"{db.kind}-workers-spread", spread_plan(ds, 16), [ds.body])
    for name, n in (("one", 1), ("two", 2)):
        server = ServerProcess.boxtui(f"{db.kind}-workers{n}", db.url, tmp / f"data-{db.kind}-w{n}", log_level, workers=n).start()
        try:
            figures[name] = await runner.drive(server, db, {"post": (script, 16)}, f"{db.kind}-workers{n}")
            figures[f"{name}_spread"] = await runner.drive(server, db, {"post": (spread, 16)}, f"{db.kind}-workers{n}-spread")
            if n == 2:
                check = await fanout([server], ds, 20, 3)
                figures["realtime"] = f"{check.delivered}/{check.subscribers * check.posts} delivered"
                figures["realtime_ok"] = check.delivered == check.subscribers * check.posts
        finally:
            server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (3 s rows, 10 s soak, 10 fan-out posts, 10+10 read executions)")
    parser.add_argument("--only", default="", help="comma-separated parts: post,get,mixed,reads,fanout,soak,workers,counts")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk row (default 10, --quick 3)")
    parser.add_argument("--subscribers", type=int, default=FANOUT_MEMBERS, help=f"websocket subscribers in the fan-out runs (max {FANOUT_MEMBERS})")
    parser.add_argument("--fanout-receivers", type=int, default=2, help="client processes the fan-out sockets are spread over (default 2)")
    parser.add_argument("--small", type=int, default=SMALL_BIG[0], help="events in the small box (default 10,000)")
    parser.add_argument("--big", type=int, default=SMALL_BIG[1], help="events in the big box (default 1,000,000)")
    parser.add_argument("--no-cache", action="store_true", help="rebuild the data set even if a cached one matches")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level for both servers (default warning: no access log)")
    parser.add_argument("--py-spy", metavar="DIR", help="record each boxtui wrk row with py-spy (raw collapsed stacks) into DIR")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of each request in the in-process counts")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bare-workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--fanout-receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fanout_receiver:
        _receiver(json.loads(sys.stdin.readline()))
        return
    if args.bare_server:
        run_bare_server(args.bare_server, args.log_level, args.bare_workers)
        return
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    args.subscribers = max(2, min(args.subscribers, FANOUT_MEMBERS))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
