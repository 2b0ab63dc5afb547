"""The unlock agent: keeps the key store's derived key in memory between CLI calls.

``boxtui unlock`` pays for Argon2id once and hands the derived key to a small process
(this module, run as ``python -m boxtui.messenger.agent``) that listens on a Unix socket
in the profile's data folder (mode 0600, folder 0700). A later verb asks it for the key
and opens the key store — and through it the local store — without Argon2id. The agent
answers only processes of the same user (``SO_PEERCRED`` where the system has it), never
writes the key anywhere, and exits ``ttl`` seconds after its last answer (default 15
minutes), on ``boxtui lock`` / ``logout``, or when its socket file disappears.

Protocol, one request per connection, one JSON line each way:
``{"op": "get"}`` → ``{"key": hex, "salt": hex, "opslimit": n, "memlimit": n}``;
``{"op": "stop"}`` → ``{"ok": true}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["socket_path", "start_agent", "fetch_key", "stop_agent", "DEFAULT_TTL"]

DEFAULT_TTL = 15 * 60
_TIMEOUT = 2.0


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / "agent.sock"


def _request(path: Path, message: dict) -> dict | None:
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(_TIMEOUT)
            conn.connect(str(path))
            conn.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        return json.loads(data) if data else None
    except (OSError, ValueError):
        return None


def fetch_key(data_dir: Path):
    """The derived key held by a running agent, or None (no agent, or it is gone)."""
    from boxtui.crypto.vault import PasswordKey

    answer = _request(socket_path(data_dir), {"op": "get"})
    if not answer or "key" not in answer:
        return None
    return PasswordKey(bytes.fromhex(answer["key"]), bytes.fromhex(answer["salt"]), answer["opslimit"], answer["memlimit"])


def stop_agent(data_dir: Path) -> bool:
    """Ask the agent to forget the key and exit; True if one was running."""
    return bool(_request(socket_path(data_dir), {"op": "stop"}))


def start_agent(data_dir: Path, key, ttl: int = DEFAULT_TTL) -> None:
    """Start an agent holding ``key`` (a :class:`~boxtui.crypto.vault.PasswordKey`),
    replacing a running one; returns once it answers."""
    stop_agent(data_dir)
    path = socket_path(data_dir)
    Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = json.dumps({"key": key.key.hex(), "salt": key.salt.hex(), "opslimit": key.opslimit, "memlimit": key.memlimit})
    process = subprocess.Popen(
        [sys.executable, "-m", "boxtui.messenger.agent", "--socket", str(path), "--ttl", str(ttl)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    assert process.stdin is not None
    process.stdin.write(secret.encode() + b"\n")
    process.stdin.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _request(path, {"op": "ping"}) is not None:
            return
        if process.poll() is not None:
            raise OSError("the unlock agent did not start")
        time.sleep(0.02)
    raise OSError("the unlock agent did not answer")


# --- the agent process ------------------------------------------------------------------


def _peer_is_us(conn: socket.socket) -> bool:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # no peer credentials here: the socket's 0600 mode is the guard
        return True
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid == os.getuid()


def serve(path: Path, secret: dict, ttl: float) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old_umask = os.umask(0o177)
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(8)
    server.settimeout(1.0)
    inode = path.stat().st_ino
    last_use = time.monotonic()
    try:
        while time.monotonic() - last_use < ttl:
            try:
                if path.stat().st_ino != inode:
                    break  # replaced by another agent
            except FileNotFoundError:
                break  # the profile went away
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(_TIMEOUT)
                if not _peer_is_us(conn):
                    continue
                try:
                    request = json.loads(conn.makefile("rb").readline() or b"{}")
                except (OSError, ValueError):
                    continue
                op = request.get("op")
                if op == "get":
                    last_use = time.monotonic()
                    conn.sendall(json.dumps(secret).encode() + b"\n")
                elif op == "stop":
                    conn.sendall(b'{"ok": true}\n')
                    break
                else:
                    conn.sendall(b'{"pong": true}\n')
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == inode:
                path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description="boxtui unlock agent (started by boxtui unlock)")
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--ttl", type=float, default=DEFAULT_TTL)
    args = parser.parse_args()
    secret = json.loads(sys.stdin.readline())
    sys.stdin.close()
    serve(args.socket, secret, args.ttl)


if __name__ == "__main__":
    main()
