"""``BoxClient``: one ``httpx.AsyncClient``, the credentials, and the resource namespaces."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from boxtui.client.errors import APIConnectionError, APIResponseError, error_from_response, transport_errors
from boxtui.client.resources import (
    AuthResource,
    BoxesResource,
    EventsResource,
    FilesResource,
    IdentitiesResource,
    KeysResource,
    SavedFilesResource,
)
from boxtui.core.wire import ServerInfo

if TYPE_CHECKING:
    from boxtui.client.realtime import RealtimeSubscription

__all__ = ["BoxClient", "DEFAULT_TIMEOUT", "DEFAULT_MAX_RETRIES", "idempotency_header"]

T = TypeVar("T")
log = logging.getLogger("boxtui.client")

#: Generous read/write timeouts: uploads go in chunks, each chunk has its own deadline.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: How many times a creating request is sent again, with its key, after a lost connection.
DEFAULT_MAX_RETRIES = 3
#: First pause before a retry; it doubles each time, up to ``_MAX_BACKOFF``.
RETRY_BACKOFF = 0.25
_MAX_BACKOFF = 2.0


def idempotency_header(key: str) -> str:
    """``key`` as the draft's sf-string header value: ``"…"`` with ``\\`` and ``\"`` escaped."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lost_connection(exc: APIConnectionError) -> bool:
    """The request may have reached the server and its answer was lost: worth a keyed retry."""
    return isinstance(exc.__cause__, httpx.TransportError)

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BoxClient:
    """Async client for a boxtui server (PROTOCOL.md).

    Use it as an async context manager; it owns one ``httpx.AsyncClient``::

        async with BoxClient("https://box.example.org") as client:
            session = await client.auth.login("ada@example.org", password="…")
            box = await client.boxes.create("Team", public_key)

    ``token`` is sent as ``Authorization: Bearer``; it is set by ``auth.login`` and may be
    set by hand (e.g. from a saved session). With ``use_cookies=True`` the client
    authenticates with the session cookies set at login plus ``X-CSRF-Token`` instead.
    ``transport`` is handed to httpx (tests pass ``httpx.ASGITransport(app=...)``).

    Every method that creates something sends an ``Idempotency-Key`` (PROTOCOL §10.12):
    its ``idempotency_key`` argument, or a fresh UUID when that is ``None``. When the
    connection is lost before the answer arrives (reset, closed, timed out), the request
    is sent again with the same key, up to ``max_retries`` times, so the server creates
    the thing once and answers the retry with the first response.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        use_cookies: bool = False,
        headers: Mapping[str, str] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ):
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.token = token
        self.use_cookies = use_cookies
        #: The CSRF token of the current session (needed only in cookie mode).
        self.csrf_token: str | None = None
        # In bearer mode the login cookies must not be kept: a request with both is refused (§2).
        cookies = None if use_cookies else CookieJar(policy=_RefuseCookies())
        # httpx builds a TLS context for every client (loading the CA bundle: 100-250 ms)
        # even for http:// and never uses it there; for a plain-http server (the host's
        # local server) ``verify=False`` makes that an empty context, built in ~1 ms.
        # An https:// server is always verified; no redirect is followed, so a plain-http
        # client never reaches an https URL with it.
        plain_http = self.base_url.lower().startswith("http://")
        try:
            self._http = httpx.AsyncClient(
                base_url=self.base_url, transport=transport, timeout=timeout, headers=headers, cookies=cookies,
                verify=not plain_http,
            )  # fmt: skip
        except httpx.InvalidURL as exc:
            raise APIConnectionError(f"invalid server URL {base_url!r}: {exc}") from None
        self.auth = AuthResource(self)
        self.identities = IdentitiesResource(self)
        self.boxes = BoxesResource(self)
        self.events = EventsResource(self)
        self.files = FilesResource(self)
        self.saved_files = SavedFilesResource(self)
        self.keys = KeysResource(self)

    async def __aenter__(self) -> BoxClient:
        await self._http.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def realtime(self, identity_id: str, **options: Any) -> RealtimeSubscription:
        """A realtime subscription for ``identity_id``; ``options`` as :class:`RealtimeSubscription` takes them."""
        from boxtui.client.realtime import RealtimeSubscription

        return RealtimeSubscription(self, identity_id, **options)

    async def server_info(self) -> ServerInfo:
        """``GET /server-info``: what the server is, and how sign-up and login codes work."""
        return await self.get_model(ServerInfo, "GET", "/server-info")

    def forget_session(self) -> None:
        """Drop the token, the CSRF token and the session cookies (after logout)."""
        self.token = None
        self.csrf_token = None
        self._http.cookies.clear()

    # -- plumbing shared by the resources ------------------------------------------

    def auth_headers(self, method: str = "GET") -> dict[str, str]:
        """The headers that authenticate a request (bearer, or CSRF in cookie mode)."""
        if self.use_cookies:
            if method in _UNSAFE_METHODS and self.csrf_token:
                return {"X-CSRF-Token": self.csrf_token}
            return {}
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def cookie_header(self) -> str | None:
        """The session cookies as one ``Cookie`` header value (cookie mode only)."""
        if not self.use_cookies:
            return None
        pairs = [f"{cookie.name}={cookie.value}" for cookie in self._http.cookies.jar]
        return "; ".join(pairs) or None

    def _build(self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Request:
        merged = self.auth_headers(method)
        merged.update(headers or {})
        return self._http.build_request(method, path, headers=merged, **kwargs)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; return the (fully read) response or raise a :class:`BoxError`."""
        with transport_errors(method, path):
            response = await self._http.send(self._build(method, path, **kwargs))
        if response.is_error:
            raise error_from_response(response)
        return response

    async def send_stream(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request and return the response with its body not yet read (caller closes it)."""
        with transport_errors(method, path):
            response = await self._http.send(self._build(method, path, **kwargs), stream=True)
        if response.is_error:
            try:
                with transport_errors(method, path):
                    await response.aread()
            finally:
                await response.aclose()
            raise error_from_response(response)
        return response

    async def send_creating(
        self,
        method: str,
        path: str,
        *,
        idempotency_key: str | None = None,
        body: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a creating request with an ``Idempotency-Key``; resend it on a lost connection.

        ``idempotency_key`` defaults to a fresh UUID. ``body()``, when given, builds the
        body arguments anew for each attempt (a streamed upload cannot be sent twice);
        pass ``body=None`` and a one-shot ``content`` stream to forbid retries.
        """
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        replayable = body is not None or not _is_stream(kwargs.get("content"))
        attempts = 1 + (max(self.max_retries, 0) if replayable else 0)
        for attempt in range(attempts):
            arguments = {**kwargs, **(body() if body is not None else {})}
            headers = {**(arguments.pop("headers", None) or {}), "Idempotency-Key": idempotency_header(key)}
            try:
                return await self.request(method, path, headers=headers, **arguments)
            except APIConnectionError as exc:
                if attempt + 1 >= attempts or not _lost_connection(exc):
                    raise
                log.info("%s %s: %s; sending it again with the same Idempotency-Key", method, path, exc)
                await asyncio.sleep(min(RETRY_BACKOFF * 2**attempt, _MAX_BACKOFF))
        raise AssertionError("unreachable")  # pragma: no cover

    async def create_model(self, type_: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        """:meth:`send_creating`, then parse the JSON body as ``type_``."""
        return parse_as(type_, await self.send_creating(method, path, **kwargs))

    async def get_model(self, type_: type[T] | Any, method: str, path: str, **kwargs: Any) -> T:
        """Send a request and parse its JSON body as ``type_`` (a model, ``list[Model]``…)."""
        response = await self.request(method, path, **kwargs)
        return parse_as(type_, response)

    async def count(self, path: str, params: Mapping[str, Any] | None = None) -> int:
        """``HEAD`` a list route and return ``X-Total-Count``."""
        response = await self.request("HEAD", path, params=params)
        value = response.headers.get("x-total-count")
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise APIResponseError(f"HEAD {path}: no valid X-Total-Count header", response) from None


def _is_stream(content: Any) -> bool:
    return content is not None and not isinstance(content, (bytes, bytearray, memoryview, str))


class _RefuseCookies(DefaultCookiePolicy):
    def set_ok(self, cookie, request) -> bool:  # noqa: ANN001 - http.cookiejar's signature
        return False


_ADAPTERS: dict[Any, TypeAdapter] = {}


def parse_as(type_: Any, response: httpx.Response) -> Any:
    """Validate a response body as ``type_``; anything off-protocol is an :class:`APIResponseError`."""
    adapter = _ADAPTERS.get(type_)
    if adapter is None:
        adapter = _ADAPTERS[type_] = TypeAdapter(type_)
    try:
        return adapter.validate_json(response.content)
    except ValidationError as exc:
        request = response.request
        raise APIResponseError(f"{request.method} {request.url.path}: unexpected response: {exc.error_count()} error(s): {exc.errors()[0]['msg']}", response) from None
