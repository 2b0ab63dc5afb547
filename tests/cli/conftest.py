"""A real ``boxtui serve`` process and a helper that runs ``python -m boxtui …`` in a profile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CLI_PASSWORD = "correct horse battery"
#: Cheap server-side password hashing for the test server.
FAST_SERVER_ENV = {"BOXTUI_ARGON2_TIME_COST": "1", "BOXTUI_ARGON2_MEMORY_KIB": "8192"}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any BOXTUI_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXTUI_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def server_url(server_data_dir: Path) -> Iterator[str]:
    """``boxtui serve`` on a free loopback port, for the whole module."""
    data_dir = server_data_dir
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data_dir / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "boxtui", "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(**FAST_SERVER_ENV),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"boxtui serve exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("boxtui serve did not answer /healthz within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class UserHome:
    """One user's ``BOXTUI_HOME`` on this machine: ``run("send", box, "hi")``."""

    home: Path
    password: str = CLI_PASSWORD

    def run(self, *args: str, stdin: str | None = None, password: bool = True) -> Result:
        env = clean_env(BOXTUI_HOME=str(self.home))
        if password:
            env["BOXTUI_PASSWORD"] = self.password
        done = subprocess.run(
            [sys.executable, "-m", "boxtui", *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=env,
            timeout=90,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> subprocess.Popen:
        """Start a verb that will read stdin (e.g. a login code) and return at once."""
        env = clean_env(BOXTUI_HOME=str(self.home), BOXTUI_PASSWORD=self.password)
        return subprocess.Popen(
            [sys.executable, "-m", "boxtui", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run a verb that must succeed quietly; its stdout."""
        result = self.run(*args, stdin=stdin)
        assert result.code == 0, f"boxtui {' '.join(args)} → {result.code}: {result.err}"
        assert result.err == "", result.err
        return result.out


@pytest.fixture
def profiles(tmp_path) -> callable:
    def make(name: str) -> UserHome:
        home = tmp_path / name
        home.mkdir()
        return UserHome(home)

    return make
