"""Fixtures of the conformance suite: real ``boxtui serve`` processes on SQLite, shared per worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.proto import Server, User, make_user, start_server, stop_server


@pytest.fixture(scope="session")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server with default settings."""
    server = start_server(tmp_path_factory.mktemp("conf") / "data")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def small_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a 4 KiB upload limit and a 6 KiB quota per identity."""
    server = start_server(tmp_path_factory.mktemp("conf-small") / "data", "--max-upload-bytes", "4096", "--quota-bytes", "6144")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def noingest_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with e-mail ingest turned off."""
    server = start_server(tmp_path_factory.mktemp("conf-noingest") / "data", "--no-email-ingest")
    yield server
    stop_server(server)


@pytest.fixture()
def alice(srv: Server) -> User:
    return make_user(srv, name="Alice")


@pytest.fixture()
def bob(srv: Server) -> User:
    return make_user(srv, name="Bob")


@pytest.fixture()
def carol(srv: Server) -> User:
    return make_user(srv, name="Carol")
