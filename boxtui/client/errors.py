"""The client's error tree: every failure a caller of :class:`BoxClient` can see.

::

    BoxError
    ├── APIConnectionError          the server could not be reached / the connection broke
    │   └── APITimeoutError
    ├── APIResponseError            the server answered something that is not the protocol
    └── APIStatusError              the server answered with a 4xx/5xx error body
        ├── BadRequest 400   ├── Unauthorized 401   ├── Forbidden 403
        ├── NotFound 404     ├── MethodNotAllowed 405 ├── Conflict 409
        ├── Gone 410         ├── PreconditionFailed 412 ├── TooLarge 413
        ├── UnsupportedMediaType 415 ├── TooManyRequests 429
        └── InternalServerError 5xx

``APIStatusError`` carries the protocol's error body (PROTOCOL §1): ``status``,
``code``, ``desc``, ``details`` and ``origin``. Callers catch these, never ``httpx``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from boxtui.core.wire import STATUS_CODES

__all__ = [
    "BoxError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseError",
    "APIStatusError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "Gone",
    "PreconditionFailed",
    "TooLarge",
    "UnsupportedMediaType",
    "TooManyRequests",
    "InternalServerError",
]



class BoxError(Exception):
    """Base class of every error raised by :mod:`boxtui.client`."""


class APIConnectionError(BoxError):
    """The request did not get an answer: connection refused or dropped, DNS, TLS, protocol."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class APIResponseError(BoxError):
    """The server answered, but not in the shape the protocol promises."""

    def __init__(self, message: str, response: httpx.Response | None = None):
        super().__init__(message)
        self.response = response


class APIStatusError(BoxError):
    """The server refused the request with an error body (PROTOCOL §1)."""

    def __init__(
        self,
        status: int,
        code: str,
        desc: str = "",
        details: dict[str, str] | None = None,
        origin: str = "not_defined",
        response: httpx.Response | None = None,
    ):
        self.status = status
        self.code = code
        self.desc = desc
        self.details = dict(details or {})
        self.origin = origin
        self.response = response
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status} {self.code}"
        if self.desc:
            text += f": {self.desc}"
        if self.details:
            text += " (" + ", ".join(f"{key}={value}" for key, value in self.details.items()) + ")"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, desc={self.desc!r}, details={self.details!r}, origin={self.origin!r})"


class BadRequest(APIStatusError):
    """400: the request is malformed or fails validation."""


class Unauthorized(APIStatusError):
    """401: no, wrong or expired credentials."""


class Forbidden(APIStatusError):
    """403: not allowed (not a member, ACR too low, quota, …)."""


class NotFound(APIStatusError):
    """404: no such thing."""


class MethodNotAllowed(APIStatusError):
    """405."""


class Conflict(APIStatusError):
    """409: duplicate, or the box is closed."""


class Gone(APIStatusError):
    """410: the message was deleted."""


class PreconditionFailed(APIStatusError):
    """412: stale or missing ``If-Match``."""


class TooLarge(APIStatusError):
    """413: the request body or upload is over the server's limit."""


class UnsupportedMediaType(APIStatusError):
    """415."""


class TooManyRequests(APIStatusError):
    """429: slow down (e.g. too many failed logins)."""


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    412: PreconditionFailed,
    413: TooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
}


def error_class(status: int) -> type[APIStatusError]:
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


def error_from_response(response: httpx.Response) -> APIStatusError:
    """Build the matching :class:`APIStatusError` from an error response (body already read)."""
    status = response.status_code
    code = STATUS_CODES.get(status, "internal" if status >= 500 else "error")
    desc = response.reason_phrase or ""
    details: dict[str, str] = {}
    origin = "not_defined"
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = None
    if isinstance(body, dict):
        code = str(body.get("code") or code)
        desc = str(body.get("desc") or desc)
        origin = str(body.get("origin") or origin)
        raw_details = body.get("details")
        if isinstance(raw_details, dict):
            details = {str(key): str(value) for key, value in raw_details.items()}
    return error_class(status)(status, code, desc, details, origin, response)


@contextmanager
def transport_errors(method: str, path: str) -> Iterator[None]:
    """Turn httpx's network failures into :class:`APIConnectionError` / :class:`APITimeoutError`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"{method} {path}: the server did not answer in time") from exc
    except (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL) as exc:
        raise APIConnectionError(f"{method} {path}: {exc.__class__.__name__}: {exc or 'connection failed'}") from exc
