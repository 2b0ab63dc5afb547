"""Which process of a ``boxtui serve --workers N`` serves what (Linux ``/proc``).

Each worker listens on its own socket of the port (``SO_REUSEPORT``) and the kernel hands
each connection to one of them by a hash of its addresses; tests that must prove
something crossed between workers look up which worker holds a connection instead of
hoping the kernel spread them.
"""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def worker_pids(supervisor: int) -> list[int]:
    """The uvicorn workers of a ``boxtui serve --workers`` supervisor."""
    workers = []
    for pid in children(supervisor):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"spawn_main" in arg for arg in argv) and not any(b"resource_tracker" in arg for arg in argv):
            workers.append(pid)
    return sorted(workers)


def _hex_endpoint(port: int) -> str:
    return f"0100007F:{port:04X}"


def serving_pid(client_port: int, server_port: int, candidates: list[int]) -> int | None:
    """Which of ``candidates`` holds the server end of the loopback TCP connection
    from ``client_port`` to ``server_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == _hex_endpoint(server_port) and fields[2] == _hex_endpoint(client_port):
            inode = fields[9]
            break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in candidates:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(fd_dir / fd) == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None
