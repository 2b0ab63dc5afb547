"""``boxtui signup --code`` against a real ``boxtui serve --signup-requires-code`` process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from boxtui.server.mailer import latest_code
from tests.server.helpers import serve_process

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The server URL and its outbox."""
    data_dir = tmp_path_factory.mktemp("strict-server") / "data"
    with serve_process(data_dir, "--signup-requires-code") as url:
        yield url, data_dir / "outbox"


def test_signup_asks_for_the_code_and_reads_it_from_stdin(strict_server, profiles):
    url, outbox = strict_server
    ada = profiles("ada")
    refused = ada.run("--server", url, "signup", "--email", "ada@example.org", "--name", "Ada")
    assert refused.code == 1
    assert refused.err == "boxtui: this server signs up only with a code e-mailed to you: add --code\n"
    assert latest_code(outbox, "ada@example.org") is None

    process = ada.start("--server", url, "signup", "--email", "ada@example.org", "--name", "Ada", "--code")
    deadline = time.monotonic() + 60
    while (code := latest_code(outbox, "ada@example.org")) is None:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)
    out, err = process.communicate(code + "\n", timeout=60)
    assert process.returncode == 0, err
    assert (out, err) == ("", f"boxtui: The code for ada@example.org was written to {outbox}/ (valid for 10 minutes).\n")

    # Signed up and logged in with the password: an ACR 2 action works.
    box = ada.ok("create-box", "Notes").strip()
    assert ada.ok("boxes").split("\t")[0] == box
    # The code was spent by the signup.
    spent = httpx.post(f"{url}/auth/login", json={"email": "ada@example.org", "code": code})
    assert spent.status_code == 401


def test_signup_with_a_given_code(strict_server, profiles):
    url, outbox = strict_server
    bob = profiles("bob")
    assert httpx.post(f"{url}/auth/code", json={"email": "bob@example.org"}).status_code == 204
    code = latest_code(outbox, "bob@example.org")
    wrong = bob.run("--server", url, "signup", "--email", "bob@example.org", "--name", "Bob", "--code", "000000" if code != "000000" else "000001")
    assert (wrong.code, wrong.err) == (1, "boxtui: wrong or expired code\n")
    bob.ok("--server", url, "signup", "--email", "bob@example.org", "--name", "Bob", "--code", code)
    assert bob.ok("boxes") == ""
    # A second device logs in with the password set at signup.
    profiles("bob-laptop").ok("--server", url, "login", "--email", "bob@example.org")
