"""``client.auth``: accounts, one-time codes, sessions (PROTOCOL §2)."""

from __future__ import annotations

from boxtui.client.errors import Unauthorized
from boxtui.client.resources._base import Resource
from boxtui.core.wire import Identity, Session, SessionInfo


class AuthResource(Resource):
    async def signup(
        self, email: str, password: str, display_name: str, code: str | None = None, *, idempotency_key: str | None = None
    ) -> Identity:
        """Create an account (ACR 2 login with the password afterwards).

        ``code``: a one-time code from :meth:`request_code` for ``email``, proving the
        caller receives its mail (servers run with ``signup_requires_code`` need one).
        ``idempotency_key``: see :class:`~boxtui.client.BoxClient` (a fresh one when ``None``).
        """
        body = {"email": email, "password": password, "display_name": display_name}
        if code is not None:
            body["code"] = code
        return await self._client.create_model(Identity, "POST", "/auth/signup", json=body, idempotency_key=idempotency_key)

    async def request_code(self, email: str) -> None:
        """Have the server e-mail a one-time login code (ACR 1)."""
        await self._client.request("POST", "/auth/code", json={"email": email})

    async def login(self, email: str, *, password: str | None = None, code: str | None = None) -> Session:
        """Log in with a password (ACR 2) or a one-time code (ACR 1); the client keeps the token."""
        if (password is None) == (code is None):
            raise ValueError("login needs exactly one of password= or code=")
        body = {"email": email, "password": password} if password is not None else {"email": email, "code": code}
        session = await self._client.get_model(Session, "POST", "/auth/login", json=body)
        self._client.token = session.access_token
        self._client.csrf_token = session.csrf_token
        return session

    async def logout(self) -> None:
        """Revoke the current token on the server and forget it (also when it had already expired)."""
        try:
            await self._client.request("POST", "/auth/logout")
        except Unauthorized:
            pass
        finally:
            self._client.forget_session()

    async def session(self) -> SessionInfo:
        """The current session: identity, ACR, expiry, CSRF token."""
        return await self._client.get_model(SessionInfo, "GET", "/auth/session")
