"""A box history made through the real server, and a bare app to show it in, for the
timeline tests and snapshots.

:func:`seed_history` runs the real server in-process (SQLite), signs up three people
with the real messenger (real keys, real encryption), and makes one box go through
every kind of event a timeline shows. It returns what Ada's device decrypts, before
and after a last round of edits, deletes and a new message, plus the raw events of
that round, as the realtime socket would deliver them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from textual import on
from textual.app import App, ComposeResult

from boxtui.client import BoxClient
from boxtui.core.timefmt import format_time
from boxtui.core.wire import EventView
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.models import TimelineEntry
from boxtui.messenger.profile import Profile
from boxtui.server.app import create_app
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.conftest import PASSWORD, make_settings
from tests.messenger.conftest import CHEAP_KDF

#: Loopback, so invitation links may be plain http (the transport never dials it).
BASE_URL = "http://127.0.0.1:8642"
MARKUP_TEXT = "[bold]x[/] and [link=http://evil]click[/link] stay literal"
LONG_TEXT = (
    "This message is long enough to wrap over several rows of the timeline, because it "
    "keeps going with words and more words until the line is full and then some more."
)
#: Terminal escapes, a bidi override and wide characters: drawn, never obeyed.
CONTROL_TEXT = "\x1b[31mred\x1b[0m \u202eevil\u202c\tend 日本語"
FILE_NAME = "report-2026.pdf"
FILE_SIZE = 123_456


class TimelineHost(App):
    """A bare app holding one timeline; records what the timeline posts."""

    def __init__(self, **timeline_options) -> None:
        super().__init__()
        self.timeline_options = {"timezone": timezone.utc, **timeline_options}
        self.load_requests: list[str] = []
        self.actions: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield BoxTimeline(**self.timeline_options)

    def on_mount(self) -> None:
        self.query_one(BoxTimeline).focus()

    def on_box_timeline_load_older(self, message: BoxTimeline.LoadOlder) -> None:
        self.load_requests.append(message.before_event_id)

    @on(BoxTimeline.EntryAction)
    def record_action(self, message: BoxTimeline.EntryAction) -> None:
        self.actions.append((type(message).__name__, message.entry.event.id))


@dataclasses.dataclass
class History:
    """Ada's view of the box ``Plans``; ``ids`` names the interesting events."""

    before: list[TimelineEntry]  # every event before the last round
    after: list[TimelineEntry]  # every event after it (edits and deletes folded in)
    edit: EventView  # raw msg.edit of ids["edited"]
    delete: EventView  # raw msg.delete of ids["deleted"]
    late: TimelineEntry  # the message posted in the last round
    ids: dict[str, str]
    ada: Messenger  # decrypts offline (key store in memory)

    def entry(self, name: str, *, after: bool = False) -> TimelineEntry:
        wanted = self.ids[name]
        return next(e for e in (self.after if after else self.before) if e.event.id == wanted)


def messenger_client(app) -> BoxClient:
    return BoxClient(BASE_URL, transport=httpx.ASGITransport(app=app))


async def sign_up(stack: AsyncExitStack, app, home: Path, name: str) -> Messenger:
    client = await stack.enter_async_context(messenger_client(app))
    return await Messenger.signup(
        client, Profile.load(home / name), f"{name}@example.org", PASSWORD, name.title(), **CHEAP_KDF
    )


async def _seed(tmp: Path) -> History:
    app = create_app(make_settings(tmp / "server"))
    ids: dict[str, str] = {}
    async with app.router.lifespan_context(app), AsyncExitStack() as stack:
        ada, bob, carol = [await sign_up(stack, app, tmp, name) for name in ("ada", "bob", "carol")]
        box = (await ada.create_box("Plans")).id
        link = await ada.invitation_link(box)
        await ada.set_access_mode(box, True)
        await bob.join_link(link)
        ids["markup"] = (await ada.send_text(box, MARKUP_TEXT)).id
        ids["reply"] = (await bob.send_text(box, "Sounds good to me", reply_to=ids["markup"])).id
        ids["control"] = (await bob.send_text(box, CONTROL_TEXT)).id
        ids["long"] = (await ada.send_text(box, LONG_TEXT)).id
        ids["edited"] = (await ada.send_text(box, "Meeting at 10h")).id
        ids["deleted"] = (await ada.send_text(box, "Oops, wrong box")).id
        ids["previously_edited"] = (await ada.send_text(box, "frist draft")).id
        await ada.edit_text(box, ids["previously_edited"], "first draft")
        path = tmp / FILE_NAME
        path.write_bytes(b"%PDF" + bytes(FILE_SIZE - 4))
        ids["file"] = (await ada.upload_file(box, path)).id
        await ada.save_file(ids["file"])
        ids["other_file"] = (await bob.upload_file(box, path, reply_to=ids["long"])).id
        ids["undecryptable"] = (
            await bob.client.events.post(box, "msg.text", {"encrypted": "bm90IGEgY3J5cHRvZ3JhbQ"})
        ).id
        link = await ada.rotate_invitation(box)
        await carol.join_link(link)
        await carol.leave(box)
        await ada.set_access_mode(box, False)
        rule = next(r for r in await ada.accesses(box) if r.value == "bob@example.org")
        await ada.apply_access_batch(box, remove=[rule.id])  # Bob is kicked
        await ada.set_lifecycle(box, True)
        await ada.set_lifecycle(box, False)

        before = await ada.all_events(box)
        delete = await ada.delete_message(box, ids["deleted"])
        edit = await ada.edit_text(box, ids["edited"], "Meeting at 11h")
        late = await ada.send_text(box, "A late message")
        ids["late"] = late.id
        after = await ada.all_events(box)
    return History(before, after, edit, delete, ada.decrypt_event(late), ids, ada)


_shared: list[History] = []


def shared_history(tmp_path_factory) -> History:
    """The history, built once per test session (about two seconds).

    Sync (its own event loop), so module-scoped fixtures can call it; the entries are
    plain data afterwards and ``History.ada.decrypt_event`` works offline.
    """
    if not _shared:
        _shared.append(asyncio.run(_seed(tmp_path_factory.mktemp("timeline-history"))))
    return _shared[0]


def at_fixed_times(entries: list[TimelineEntry], start: datetime, step: timedelta) -> list[TimelineEntry]:
    """The same entries with stable times (for snapshots): ``start``, ``start + step``, …"""
    shifted = []
    for i, entry in enumerate(entries):
        when = format_time(start + i * step)
        update = {"server_event_created_at": when}
        if entry.event.last_edited_at:
            update["content"] = {**entry.event.content, "last_edited_at": when}
        shifted.append(dataclasses.replace(entry, event=entry.event.model_copy(update=update)))
    return shifted


FIXED_START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
