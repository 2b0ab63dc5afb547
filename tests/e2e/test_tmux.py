"""The real ``boxtui`` in real terminals (tmux), two people against a real ``boxtui serve``.

Ada and Bob each have a profile folder (``BOXTUI_HOME``). Setup goes through the CLI:
both sign up, Ada creates a box, lets Bob in and gives him the invitation link, Bob
joins. Then each runs the app in a tmux session of 120x40 on a private tmux server,
unlocks it with the password, opens the box by typing its name in the box filter; Ada
types a message into the composer and Bob's terminal shows it (``tmux capture-pane``,
polled until a timeout).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, env_without_settings
from tests.server.helpers import serve_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

WIDTH, HEIGHT = 120, 40


class Terminal:
    """One tmux session on a private tmux server (its own socket)."""

    def __init__(self, socket: str, name: str) -> None:
        self.socket = socket
        self.name = name

    def tmux(self, *args: str) -> str:
        command = ["tmux", "-L", self.socket, "-f", "/dev/null", *args]  # no user config
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def start(self, command: list[str], env: dict[str, str], width: int = WIDTH, height: int = HEIGHT) -> None:
        exports = [f"{key}={value}" for key, value in env.items()]
        # The pane gets its size first, the program second: a detached session can start
        # at tmux's default size and be resized a moment later, after the program read it.
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), "sleep", "3600")
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on")  # a crash stays readable
        size = self.tmux("display-message", "-p", "-t", self.name, "#{window_width}x#{window_height}").strip()
        assert size == f"{width}x{height}", size
        # Under pytest the pane's environment says COLUMNS=80 LINES=24, which programs
        # believe over the terminal itself: gone, so the program sees the pane's size.
        self.tmux("respawn-pane", "-k", "-t", self.name, "env", "-u", "COLUMNS", "-u", "LINES", *exports, *command)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def paste(self, text: str) -> None:
        """Paste ``text`` as a terminal does: bracketed (``paste-buffer -p``), in one piece."""
        buffer = f"paste-{self.name}"
        self.tmux("set-buffer", "-b", buffer, "--", text)
        self.tmux("paste-buffer", "-p", "-d", "-b", buffer, "-t", self.name)

    def alive(self) -> bool:
        return self.tmux("display-message", "-p", "-t", self.name, "#{pane_dead}").strip() == "0"

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def key(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}; the terminal shows:\n{screen}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    with serve_process(tmp_path_factory.mktemp("tmux-server") / "data") as server:
        yield server.url


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    socket = f"boxtui-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def cli(home: Path, url: str, *args: str) -> str:
    """Run ``boxtui --server URL ARGS`` for the profile ``home``; its stdout."""
    env = {**_clean_env(), "BOXTUI_HOME": str(home), "BOXTUI_PASSWORD": PASSWORD}
    done = subprocess.run(
        [sys.executable, "-m", "boxtui", "--server", url, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"boxtui {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def _clean_env() -> dict[str, str]:
    return env_without_settings()


def open_app(terminal: Terminal, home: Path, url: str, box_title: str) -> None:
    """Start the app, unlock it, open the box: what a user types."""
    env = {"BOXTUI_HOME": str(home), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    terminal.start([sys.executable, "-m", "boxtui", "--server", url], env)
    terminal.wait_for(lambda s: "Unlock" in s, "the unlock screen")
    terminal.type(PASSWORD)
    terminal.key("Enter")
    terminal.wait_for(lambda s: box_title in s and "Filter boxes" in s, "the box list")
    terminal.type(box_title)
    terminal.key("Enter")
    terminal.wait_for(lambda s: "joined" in s, f"the timeline of {box_title}")


def test_a_message_typed_by_one_user_appears_on_the_other_screen(server_url, tmp_path, tmux_socket) -> None:
    ada_home, bob_home = tmp_path / "ada", tmp_path / "bob"
    cli(ada_home, server_url, "signup", "--email", "ada@example.org", "--name", "Ada")
    cli(bob_home, server_url, "signup", "--email", "bob@example.org", "--name", "Bob")
    box_id = cli(ada_home, server_url, "create-box", "Terminal talk")
    cli(ada_home, server_url, "access", box_id, "add", "--email", "bob@example.org")
    link = cli(ada_home, server_url, "invite", box_id)
    assert cli(bob_home, server_url, "join", link) == box_id

    ada, bob = Terminal(tmux_socket, "ada"), Terminal(tmux_socket, "bob")
    open_app(ada, ada_home, server_url, "Terminal talk")
    open_app(bob, bob_home, server_url, "Terminal talk")

    message = f"Hello Bob from tmux {uuid.uuid4().hex[:6]}"
    ada.type(message)
    ada.key("Enter")
    ada.wait_for(lambda s: message in s, "her own message in her timeline")
    screen = bob.wait_for(lambda s: message in s, "Ada's message on Bob's screen")
    line = next(row for row in screen.splitlines() if message in row)
    assert "Ada" in line  # shown as hers, in the timeline row
