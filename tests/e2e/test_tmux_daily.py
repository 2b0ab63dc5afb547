"""Daily use over SSH, in real terminals (tmux): two people on one host, one local server.

Ada and Bob each have their own home (``HOME`` and the XDG folders), as two Unix
accounts would; neither passes a server URL: both find the host's local server at its
default address (moved off 8642 for the test), which Ada's ``boxtui server start``
started. Bob's display name is hostile (colour codes, a title-setting OSC, Rich markup,
a right-to-left override, zero-width characters); Ada's messages carry escape sequences,
markup and 20,000 characters. Ada works at 80×24, Bob at 120×40. What a person would
check by looking:

- nothing hostile drives the terminal or shifts a column: every row of the box list
  ends at the same border column, no raw escape reaches the screen;
- the footer keeps ``^q Quit`` at 80 and at 120 columns;
- coloured build output pasted into the composer arrives whole and in order, and the
  other person's timeline and box list show it without escape codes;
- a dialog open while the terminal shrinks to 40×12 and grows back survives;
- the server stopped and started again: the app says so, comes back by itself, and the
  draft in the composer is still there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, env_without_settings, free_port_block, stop_servers_under
from tests.e2e.test_tmux import Terminal

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

HOSTILE_NAME = "\x1b[31mBob\x1b[0m [b]Kahn[/b] \u202eevil\u202c zw\u200b\u200dend\x1b]0;pwned\x07"
SHOWN_NAME = "Bob [b]Kahn[/b] \ufffdevil\ufffd zwend"
HOSTILE_MESSAGE = "\x1b[1;31merror\x1b[0m: build [red]failed[/red] \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x07bell\x1b[2J"
BUILD_LOG = "\x1b[1;32m===\x1b[0m 3 passed \x1b[33min\x1b[0m 0.1s\nline2 \x1b[31mred\x1b[0m end"


class Person:
    """One user of the host: a home of their own, the local server found by default."""

    def __init__(self, root: Path, name: str, server_address: str) -> None:
        self.home = root / name
        self.home.mkdir(parents=True)
        self.env = env_without_settings(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_STATE_HOME=str(self.home / ".local/state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            BOXTUI_LOCAL_SERVER=server_address,
        )

    def cli(self, *args: str, stdin: str | None = None) -> str:
        env = {**self.env, "BOXTUI_PASSWORD": PASSWORD}
        done = subprocess.run(
            [sys.executable, "-m", "boxtui", *args], env=env, input=stdin, capture_output=True, text=True, timeout=90
        )
        assert done.returncode == 0, f"boxtui {args[0]} failed: {done.stderr}"
        return done.stdout.strip()

    def open_app(self, terminal: Terminal, width: int, height: int) -> None:
        env = {**{k: v for k, v in self.env.items() if k.startswith(("HOME", "XDG_", "BOXTUI_", "PATH"))},
               "TERM": "xterm-256color", "COLORTERM": "truecolor"}  # fmt: skip
        terminal.start([sys.executable, "-m", "boxtui"], env, width, height)
        terminal.wait_for(lambda s: "Unlock" in s, "the unlock screen", timeout=60)
        terminal.type(PASSWORD)
        terminal.key("Enter")
        terminal.wait_for(lambda s: "Builds" in s and "● live" in s, "the box list, live", timeout=60)


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    socket = f"boxtui-daily-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


@pytest.fixture
def people(tmp_path: Path) -> Iterator[tuple[Person, Person]]:
    address = f"127.0.0.1:{free_port_block()}"
    ada, bob = Person(tmp_path, "ada", address), Person(tmp_path, "bob", address)
    try:
        yield ada, bob
    finally:
        stop_servers_under(tmp_path)


def border_columns(screen: str, border: str) -> set[int]:
    """The columns where ``border`` stands, over every row that has it."""
    return {line.index(border) for line in screen.splitlines() if border in line}


def footer(screen: str) -> str:
    return [line for line in screen.splitlines() if line.strip()][-1]


def open_builds(terminal: Terminal) -> None:
    terminal.type("Builds")
    terminal.key("Enter")
    terminal.wait_for(lambda s: "members" in s and "Builds" in s.splitlines()[0], "Builds open")


def test_two_people_on_one_host_with_hostile_input_resizes_and_a_server_restart(people, tmux_socket) -> None:
    ada, bob = people
    url = ada.cli("server", "start")
    assert url.startswith("http://127.0.0.1:")
    ada.cli("signup", "--email", "ada@example.org", "--name", "Ada")
    bob.cli("signup", "--email", "bob@example.org", "--name", HOSTILE_NAME)
    box = ada.cli("create-box", "Builds")
    ada.cli("access", box, "add", "--email", "bob@example.org", "--auto-invite")
    ada.cli("send", "Builds", "-", stdin="L" * 20_000)
    ada.cli("send", "Builds", "-", stdin=HOSTILE_MESSAGE)
    bob.cli("send", "Builds", "hello from Bob")

    ada_terminal, bob_terminal = Terminal(tmux_socket, "ada"), Terminal(tmux_socket, "bob")
    ada.open_app(ada_terminal, 80, 24)
    bob.open_app(bob_terminal, 120, 40)

    # Bob's box list: his hostile name in the preview, cleaned, and every row's border in place.
    # (waiting for the footer too: a capture can land while the terminal is still being painted)
    screen = bob_terminal.wait_for(lambda s: SHOWN_NAME in s and "^q Quit" in footer(s), "Bob's name, cleaned, in the preview")
    assert "\x1b" not in screen and "pwned" not in screen
    assert len(border_columns(screen, "▕")) == 1, screen

    # Ada at 80x24: the box opens full width (the list is a drawer), the hostile message shows literally.
    open_builds(ada_terminal)
    screen = ada_terminal.wait_for(lambda s: "hello from Bob" in s and "^q Quit" in footer(s), "Bob's message in Ada's timeline")
    assert all(len(line) <= 80 for line in screen.splitlines())

    # Bob pastes a coloured build log into the composer and sends it.
    open_builds(bob_terminal)
    screen = bob_terminal.wait_for(lambda s: "[red]failed[/red]" in s, "the hostile message, literally")
    assert "error: build [red]failed[/red]" in screen and "\x1b" not in screen
    bob_terminal.paste(BUILD_LOG)
    screen = bob_terminal.wait_for(lambda s: "line2 red end" in s, "the paste in the composer")
    lines = screen.splitlines()
    first = next(i for i, line in enumerate(lines) if "=== 3 passed in 0.1s" in line)
    assert "line2 red end" in lines[first + 1]  # whole and in order, in the composer
    bob_terminal.key("Enter")
    screen = ada_terminal.wait_for(lambda s: "line2 red end" in s, "the build log on Ada's screen")
    lines = screen.splitlines()
    first = next(i for i, line in enumerate(lines) if "=== 3 passed in 0.1s" in line)
    assert "line2 red end" in lines[first + 1] and "[1;32m" not in screen
    ada_terminal.key("C-f")  # the drawer: the preview is clean too
    screen = ada_terminal.wait_for(lambda s: "Filter boxes" in s, "the drawer")
    assert f"{SHOWN_NAME}: === 3 passed"[:20] in screen and "[33m" not in screen
    assert len(border_columns(screen, "█")) == 1, screen  # the drawer's edge, straight
    ada_terminal.key("Escape")

    # A dialog open while the terminal shrinks to 40x12 and grows back.
    bob_terminal.key("C-l")
    bob_terminal.wait_for(lambda s: "Invitation to Builds" in s and "boxtui://" in s, "the invitation dialog")
    bob_terminal.resize(40, 12)
    bob_terminal.wait_for(lambda s: "Invitation to Builds" in s and max(map(len, s.splitlines())) <= 40, "the dialog at 40x12")
    bob_terminal.resize(120, 40)
    bob_terminal.wait_for(lambda s: "Limited: only people" in s and "Close" in s, "the dialog at 120x40 again")
    bob_terminal.key("Escape")
    screen = bob_terminal.wait_for(lambda s: "⏎ Send" in footer(s), "back in the composer")
    assert bob_terminal.alive() and "^q Quit" in footer(screen)

    # The server goes away and comes back: the draft stays, the app reconnects by itself.
    bob_terminal.type("a draft that must survive")
    bob_terminal.wait_for(lambda s: "a draft that must survive" in s, "the draft")
    ada.cli("server", "stop")
    bob_terminal.wait_for(lambda s: "reconnecting" in s.splitlines()[0], "the drop shown in the header")
    assert ada.cli("server", "start") == url  # the same address
    screen = bob_terminal.wait_for(lambda s: "● live" in s.splitlines()[0], "live again", timeout=60)
    assert "a draft that must survive" in screen
    ada_terminal.wait_for(lambda s: "● live" in s.splitlines()[0], "Ada live again", timeout=60)
    assert ada_terminal.alive() and bob_terminal.alive()
