"""Domain errors and their mapping to the protocol's error format (PROTOCOL §1).

Services raise :class:`ApiError` subclasses; ``install_error_handlers`` turns them,
FastAPI's validation errors, Starlette's HTTP errors and anything unexpected into
``{"code", "origin", "desc", "details"}`` bodies. Every validation failure is 400.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from boxtui.core.wire import STATUS_CODES

log = logging.getLogger("boxtui.server")



class ApiError(Exception):
    status = 500

    def __init__(self, desc: str = "", details: dict[str, Any] | None = None, origin: str = "not_defined"):
        super().__init__(desc)
        self.desc = desc
        self.details = {k: str(v) for k, v in (details or {}).items()}
        self.origin = origin


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class RequestTimeout(ApiError):
    status = 408


class Conflict(ApiError):
    status = 409


class Gone(ApiError):
    status = 410


class PreconditionFailed(ApiError):
    status = 412


class TooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class TooManyRequests(ApiError):
    status = 429


class ServiceUnavailable(ApiError):
    """A service the server depends on (SMTP, the blob store, the realtime bus) cannot
    be reached right now; the request changed nothing and may be retried."""

    status = 503
    headers = {"Retry-After": "5"}


def error_response(request: Request, status: int, desc: str, details: dict[str, str] | None = None, origin: str = "not_defined", headers: dict[str, str] | None = None) -> Response:
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    body = {"code": STATUS_CODES.get(status, "internal"), "origin": origin, "desc": desc, "details": details or {}}
    return JSONResponse(body, status_code=status, headers=headers)


_ORIGINS = {"body": "body", "query": "query", "path": "path", "header": "headers", "cookie": "cookies"}


def _reason(error_type: str) -> str:
    if error_type == "missing":
        return "required"
    if error_type in {"extra_forbidden"}:
        return "invalid"
    if error_type.endswith("_type") or error_type in {"json_invalid", "uuid_parsing", "uuid_type"} or "parsing" in error_type:
        return "malformed"
    if error_type in {"string_too_long", "too_long"}:
        return "invalid"
    return "invalid"


def validation_details(errors: list[dict[str, Any]]) -> tuple[str, dict[str, str]]:
    origin = "body"
    details: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in _ORIGINS:
            origin = _ORIGINS[loc[0]]
            loc = loc[1:]
        field = ".".join(loc) or "body"
        details.setdefault(field, _reason(str(err.get("type", ""))))
    return origin, details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(request, exc.status, exc.desc, exc.details, exc.origin, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        origin, details = validation_details(list(exc.errors()))
        return error_response(request, 400, "the request is not valid", details, origin)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        desc = exc.detail if isinstance(exc.detail, str) else STATUS_CODES.get(exc.status_code, "error")
        return error_response(request, exc.status_code, desc, headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client hung up mid-body: nobody reads this answer, and it is not our fault.
        log.debug("client went away during the body of %s %s", request.method, request.url.path)
        return error_response(request, 400, "the client went away before the body was complete", {"body": "malformed"}, "body")

    @app.exception_handler(sqlalchemy.exc.TimeoutError)
    async def _pool_busy(request: Request, exc: sqlalchemy.exc.TimeoutError) -> Response:
        # Every database connection stayed busy for the pool's whole timeout: nothing was
        # done for this request, and it may be sent again.
        log.warning("no database connection free for %s %s: answered 503", request.method, request.url.path)
        return error_response(request, 503, BUSY, headers=ServiceUnavailable.headers)

    @app.exception_handler(sqlalchemy.exc.DBAPIError)
    async def _database_error(request: Request, exc: sqlalchemy.exc.DBAPIError) -> Response:
        if is_transient(exc):
            log.warning("transient database conflict on %s %s (%s): answered 503", request.method, request.url.path, exc.orig)
            return error_response(request, 503, BUSY, headers=ServiceUnavailable.headers)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal error")


BUSY = "the server is busy: nothing was changed, try again in a moment"
#: PostgreSQL serialization failure and deadlock: the transaction was rolled back.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})


def is_transient(exc: sqlalchemy.exc.DBAPIError) -> bool:
    """A write that lost a race for a lock and was rolled back, so a retry may succeed:
    SQLite still locked after its busy timeout, a PostgreSQL deadlock or serialization failure."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES or "database is locked" in str(orig)
