"""How the timeline scales: a box of 1,000 events against one of 100,000.

For each size the script

1. starts a real ``boxtui serve`` process (the app's own local-server starter);
2. builds the box: Ada signs up and creates the box through it (real keys), then the
   events are written straight into its SQLite database through the server's own ORM
   model (``EventRow``), each a real ``msg.text`` sealed to the box key with
   ``boxtui.crypto`` (300 distinct texts, reused; some long enough to wrap);
3. in a fresh process (so peak memory is the app's alone) resumes Ada's session with the
   real messenger and runs the real ``BoxTimeline`` in ``App.run_test()``, loading pages
   the way the main screen does (tail page first, then ``LoadOlder`` → ``timeline_page(
   before=…)`` → ``prepend_entries``), and measures
   - first paint: from the newest page's arrival (fetched and decrypted by the
     messenger, timed apart) to the end of the first painted frame,
   - per painted frame, over 400 page moves: the time the widget spends drawing the
     frame (one ``render_lines`` call, with the row cache emptied first so that every
     row is drawn cold at both sizes; a move that fetches a page paints twice, before
     and after the page lands, and both paints count), and per move the time from the
     key to the end of the painted frame (including any page fetched from the server
     meanwhile); moves go up through the
     history and turn back at its ends, so the 1k box is paged over and over while the
     100k box is walked through 400 screens of it,
   - peak memory: the peak RSS of that process (the app and messenger; the server
     runs in its own process).

It prints a table and the 100k/1k ratios against the targets (render cost within
1.2×, first paint < 300 ms, < 200 MB). Figures only, no asserts. Run:
``python benchmarks/timeline.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from boxtui.client import BoxClient
from boxtui.core.encoding import b64u_encode
from boxtui.messenger.embedded import LocalServer, ensure_local_server, stop_local_server
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui.screens.main import MAX_LOADED_EVENTS

SIZES = (1_000, 100_000)
PAGE = 200  # events per page fetched, like the main screen
MOVES = 400  # page moves measured per size
TERMINAL = (120, 40)
PASSWORD = "benchmark password"
DISTINCT_TEXTS = 300
TARGETS = {"ratio": 1.2, "first_paint_ms": 300.0, "rss_mb": 200.0}


# --------------------------------------------------------------------- building


def sample_texts(rng: random.Random) -> list[str]:
    words = "box key share link file meeting draft plan note reply edit later today morning team".split()
    texts = []
    for i in range(DISTINCT_TEXTS):
        length = rng.choice((3, 6, 10, 25, 60)) if i % 7 else 90  # a few wrap over several rows
        texts.append(f"#{i} " + " ".join(rng.choice(words) for _ in range(length)))
    return texts


async def build(size: int, profile: Profile, base_url: str, server_data: Path) -> str:
    """Sign Ada up and create the box through the server, then bulk-write ``size - 1``
    real encrypted messages into its database; return the box id."""
    from sqlalchemy import insert, select, update

    import boxtui.server.models  # noqa: F401 - every table, for the foreign keys
    from boxtui.crypto import seal_text
    from boxtui.server.boxes.models import BoxRow
    from boxtui.server.db import make_engine, make_sessionmaker
    from boxtui.server.events.models import EventRow
    from boxtui.server.settings import ServerSettings

    async with BoxClient(base_url) as client:
        ada = await Messenger.signup(client, profile, "ada@example.org", PASSWORD, "Ada", opslimit=1, memlimit=8192)
        box = await ada.create_box("Benchmark")
        public = ada.box_public_key(box.id)
    sealed = [seal_text(text, public) for text in sample_texts(random.Random(size))]
    public_b64 = b64u_encode(public)
    engine = make_engine(ServerSettings(data_dir=server_data).resolved_database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            create = (await db.execute(select(EventRow).where(EventRow.box_id == box.id))).scalar_one()
            start = create.created_at - timedelta(minutes=3 * size)
            await db.execute(update(EventRow).where(EventRow.id == create.id).values(created_at=start))
            batch = []
            for i in range(1, size):
                batch.append(
                    dict(
                        id=str(uuid.uuid4()),
                        box_id=box.id,
                        type="msg.text",
                        sender_id=ada.identity_id,
                        content={"encrypted": sealed[i % len(sealed)], "public_key": public_b64},
                        created_at=start + timedelta(minutes=3 * i),
                        visible=True,
                        active=True,
                    )
                )
                if len(batch) == 5000 or i == size - 1:
                    await db.execute(insert(EventRow), batch)
                    batch.clear()
            last = (await db.execute(select(EventRow.seq).order_by(EventRow.seq.desc()).limit(1))).scalar_one()
            await db.execute(update(BoxRow).where(BoxRow.id == box.id).values(last_event_seq=last))
            await db.commit()
    finally:
        await engine.dispose()
    return box.id


# --------------------------------------------------------------------- measuring


async def measure(root: Path, base_url: str, box_id: str, moves: int, max_loaded: int | None) -> dict:
    from textual.app import App, ComposeResult

    from boxtui.tui.widgets.timeline import BoxTimeline

    class MeasuredTimeline(BoxTimeline):
        """The real widget, timing each painted frame (one ``render_lines`` call, which
        draws every visible row through ``render_line``) with its row cache emptied first,
        so that every row of every frame is drawn cold at both sizes."""

        rows_rendered = 0
        last_render_end = 0.0
        #: (seconds, rows drawn) of each painted frame
        paints: list[tuple[float, int]] = []

        def render_line(self, y: int):
            strip = super().render_line(y)
            MeasuredTimeline.rows_rendered += 1
            MeasuredTimeline.last_render_end = time.perf_counter()
            return strip

        def render_lines(self, crop):
            self._strips.clear()
            rows_before = MeasuredTimeline.rows_rendered
            start = time.perf_counter()
            lines = super().render_lines(crop)
            MeasuredTimeline.paints.append((time.perf_counter() - start, MeasuredTimeline.rows_rendered - rows_before))
            return lines

    class Bench(App):
        def __init__(self, messenger: Messenger) -> None:
            super().__init__()
            self.messenger = messenger
            self.pages_loaded = 0
            self.fetch_seconds = 0.0

        def compose(self) -> ComposeResult:
            yield MeasuredTimeline(identity_id=self.messenger.identity_id, max_loaded=max_loaded)

        async def on_box_timeline_load_older(self, message: BoxTimeline.LoadOlder) -> None:
            start = time.perf_counter()
            older = await self.messenger.timeline_page(box_id, before=message.before_event_id, limit=PAGE)
            self.fetch_seconds += time.perf_counter() - start
            self.pages_loaded += 1
            message.timeline.prepend_entries(older)

        async def on_box_timeline_load_newer(self, message: BoxTimeline.LoadNewer) -> None:
            start = time.perf_counter()
            newer = await self.messenger.timeline_page(box_id, after=message.after_event_id, limit=PAGE)
            self.fetch_seconds += time.perf_counter() - start
            self.pages_loaded += 1
            message.timeline.extend_entries(newer)

    async with BoxClient(base_url) as client:
        messenger = await Messenger.resume(client, Profile.load(root / "ada"), password=PASSWORD)
        app = Bench(messenger)
        async with app.run_test(size=TERMINAL) as pilot:
            timeline = app.query_one(MeasuredTimeline)
            timeline.focus()
            await pilot.pause()

            await messenger.get_box(box_id)  # as the main screen does when a box opens
            start = time.perf_counter()
            page = await messenger.timeline_page(box_id, tail=True, limit=PAGE)
            fetched = time.perf_counter()
            timeline.set_entries(page, total_count=await messenger.count_events(box_id))
            await pilot.pause()
            first_paint = MeasuredTimeline.last_render_end - fetched

            frame_ms = []
            MeasuredTimeline.paints.clear()
            pages_before = app.pages_loaded
            move = timeline.action_page_up
            for _ in range(moves):
                if timeline.cursor_index == 0 and not timeline.has_older:
                    move = timeline.action_page_down
                elif timeline.cursor_index == len(timeline.entries) - 1 and not timeline.has_newer:
                    move = timeline.action_page_up
                begin = time.perf_counter()
                move()  # what pageup/pagedown run (pilot.press would add its idle waits)
                for _ in range(2):  # LoadOlder bubbles up to the app, which fetches and prepends
                    await pilot._wait_for_screen()
                app.screen._on_timer_update()  # paint now rather than at the next tick
                frame_ms.append((MeasuredTimeline.last_render_end - begin) * 1000)

            loaded = len(timeline.entries)
            render_ms = [seconds * 1000 for seconds, rows in MeasuredTimeline.paints if rows]
            rows_drawn = [rows for _, rows in MeasuredTimeline.paints if rows]

        return {
            "first_paint_ms": first_paint * 1000,
            "first_fetch_ms": (fetched - start) * 1000,
            "render_median_ms": statistics.median(render_ms),
            "render_p95_ms": statistics.quantiles(render_ms, n=20)[-1],
            "row_us": statistics.median(1000 * ms / rows for ms, rows in zip(render_ms, rows_drawn) if rows),
            "rows_per_frame": statistics.fmean(rows_drawn),
            "frame_mean_ms": statistics.fmean(frame_ms),
            "frame_p95_ms": statistics.quantiles(frame_ms, n=20)[-1],
            "paints": len(render_ms),
            "moves_fetching": app.pages_loaded - pages_before,
            "loaded_events": loaded,
            "pages_loaded": app.pages_loaded + 1,
            "fetch_ms_per_page": app.fetch_seconds * 1000 / max(1, app.pages_loaded),
            "rows": timeline.row_count,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


# --------------------------------------------------------------------- driver


def run_size(size: int, options: list[str]) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"boxtui-bench-{size}-"))
    profile = Profile.load(root / "ada")
    server = LocalServer.private(root / "server")
    try:
        base_url = ensure_local_server(server)  # a real ``boxtui serve`` process
        began = time.perf_counter()
        box_id = asyncio.run(build(size, profile, base_url, server.data_dir))
        build_seconds = time.perf_counter() - began
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(root), base_url, box_id, *options],
            capture_output=True,
            text=True,
        )
        if child.returncode:
            raise RuntimeError(f"measuring failed:\n{child.stderr}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result["build_s"] = build_seconds
        return result
    finally:
        stop_local_server(server)
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[int, dict], moves: int, max_loaded: int | None) -> None:
    (small_size, small), (big_size, big) = sorted(results.items())
    rows = [
        ("newest page: fetch + decrypt (ms)", "first_fetch_ms", "{:.1f}"),
        ("first paint after the page arrives (ms)", "first_paint_ms", "{:.1f}"),
        ("painted frames measured", "paints", "{:,}"),
        ("page moves that fetched a page", "moves_fetching", "{:,}"),
        ("render per frame, median (ms)", "render_median_ms", "{:.3f}"),
        ("render per frame, p95 (ms)", "render_p95_ms", "{:.3f}"),
        ("rows drawn per frame, mean", "rows_per_frame", "{:.1f}"),
        ("render per row drawn, median (µs)", "row_us", "{:.1f}"),
        ("key to painted frame, mean (ms)", "frame_mean_ms", "{:.1f}"),
        ("key to painted frame, p95 (ms)", "frame_p95_ms", "{:.1f}"),
        ("events loaded at the end", "loaded_events", "{:,}"),
        ("pages fetched", "pages_loaded", "{}"),
        ("server page fetch+decrypt (ms/page)", "fetch_ms_per_page", "{:.1f}"),
        ("rows in the widget at the end", "rows", "{:,}"),
        ("peak RSS (MB)", "rss_mb", "{:.1f}"),
        ("building the box (s)", "build_s", "{:.1f}"),
    ]
    label_width = max(len(label) for label, _, _ in rows)
    window = f", at most {max_loaded:,} events held" if max_loaded else ", every page kept"
    print(f"\nBoxTimeline, {moves} page moves at {TERMINAL[0]}x{TERMINAL[1]}, pages of {PAGE} events{window}\n")
    print(f"{'events in the box':{label_width}}  {small_size:>12,}  {big_size:>12,}")
    for label, key, fmt in rows:
        print(f"{label:{label_width}}  {fmt.format(small[key]):>12}  {fmt.format(big[key]):>12}")
    print()
    ratios = ", ".join(
        f"{name} {big[key] / small[key]:.2f}x"
        for name, key in (("per row", "row_us"), ("per frame median", "render_median_ms"), ("p95", "render_p95_ms"))
    )
    print(f"render cost {big_size:,}/{small_size:,}: {ratios}  (target <= {TARGETS['ratio']}x)")
    paint = max(small["first_paint_ms"], big["first_paint_ms"])
    print(f"first paint after the page arrives: {paint:.1f} ms at worst  (target < {TARGETS['first_paint_ms']:.0f} ms)")
    rss = max(small["rss_mb"], big["rss_mb"])
    print(f"peak RSS: {rss:.1f} MB at worst  (target < {TARGETS['rss_mb']:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs=3, metavar=("ROOT", "URL", "BOX"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs=2, default=SIZES, help="the two box sizes (default 1000 100000)")
    parser.add_argument("--moves", type=int, default=MOVES, help=f"page moves per size (default {MOVES})")
    parser.add_argument(
        "--max-loaded",
        type=int,
        default=MAX_LOADED_EVENTS,
        help=f"BoxTimeline(max_loaded=…); default {MAX_LOADED_EVENTS:,} as the app's main screen, 0 keeps every page",
    )
    args = parser.parse_args()
    if args.measure:
        root, url, box_id = args.measure
        print(json.dumps(asyncio.run(measure(Path(root), url, box_id, args.moves, args.max_loaded))))
        return
    options = ["--moves", str(args.moves)] + (["--max-loaded", str(args.max_loaded)] if args.max_loaded else [])
    results = {}
    for size in args.sizes:
        print(f"{size:,} events: building and measuring …", flush=True)
        results[size] = run_size(size, options)
    report(results, args.moves, args.max_loaded)


if __name__ == "__main__":
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    main()
