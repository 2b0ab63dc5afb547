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


def test_the_apps_first_frame_needs_no_http_client_crypto_or_store(tmp_path) -> None:
    """The login and unlock screens paint with Textual and the profile only (issue 10):
    httpx, pydantic, pynacl, the store and the messenger load after the first frame."""
    from boxtui.messenger.profile import Profile, SavedSession

    back = Profile.load(tmp_path / "back")
    identity = {"id": "00000000-0000-4000-8000-000000000000", "display_name": "Ada", "identifier_value": "ada@example.org"}
    back.save_session(SavedSession("t", "c", identity, "http://127.0.0.1:9", 2, "2099-01-01T00:00:00Z"))
    script = tmp_path / "first_frame.py"
    script.write_text(
        "import json, sys\n"
        "from pathlib import Path\n"
        "import boxtui.tui.app\n"
        "from boxtui.tui.app import BoxApp\n"
        "from boxtui.messenger.profile import Profile\n"
        "class FirstFrame(BoxApp):\n"
        "    CSS_PATH = str(Path(boxtui.tui.app.__file__).with_name(BoxApp.CSS_PATH))\n"
        "    def warm_up(self):\n"
        "        pass  # what the session needs would load now, in a thread\n"
        "    def on_mount(self):\n"
        "        super().on_mount()\n"
        "        self.call_after_refresh(self.painted)\n"
        "    def painted(self):\n"
        "        print(json.dumps([type(self.screen).__name__, sorted(sys.modules)]))\n"
        "        self.exit()\n"
        "FirstFrame(profile=Profile.load(Path(sys.argv[1])), server_url='http://127.0.0.1:9').run(headless=True)\n"
    )
    for home, screen in ((tmp_path / "new", "LoginScreen"), (tmp_path / "back", "UnlockScreen")):
        out = subprocess.run([sys.executable, str(script), str(home)], check=True, capture_output=True, text=True).stdout
        painted, modules = json.loads(out.strip().splitlines()[-1])
        assert painted == screen
        loaded = {name: sorted(under(set(modules), name))[:3] for name in ("httpx", "pydantic", "nacl", "apsw", "boxtui.client", "boxtui.crypto", "boxtui.store", "boxtui.messenger.messenger")}
        assert {name: found for name, found in loaded.items() if found} == {}, f"the {screen} waited for these"


def test_a_plain_http_client_builds_no_tls_context() -> None:
    """httpx loads the CA bundle for every client (100-250 ms) unless told otherwise:
    a client of an http:// server never uses it; an https:// one always verifies."""
    code = (
        "import ssl\n"
        "loaded = []\n"
        "real = ssl.SSLContext.load_verify_locations\n"
        "def spy(self, *a, **k):\n"
        "    loaded.append(a or k)\n"
        "    return real(self, *a, **k)\n"
        "ssl.SSLContext.load_verify_locations = spy\n"
        "from boxtui.client.client import BoxClient\n"
        "BoxClient('http://127.0.0.1:8642')\n"
        "print(len(loaded))\n"
        "BoxClient('https://box.example.org')\n"
        "print(len(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["0", "1"]
