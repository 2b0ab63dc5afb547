"""Notifications (issue 9 part 5) against a real ``boxtui serve`` process (realtime needs
TCP): what the app writes to its terminal when a message arrives where the user is not
looking, per box level, never for one's own messages, with hostile names made harmless;
and ``@name`` mentions highlighted in the timeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxtui.client.client import BoxClient
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui import notifications
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.notify_level import NotifyLevelDialog
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.client.test_live_server import live_server  # noqa: F401 - a module-scoped fixture: one server here

from .conftest import CHEAP_KDF, PASSWORD, open_box, timeline_text, wait_until

pytestmark = pytest.mark.e2e

HOSTILE_TITLE = "Ops\x1b]0;pwned\x07[bold]x[/];\x9b31m"
HOSTILE_TEXT = "deploy\x1b]52;c;ZXZpbA==\x07 done\x07;[red]now[/]"


@pytest.fixture
async def live_user(live_server, tmp_path: Path):
    clients: list[BoxClient] = []

    async def make(name: str, display_name: str | None = None) -> Messenger:
        client = BoxClient(live_server.url)
        clients.append(client)
        email = f"{name}-{os.urandom(4).hex()}@example.org"
        await client.auth.signup(email, PASSWORD, display_name or name.title())
        messenger = Messenger(client, None, Profile.load(tmp_path / name), **CHEAP_KDF)
        await messenger.login_password(email, PASSWORD)
        return messenger

    yield make
    for client in clients:
        await client.aclose()


def terminal_output(app: BoxApp) -> list[str]:
    """Record what the app writes to its terminal from now on (the driver's ``write``)."""
    written: list[str] = []
    write = app._driver.write
    app._driver.write = lambda data: (written.append(data), write(data))
    return written


def notices(written: list[str]) -> list[str]:
    """The bell + desktop notifications among what was written."""
    return [data for data in written if data.startswith("\a")]


async def test_bell_and_desktop_notification_per_box_level(live_user, monkeypatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    ada, bob = await live_user("ada"), await live_user("bob", "Bob\x1b[2J\x07")
    here = await ada.create_box("Here")
    ops = await ada.create_box(HOSTILE_TITLE)
    for box in (here, ops):
        await ada.set_access_mode(box.id, True)
        await bob.join_link(await ada.invitation_link(box.id))
    app = BoxApp(ada)
    async with app.run_test(size=(100, 30)) as pilot:
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "● live" in header.render().plain, what="live")
        await open_box(pilot, app, "Here")
        screen = app.screen
        screen.notifier.interval = 0  # every message rings here (a burst rings once: unit-tested)
        written = terminal_output(app)

        # A message in a box that is not on screen: bell + OSC 777 + OSC 9, every
        # control character of the name, title and text gone, no ";" inside a field.
        await bob.send_text(ops.id, HOSTILE_TEXT)
        await wait_until(pilot, lambda: notices(written), what="a notification")
        [notice] = notices(written)
        title = "Ops[bold]x[/],"  # the OSC and the 8-bit CSI dropped whole, ";" made ","
        body = "Bob�: deploy done�,[red]now[/]"  # a lone BEL shows as "�"
        assert notice == f"\a\x1b]777;notify;{title};{body}\a\x1b]9;{title}: {body}\a"
        assert notice.count("\x1b") == 2 and notice.count("\a") == 3 and "\x9b" not in notice

        # On screen, focused: nothing; the same box with the terminal unfocused: rings.
        written.clear()
        await bob.send_text(here.id, "seen as it comes")
        await wait_until(pilot, lambda: "seen as it comes" in timeline_text(app))
        assert notices(written) == []
        app.app_focus = False
        await bob.send_text(here.id, "while you are away")
        await wait_until(pilot, lambda: notices(written), what="a notification while unfocused")
        assert "Here" in notices(written)[0] and "while you are away" in notices(written)[0]
        app.app_focus = True

        # One's own messages (from another device) never notify.
        written.clear()
        await ada.send_text(ops.id, "my own words")
        await wait_until(pilot, lambda: screen.box_list.row(ops.id).preview.endswith("my own words"))
        assert notices(written) == []

        # Ops set to "mentions" in the box's menu (alt+n): plain messages are quiet, an
        # @mention rings; the level is in config.toml.
        screen.open_box(ops.id)
        await wait_until(pilot, lambda: "Ops" in header.render().plain)
        await pilot.press("alt+n")
        await wait_until(pilot, lambda: isinstance(app.screen, NotifyLevelDialog), what="the level dialog")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, NotifyLevelDialog))
        assert ada.profile.config.notifications == {ops.id: "mentions"}
        assert f'"{ops.id}" = "mentions"' in ada.profile.config_path.read_text()
        assert Profile.load(ada.profile.home).config.notifications == {ops.id: "mentions"}
        screen.open_box(here.id)
        await wait_until(pilot, lambda: "Here" in header.render().plain)
        written.clear()
        await bob.send_text(ops.id, "nothing for ada")
        await wait_until(pilot, lambda: screen.box_list.row(ops.id).preview.endswith("nothing for ada"))
        assert notices(written) == []
        await bob.send_text(ops.id, "@ada please look")
        await wait_until(pilot, lambda: notices(written), what="a mention notification")
        assert "Bob\N{REPLACEMENT CHARACTER} mentioned you: @ada please look" in notices(written)[0]

        # "none": not even a mention.
        screen.open_box(ops.id)
        await wait_until(pilot, lambda: "Ops" in header.render().plain)
        await pilot.press("alt+n")
        await wait_until(pilot, lambda: isinstance(app.screen, NotifyLevelDialog))
        await pilot.press("down", "enter")  # the list starts on the level in force ("mentions")
        await wait_until(pilot, lambda: ada.profile.config.notifications == {ops.id: "none"})
        screen.open_box(here.id)
        await wait_until(pilot, lambda: "Here" in header.render().plain)
        written.clear()
        await bob.send_text(ops.id, "@Ada again")
        await wait_until(pilot, lambda: screen.box_list.row(ops.id).preview.endswith("@Ada again"))
        assert notices(written) == []


