"""The README's CLI example, run as written by bash from a fresh home.

A new ``$HOME`` (so ``~/.boxtui-bot`` is fresh), the venv's ``boxtui`` on ``PATH``, a
project folder with a ``Makefile`` and ``dist/app.tar.gz``; no server configured, so
the first command starts the host's local server — moved by the ``local_server``
fixture to a free port block: the real one would be 127.0.0.1:8642.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (shutil.which("jq") and shutil.which("make")), reason="the example pipes through make and jq"),
]

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_cli_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Scripting: the CLI") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_cli_example_works_as_written_from_a_fresh_home(tmp_path, local_server):
    home, project = tmp_path / "home", tmp_path / "project"
    (project / "dist").mkdir(parents=True)
    home.mkdir()
    (project / "Makefile").write_text("all:\n\t@echo 'build 42 passed'\n")
    (project / "dist" / "app.tar.gz").write_bytes(os.urandom(4096))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXTUI_")}
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        BOXTUI_LOCAL_SERVER=os.environ["BOXTUI_LOCAL_SERVER"],
    )
    script = readme_cli_example()
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert '"build 42 passed"' in lines  # jq .text of the message sent from make's output
    port = local_server.port
    assert any(re.fullmatch(rf"boxtui://127\.0\.0\.1:{port}/boxes/[0-9a-f-]{{36}}#\S+", line) for line in lines)
    assert done.stderr.startswith(f"boxtui: Started the local server at {local_server.url}")
    assert "ada@example.org has no account yet" in done.stderr
    assert (home / ".boxtui-bot" / "session.json").exists()
