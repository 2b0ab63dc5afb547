"""Every key tells the truth, in every place the app can be (issue 9, parts 2 and 7).

Each dialog is opened on a real app at 80×24 (the design size) and every field of it
gets the focus in turn; so does every part of the main screen, at 80×24 and 120×40.
In each of those places:

- no key has two bindings in force for different things (the one nearer the focus
  would silently win: ctrl+a "Apply" under the value field's "start of line");
- the footer shows whole keys that fit, ``^q Quit`` and ``f1 Help`` first on the main
  screen, and the dialog's own keys in a dialog;
- the dialog fits 80×24 without scrolling;

and a terminal shrunk to 40×12 with the dialog open, then grown back, breaks nothing:
no exception, the same dialog, what was typed still there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.app import App
from textual.binding import Binding
from textual.command import CommandPalette
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from boxtui.messenger.messenger import Messenger
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.main import MainScreen
from boxtui.tui.widgets.footer import BoxFooter
from boxtui.tui.widgets.timeline import BoxTimeline

from .conftest import footer_text, open_box, run_command, type_text, wait_until, wait_until_settled

DESIGN = (80, 24)


#: Textual's own copy keys, one verb at every level (copy the selection; at the app, say
#: how to quit): not two meanings.
SAME_VERB = {
    "copy": "copy",
    "copy_text": "copy",
    "help_quit": "copy",
    # The app's Tab, which moves the focus as the key arrives (typed-ahead keys), is the screen's.
    "move_focus(True)": "focus_next",
    "move_focus(False)": "focus_previous",
}
VERTICAL_SCROLLS = {"scroll_up", "scroll_down", "page_up", "page_down", "scroll_home", "scroll_end"}


#: (near, far): the near binding does the far one's job when it has nothing else to do
#: (Tab in a path field completes, and moves on once the path is complete).
FALLS_BACK = {("complete", "focus_next")}


def _verb(action: str) -> str:
    name = action.rpartition(".")[2]
    return SAME_VERB.get(name, name)


def _in_force(app: App, namespace: DOMNode, binding: Binding) -> bool:
    if app._check_action_state(binding.action, namespace) is False:
        return False  # check_action hides it here
    if binding.action in VERTICAL_SCROLLS and isinstance(namespace, Widget) and not namespace.allow_vertical_scroll:
        return False  # a one-line field's inherited scroll keys skip to the next binding
    return True


def shadowed_bindings(screen: Screen) -> list[str]:
    """Keys with two bindings in force for different actions where the focus is now."""
    app = screen.app
    first: dict[str, tuple[DOMNode, Binding]] = {}
    found = []
    for namespace, bindings in screen._modal_binding_chain:
        for key, binding in bindings:
            if not _in_force(app, namespace, binding):
                continue
            if key not in first:
                first[key] = (namespace, binding)
                continue
            near, winner = first[key]
            near_verb, far_verb = _verb(winner.action), _verb(binding.action)
            if near_verb != far_verb and (near_verb, far_verb) not in FALLS_BACK:
                found.append(
                    f"{key}: {type(near).__name__} {winner.action!r} hides {type(namespace).__name__} {binding.action!r}"
                )
    return found


def check_footer(app: App, width: int) -> str:
    """The footer's text; its keys fit the width, each whole."""
    footer = app.screen.query_one(BoxFooter)
    text = footer_text(app)
    shown = footer.shown_bindings()
    assert sum(footer._key_width(binding) for binding, _, _ in shown) <= footer._room(), text
    assert cell_len(text) <= width, text
    return text


def focusables(screen: Screen) -> list[Widget]:
    return [widget for widget in screen.focus_chain if widget.focusable]


async def walk_focus(pilot, where: str) -> list[str]:
    """Give the focus to every focusable widget of the screen on top; what is wrong in each."""
    app = pilot.app
    problems = []
    for widget in focusables(app.screen):
        widget.focus()
        await pilot.pause()
        label = f"{where} / {type(widget).__name__}#{widget.id}"
        problems += [f"{label}: {problem}" for problem in shadowed_bindings(app.screen)]
        check_footer(app, app.size.width)
    return problems


@pytest.fixture
async def ada(user, tmp_path: Path) -> Messenger:
    """Ada, admin of "Plans" (Bob is a member): a message each, and a file from Bob;
    "Team" to forward to."""
    ada, bob = await user("ada"), await user("bob")
    await ada.create_box("Team")
    box = await ada.create_box("Plans")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    await ada.send_text(box.id, "Shall we meet on Thursday?")
    report = tmp_path / "report.txt"
    report.write_text("figures\n")
    await bob.upload_file(box.id, report)
    await bob.send_text(box.id, "Thursday works.")
    return ada


async def opened(pilot, app: BoxApp) -> MainScreen:
    await open_box(pilot, app, "Plans")
    screen = app.screen
    timeline = screen.query_one(BoxTimeline)
    await wait_until(pilot, lambda: len([e for e in timeline.entries if e.is_message or e.file is not None]) >= 3, what="the messages")
    await wait_until_settled(pilot)
    return screen


def select(timeline: BoxTimeline, predicate) -> None:
    assert timeline.select_event(next(entry.event.id for entry in timeline.entries if predicate(entry)))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_main_screen_keys_and_footer_everywhere(ada, size) -> None:
    app = BoxApp(ada)
    async with app.run_test(size=size) as pilot:
        screen = await opened(pilot, app)
        timeline = screen.query_one(BoxTimeline)
        select(timeline, lambda e: e.text == "Shall we meet on Thursday?")
        problems = []
        places = [("filter", screen.box_list.query_one(Input)), ("timeline", timeline), ("composer", screen.composer.input)]
        for where, widget in places:
            if where == "filter" and size[0] < 100:
                await pilot.press("ctrl+f")  # the drawer
            widget.focus()
            await pilot.pause()
            problems += [f"{where}: {p}" for p in shadowed_bindings(screen)]
            text = check_footer(app, size[0])
            assert text.startswith(("^f Boxes  f1 Help  ^q Quit")), f"{where}: {text}"
        assert not problems, "\n".join(problems)