async def test_mentions_of_me_stand_out_in_the_timeline(live_user) -> None:
    ada, bob = await live_user("ada", "Ada Lovelace"), await live_user("bob")
    box = await ada.create_box("Talk")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    await bob.send_text(box.id, "ping @AdaLovelace and @ada, not @adam or mail@ada.org")
    app = BoxApp(ada)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_box(pilot, app, "Talk")
        await wait_until(pilot, lambda: "ping @AdaLovelace" in timeline_text(app))
        timeline = app.screen.query_one(BoxTimeline)
        mention = timeline.get_component_rich_style("timeline--mention")
        y = next(y for y in range(timeline.size.height) if "ping" in timeline.render_line(y).text)
        marked = [segment.text for segment in timeline.render_line(y) if segment.style == mention]
        assert marked == ["@AdaLovelace", "@ada"]


def test_tmux_passthrough_and_a_burst_rings_once() -> None:
    sequence = notifications.desktop_notification("Box", "Bob: hi", tmux=True)
    assert sequence == (
        "\x1bPtmux;\x1b\x1b]777;notify;Box;Bob: hi\a\x1b\\" "\x1bPtmux;\x1b\x1b]9;Box: Bob: hi\a\x1b\\"
    )
    now = [100.0]
    written: list[str] = []
    notifier = notifications.TerminalNotifier(written.append, tmux=False, interval=2.0, clock=lambda: now[0])
    assert notifier.notify("Box", "one") and not notifier.notify("Box", "two")
    now[0] += 2.5
    assert notifier.notify("Box", "three")
    assert [w.split(";")[-1] for w in written] == ["Box: one\a", "Box: three\a"]
