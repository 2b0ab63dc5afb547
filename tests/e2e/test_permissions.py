"""Another local user cannot read a login code, the database or the blobs (issue 7 part 4).

A real ``boxtui serve`` keeps its data directory 0700 with every file 0600 — also
an installation from before, whose world-readable modes it fixes at start. Where the
test runs as root with ``useradd``, a throwaway Unix user tries to read the live login
code from the outbox (and the database) and is refused; elsewhere the modes are checked.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from boxtui.server.mailer import latest_code
from tests.server.helpers import serve_process

pytestmark = pytest.mark.e2e


@pytest.fixture
def other_user():
    """A throwaway Unix user (name, uid), or None where one cannot be made."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        yield None
        return
    name = f"bxprobe{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], capture_output=True)
    if made.returncode != 0:
        yield None
        return
    try:
        yield name, int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def _read_as(uid: int, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["cat", str(path)], user=uid, capture_output=True, text=True)


def test_another_user_cannot_read_a_login_code(other_user):
    root = Path(tempfile.mkdtemp(prefix="boxtui-perms-"))
    os.chmod(root, 0o755)  # the parent is open: only the data dir's own modes protect it
    try:
        data_dir = root / "data"
        # An installation from before this fix: world-readable everything.
        (data_dir / "outbox").mkdir(parents=True, mode=0o755)
        old = data_dir / "outbox" / "20200101T000000000000Z_old@example.com.eml"
        old.write_text("X-Boxtui-Code: 111111\n\nan old code\n")
        for path, mode in ((data_dir, 0o755), (data_dir / "outbox", 0o755), (old, 0o644)):
            os.chmod(path, mode)
        with serve_process(data_dir) as server:
            assert httpx.post(f"{server.url}/auth/code", json={"email": "victim@example.com"}, timeout=10).status_code == 204
            code = latest_code(data_dir / "outbox", "victim@example.com")
            assert code
            outbox_file = next(p for p in (data_dir / "outbox").iterdir() if "victim" in p.name)
            database = data_dir / "boxtui.db"
            modes = {str(p.relative_to(data_dir)): stat.S_IMODE(p.stat().st_mode) for p in [data_dir, *data_dir.rglob("*")]}
            wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o700 if (data_dir / name).is_dir() else 0o600)}
            assert wrong == {}, wrong
            assert {"boxtui.db", "boxtui.db-wal", "outbox"} <= set(modes)
            if other_user is None:
                pytest.skip("not root or no useradd: the modes were checked, no other user tried to read")
            _, uid = other_user
            control = root / "public.txt"
            control.write_text("anyone may read this")
            os.chmod(control, 0o644)
            assert _read_as(uid, control).stdout == "anyone may read this"  # the probe can read what is open
            for target in (outbox_file, database, old):
                attempt = _read_as(uid, target)
                assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, (target, attempt)
                assert code not in attempt.stdout
            listing = subprocess.run(["ls", str(data_dir / "outbox")], user=uid, capture_output=True, text=True)
            assert listing.returncode != 0 and "Permission denied" in listing.stderr
            # Even with the folders opened up by hand, each file stays the server user's alone.
            os.chmod(data_dir, 0o711)
            os.chmod(data_dir / "outbox", 0o711)
            attempt = _read_as(uid, outbox_file)
            assert attempt.returncode != 0 and code not in attempt.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)
