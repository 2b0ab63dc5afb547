"""Fixtures of the conformance suite: real ``boxtui serve`` processes on SQLite, shared per worker.

The three servers are launched together (start-up is mostly Python imports, so they
overlap well) and each fixture waits only for the one it hands out.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.proto import (
    Server,
    User,
    launch_server,
    make_user,
    stop_server,
    wait_ready,
)


@pytest.fixture(scope="session")
def _servers() -> Iterator[dict[str, Server]]:
    # Data on tmpfs where there is one: SQLite's fsyncs dominate otherwise.
    shm = Path("/dev/shm")
    root = Path(
        tempfile.mkdtemp(
            prefix="boxtui-conformance-", dir=shm if shm.is_dir() else None
        )
    )
    servers = {
        # default settings
        "default": launch_server(root / "default"),
        # a 4 KiB upload limit and a 6 KiB quota per identity
        "small": launch_server(
            root / "small", "--max-upload-bytes", "4096", "--quota-bytes", "6144"
        ),
        # e-mail ingest turned off
        "noingest": launch_server(root / "noingest", "--no-email-ingest"),
    }
    yield servers
    for server in servers.values():
        stop_server(server)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def srv(_servers: dict[str, Server]) -> Server:
    return wait_ready(_servers["default"])


@pytest.fixture(scope="session")
def small_srv(_servers: dict[str, Server]) -> Server:
    return wait_ready(_servers["small"])


@pytest.fixture(scope="session")
def noingest_srv(_servers: dict[str, Server]) -> Server:
    return wait_ready(_servers["noingest"])


@pytest.fixture()
def alice(srv: Server) -> User:
    return make_user(srv, name="Alice")


@pytest.fixture()
def bob(srv: Server) -> User:
    return make_user(srv, name="Bob")


@pytest.fixture()
def carol(srv: Server) -> User:
    return make_user(srv, name="Carol")