#: name → how to open it from the main screen with "Plans" open (Ada is its admin).
async def _key(pilot, key: str) -> None:
    await pilot.press(key)


async def _on_timeline(pilot, key: str, predicate) -> None:
    timeline = pilot.app.screen.query_one(BoxTimeline)
    timeline.focus()
    select(timeline, predicate)
    await pilot.press(key)


async def _palette(pilot, text: str) -> None:
    await run_command(pilot, pilot.app, text)


OPENERS = {
    "new_box": lambda pilot: _key(pilot, "ctrl+n"),
    "join": lambda pilot: _key(pilot, "ctrl+o"),
    "invitation": lambda pilot: _key(pilot, "ctrl+l"),
    "members": lambda pilot: _key(pilot, "ctrl+b"),
    "access": lambda pilot: _key(pilot, "ctrl+r"),
    "upload": lambda pilot: _key(pilot, "ctrl+t"),
    "saved_files": lambda pilot: _key(pilot, "ctrl+s"),
    "settings": lambda pilot: _key(pilot, "f2"),
    "help": lambda pilot: _key(pilot, "f1"),
    "search": lambda pilot: _on_timeline(pilot, "slash", lambda e: e.is_message),
    "confirm_delete": lambda pilot: _on_timeline(pilot, "d", lambda e: e.text == "Shall we meet on Thursday?"),
    "forward": lambda pilot: _on_timeline(pilot, "f", lambda e: e.text == "Thursday works."),
    "save_download": lambda pilot: _on_timeline(pilot, "w", lambda e: e.file is not None),
    "import_email": lambda pilot: _palette(pilot, "Import an e-mail"),
}


@pytest.mark.parametrize("name", list(OPENERS))
async def test_dialog_keys_footer_fit_and_a_40x12_terminal(ada, name) -> None:
    app = BoxApp(ada)
    async with app.run_test(size=DESIGN) as pilot:
        main = await opened(pilot, app)
        await OPENERS[name](pilot)
        await wait_until(pilot, lambda: app.screen is not main and not isinstance(app.screen, CommandPalette), what=name)
        dialog = app.screen
        await wait_until_settled(pilot)

        problems = await walk_focus(pilot, name)
        assert not problems, "\n".join(problems)
        footer = footer_text(app)
        for main_key in ("^n New box", "^o Join", "^f Boxes"):
            if name not in ("help",):
                assert main_key not in footer, f"{name}: the main screen's {main_key} in the dialog's footer: {footer}"
        frame = next(widget for widget in dialog.children if not isinstance(widget, BoxFooter))
        assert frame.region.bottom <= DESIGN[1] - 1 and frame.region.right <= DESIGN[0], f"{name} does not fit 80x24: {frame.region}"
        assert frame.max_scroll_y == 0, f"{name} needs scrolling at 80x24"

        # Something typed, then the terminal shrinks to 40x12 and grows back.
        fields = [w for w in focusables(dialog) if isinstance(w, Input) and not w.disabled]
        if fields:
            fields[0].focus()
            fields[0].value = "draft text"
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert app.screen is dialog
        await walk_focus(pilot, f"{name} at 40x12")  # the footer still fits, nothing raises
        await pilot.resize_terminal(*DESIGN)
        await pilot.pause()
        assert app.screen is dialog and app.return_code is None
        if fields:
            assert fields[0].value == "draft text"
    assert app._exception is None


async def test_delete_is_offered_on_own_messages_and_to_the_admin_only(ada, device) -> None:
    """Bob (a member) sees no ``d Delete`` on Ada's message and the key does nothing
    there; on his own it is offered. Ada, the box's admin, may delete his."""
    from tests.conftest import PASSWORD

    bob = device("bob")
    await bob.login_password("bob@example.org", PASSWORD)
    for who, own, other in ((bob, "Thursday works.", "Shall we meet on Thursday?"), (ada, "Shall we meet on Thursday?", "Thursday works.")):
        app = BoxApp(who)
        async with app.run_test(size=DESIGN) as pilot:
            screen = await opened(pilot, app)
            timeline = screen.query_one(BoxTimeline)
            timeline.focus()
            select(timeline, lambda e: e.text == own)
            await pilot.pause()
            assert "d Delete" in footer_text(app), footer_text(app)
            select(timeline, lambda e: e.text == other)
            await pilot.pause()
            if who is bob:
                assert "d Delete" not in footer_text(app) and "e Edit" not in footer_text(app)
                await pilot.press("d")
                await pilot.pause()
                assert app.screen is screen  # no confirmation for a delete the server would refuse
            else:
                assert "d Delete" in footer_text(app)  # the admin moderates
                assert "e Edit" not in footer_text(app)  # but edits only her own


async def test_the_main_screen_at_40x12_keeps_working(ada) -> None:
    app = BoxApp(ada)
    async with app.run_test(size=DESIGN) as pilot:
        screen = await opened(pilot, app)
        await type_text(pilot, "half-typed")
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        text = check_footer(app, 40)
        assert "^q Quit" in text
        await pilot.press("ctrl+f")  # the drawer at 40 columns
        await wait_until(pilot, lambda: screen.drawer_open, what="the drawer")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.drawer_open, what="the drawer closed")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert screen.composer.text == "half-typed"
        assert "^q Quit" in check_footer(app, 120)
    assert app._exception is None
