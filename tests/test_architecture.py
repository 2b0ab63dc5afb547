"""Dependencies point one way (DESIGN.md): checked by importing in a fresh interpreter.

* the server imports neither the client nor the TUI nor Textual;
* the client imports neither the server, the crypto package, nor Textual;
* the CLI's scriptable verbs never import Textual (only the bare ``boxtui`` does).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_modules(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def under(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        ("from boxtui.server.app import create_app; import boxtui.server.models", ["boxtui.client", "boxtui.tui", "boxtui.messenger", "textual"]),
        ("import boxtui.client", ["boxtui.server", "boxtui.crypto", "boxtui.tui", "textual", "fastapi", "sqlalchemy"]),
        ("import boxtui.crypto", ["boxtui.server", "boxtui.client", "boxtui.tui", "textual", "httpx"]),
        ("import boxtui.core.wire", ["boxtui.server", "boxtui.client", "boxtui.tui", "textual"]),
        ("import boxtui.messenger.messenger", ["boxtui.server", "boxtui.tui", "textual"]),
        ("from boxtui.cli import build_parser; build_parser()", ["textual", "boxtui.tui", "boxtui.server", "fastapi"]),
    ],
)
def test_import_direction(statement: str, forbidden: list[str]) -> None:
    modules = loaded_modules(statement)
    leaked = {name: sorted(under(modules, name))[:3] for name in forbidden if under(modules, name)}
    assert leaked == {}, f"{statement!r} pulled in {leaked}"


def test_only_tui_imports_textual() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "boxtui"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "tui" not in path.relative_to(root).parts[:1]
        and any(line.lstrip().startswith(("import textual", "from textual")) for line in path.read_text().splitlines())
    ]
    assert offenders == []
