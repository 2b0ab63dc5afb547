"""Messenger fixtures: real server in-process (SQLite), real client, real key stores.

Every user gets their own profile folder; key stores use the lowest Argon2id cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from boxtui.client.client import BoxClient
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from tests.conftest import PASSWORD

#: Lowest Argon2id cost libsodium accepts: key stores open in milliseconds.
CHEAP_KDF = {"opslimit": 1, "memlimit": 8192 * 1024}
#: A loopback base URL, so invitation links (http only on loopback) can be made.
BASE_URL = "http://127.0.0.1"

MakeUser = Callable[..., Awaitable[Messenger]]


@pytest.fixture
def new_client(box_clients) -> Callable[[], BoxClient]:
    """A factory of clients talking to the in-process server; all closed at the end."""
    return lambda: box_clients(BASE_URL)


@pytest.fixture
def user(new_client, tmp_path: Path) -> MakeUser:
    """``await user("ada")``: a signed-up, logged-in user with their own profile."""

    async def make(name: str, *, home: str | None = None) -> Messenger:
        profile = Profile.load(tmp_path / (home or name))
        return await Messenger.signup(
            new_client(), profile, f"{name}@example.org", PASSWORD, name.capitalize(), **CHEAP_KDF
        )

    return make


@pytest.fixture
def device(new_client, tmp_path: Path) -> Callable[[str], tuple[BoxClient, Profile]]:
    """A fresh device (client + empty profile) for an existing account."""

    def make(home: str) -> tuple[BoxClient, Profile]:
        return new_client(), Profile.load(tmp_path / home)

    return make
