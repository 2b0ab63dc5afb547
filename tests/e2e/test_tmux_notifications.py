"""Notifications reach a real terminal: the real ``boxtui`` in tmux, a real ``boxtui serve``.

Ada's app runs in a background tmux window (as when she works in another window). Bob
writes in a box she does not have open, through the CLI. tmux then holds the proof:
the window's bell flag is up (tmux received the bell), and the pane's raw output
(``pipe-pane``) carries the desktop notification wrapped for tmux's passthrough (the
app sees ``$TMUX``), which tmux hands to the outer terminal with
``allow-passthrough on``. Then alt+a, typed as a terminal sends it (ESC a), opens that box.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PASSWORD

from tests.e2e.test_tmux import HEIGHT, WIDTH, cli, pytestmark, server_url, tmux_socket  # noqa: F401 - fixtures and marks

WINDOW = "reading:1"


def tmux(socket: str, *args: str) -> str:
    command = ["tmux", "-L", socket, "-f", "/dev/null", *args]  # no user config
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def wait_for(what: str, check, timeout: float = 30.0, shows=lambda: ""):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the terminal shows:\n{shows()}")
        time.sleep(0.1)
    return result


def test_bell_and_osc_notification_reach_tmux_and_alt_a_opens_the_box(server_url, tmp_path, tmux_socket) -> None:
    ada_home, bob_home = tmp_path / "ada", tmp_path / "bob"
    cli(ada_home, server_url, "signup", "--email", "ada@example.org", "--name", "Ada")
    cli(bob_home, server_url, "signup", "--email", "bob@example.org", "--name", "Bob")
    cli(ada_home, server_url, "create-box", "Quiet")
    busy = cli(ada_home, server_url, "create-box", "Busy")
    cli(ada_home, server_url, "access", busy, "add", "--email", "bob@example.org")
    assert cli(bob_home, server_url, "join", cli(ada_home, server_url, "invite", busy)) == busy

    # Window 0: a shell (the window Ada looks at); window 1: the app.
    tmux(tmux_socket, "new-session", "-d", "-s", "reading", "-x", str(WIDTH), "-y", str(HEIGHT), "sh")
    tmux(tmux_socket, "set", "-g", "allow-passthrough", "on")
    env = [f"BOXTUI_HOME={ada_home}", "TERM=xterm-256color", "COLORTERM=truecolor"]
    tmux(tmux_socket, "new-window", "-d", "-t", WINDOW, "env", *env, sys.executable, "-m", "boxtui", "--server", server_url)
    raw: Path = tmp_path / "pane-output"
    tmux(tmux_socket, "pipe-pane", "-o", "-t", WINDOW, f"cat >> {raw}")

    def screen() -> str:
        return tmux(tmux_socket, "capture-pane", "-p", "-t", WINDOW)

    wait_for("the unlock screen", lambda: "Unlock" in screen())
    tmux(tmux_socket, "send-keys", "-t", WINDOW, "-l", PASSWORD)
    tmux(tmux_socket, "send-keys", "-t", WINDOW, "Enter")
    wait_for("the box list", lambda: "Quiet" in screen() and "Filter boxes" in screen())
    tmux(tmux_socket, "send-keys", "-t", WINDOW, "-l", "Quiet")
    tmux(tmux_socket, "send-keys", "-t", WINDOW, "Enter")
    wait_for("Quiet open", lambda: "created the box" in screen() and "● live" in screen())

    cli(bob_home, server_url, "send", busy, "ping from bob")

    expected = b"\x1bPtmux;\x1b\x1b]777;notify;Busy;Bob: ping from bob\x07\x1b\\"
    wait_for("the OSC 777 notification in the pane's output", lambda: raw.exists() and expected in raw.read_bytes())
    assert b"\x1bPtmux;\x1b\x1b]9;Busy: Bob: ping from bob\x07\x1b\\" in raw.read_bytes()
    flags = wait_for(
        "tmux's bell flag on the app's window",
        lambda: "1" == tmux(tmux_socket, "display-message", "-p", "-t", WINDOW, "#{window_bell_flag}").strip(),
    )
    assert flags

    tmux(tmux_socket, "send-keys", "-t", WINDOW, "M-a")  # ESC a, as a terminal sends alt+a
    wait_for("Busy open by alt+a", lambda: "ping from bob" in screen() and "Busy  ·" in screen(), shows=screen)
