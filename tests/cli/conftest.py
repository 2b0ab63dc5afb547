"""A real ``boxtui serve`` process and a helper that runs ``python -m boxtui …`` in a profile."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, env_without_settings
from tests.server.helpers import serve_process


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any BOXTUI_* setting (but where the local
    server is looked for: never 8642 in a test), plus ``extra``."""
    return env_without_settings(**extra)


@pytest.fixture(scope="module")
def server_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server") / "data"


@pytest.fixture(scope="module")
def server_url(server_data_dir: Path) -> Iterator[str]:
    """``boxtui serve`` on a free loopback port, for the whole module."""
    with serve_process(server_data_dir) as url:
        yield url


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class UserHome:
    """One user's ``BOXTUI_HOME`` on this machine: ``run("send", box, "hi")``."""

    home: Path
    password: str = PASSWORD

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
