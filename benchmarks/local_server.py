"""What finding the host's local server costs every ``boxtui`` command, next to one request.

Every CLI verb and the app look for the local server before their first request
(``boxtui/messenger/embedded.py``): this user's remembered address, then 127.0.0.1:8642
and the 20 ports after it, each checked with ``GET /server-info``. This script starts a
throwaway server (a free port, files in a temporary folder: never 8642) and prints the
median time of

- the baseline: one ``GET /healthz`` to that server (a fresh connection, as a new
  process makes it);
- finding it as the user who started it (remembered address: one probe);
- finding it as another user (no record: the default address, one probe);
- finding that none runs (21 refused connections, no HTTP);
- finding it on the last fallback port (20 refused connections, then one probe).

    python benchmarks/local_server.py [--rounds N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boxtui.messenger.embedded import FALLBACK_PORTS, LocalServer, ensure_local_server, find_local_server, stop_local_server  # noqa: E402


def median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def free_block(count: int) -> int:
    for first in range(20_000, 30_000, count):
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free port block")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    rounds = parser.parse_args().rounds
    root = Path(tempfile.mkdtemp(prefix="boxtui-bench-local-"))
    first = free_block(FALLBACK_PORTS + 1)
    owner = LocalServer("127.0.0.1", first, root / "owner")
    other = LocalServer("127.0.0.1", first, root / "other-user")
    last = LocalServer("127.0.0.1", first - FALLBACK_PORTS, root / "far")  # the server sits on its last fallback port
    url = ensure_local_server(owner)
    empty = LocalServer("127.0.0.1", free_block(FALLBACK_PORTS + 1), root / "nobody")  # picked with the server up
    try:
        assert find_local_server(other) == url and find_local_server(last) == url and find_local_server(empty) is None
        rows = [
            ("baseline: one GET /healthz (new connection)", median_ms(lambda: httpx.get(f"{url}/healthz", trust_env=False), rounds)),
            ("found by its owner (remembered address)", median_ms(lambda: find_local_server(owner), rounds)),
            ("found by another user (default address)", median_ms(lambda: find_local_server(other), rounds)),
            (f"none running ({FALLBACK_PORTS + 1} refused connections)", median_ms(lambda: find_local_server(empty), rounds)),
            ("found on the last fallback port", median_ms(lambda: find_local_server(last), rounds)),
        ]
    finally:
        stop_local_server(owner)
    base = rows[0][1]
    print(f"local server discovery, median of {rounds} rounds")
    for name, ms in rows:
        print(f"  {name:<48} {ms:8.2f} ms  {ms / base:5.2f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
