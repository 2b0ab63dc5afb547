"""Fixtures for the client tests: ``BoxClient``s talking to the real server in-process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from boxtui.client import BoxClient
from boxtui.core.wire import Session
from tests.conftest import PASSWORD
from tests.server.helpers import ciphertext, random_key

__all__ = ["User", "ciphertext", "random_key", "make_box", "post_text"]


@dataclass
class User:
    client: BoxClient
    session: Session
    email: str

    @property
    def id(self) -> str:
        return self.session.identity.id


@pytest.fixture
def connect(box_clients) -> Callable[..., Awaitable[BoxClient]]:
    """``await connect(token=None)``: a new, opened BoxClient on the in-process server."""

    async def make(**kwargs) -> BoxClient:
        client = box_clients("http://testserver", **kwargs)
        await client.__aenter__()
        return client

    return make


@pytest.fixture
async def make_user(connect) -> Callable[[str], Awaitable[User]]:
    """``await make_user("ada")``: a signed-up account logged in with its password (ACR 2)."""

    async def make(name: str) -> User:
        client = await connect()
        email = f"{name}@example.org"
        await client.auth.signup(email, PASSWORD, name.title())
        session = await client.auth.login(email, password=PASSWORD)
        return User(client, session, email)

    return make


@pytest.fixture
async def ada(make_user) -> User:
    return await make_user("ada")


@pytest.fixture
async def bob(make_user) -> User:
    return await make_user("bob")


async def make_box(admin: User, *members: User, title: str = "Team") -> str:
    """A box created by ``admin``, made public so that ``members`` can join it; returns its id."""
    box = await admin.client.boxes.create(title, random_key())
    if members:
        await admin.client.events.post(box.id, "state.access_mode", {"value": "public"})
        for member in members:
            await member.client.events.post(box.id, "member.join")
    return box.id


async def post_text(user: User, box_id: str, **kwargs):
    return await user.client.events.post(box_id, "msg.text", {"encrypted": ciphertext()}, **kwargs)


@pytest.fixture
async def connect_limited(tmp_path):
    """A user and a box on a server that accepts uploads of at most 1 KiB."""
    from boxtui.server.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path / "limited", max_upload_bytes=1024))
    async with app.router.lifespan_context(app):
        async with BoxClient("http://testserver", transport=httpx.ASGITransport(app=app)) as client:
            await client.auth.signup("ada@example.org", PASSWORD, "Ada")
            session = await client.auth.login("ada@example.org", password=PASSWORD)
            box = await client.boxes.create("Small", random_key())
            yield User(client, session, "ada@example.org"), box.id
