"""HTTP routes: ``/auth/signup``, ``/auth/code``, ``/auth/login``, ``/auth/logout``, ``/auth/session``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import Identity, Session, SessionInfo
from boxtui.server.auth import service
from boxtui.server.auth.deps import Caller, get_caller, parse_body
from boxtui.server.db import get_db
from boxtui.server.idempotency.service import idempotency, json_fingerprint
from boxtui.server.openapi import doc

router = APIRouter(prefix="/auth", tags=["auth"])


def _client_addr(request: Request) -> str:
    """The address failed logins are counted under: the peer, or the client a trusted
    proxy names (``forwarded_allow_ips``; nobody by default)."""
    return request.client.host if request.client else "unknown"


@router.post("/signup", status_code=201, **doc(auth=None, body=service.SignupBody, idempotent=True, errors=(401, 409, 429), ok=Identity, ok_status=201))
async def signup(request: Request, db: AsyncSession = Depends(get_db)) -> Response:
    body = await parse_body(request, service.SignupBody)
    # No identity yet: keys are scoped by the e-mail; password and code stay out of the
    # fingerprint so not even a fast hash of them is stored (PROTOCOL §10.12).
    idem = idempotency(request, db, f"signup:{body.email}", json_fingerprint(request, body, exclude=("password", "code")))
    async with idem.guard():
        identity = await service.signup(db, request.app.state.settings, body, _client_addr(request))
        return await idem.commit(201, identity)


@router.post("/code", status_code=204, **doc(auth=None, body=service.CodeBody, errors=(429,), ok_status=204))
async def request_code(request: Request, db: AsyncSession = Depends(get_db)) -> Response:
    body = await parse_body(request, service.CodeBody)
    await service.request_code(db, request.app.state.settings, body.email)
    return Response(status_code=204)


@router.post("/login", **doc(auth=None, body=service.LoginBody, errors=(401, 429), ok=Session, ok_headers={"Set-Cookie": "accesstoken, tokentype and _csrf"}))
async def login(request: Request, db: AsyncSession = Depends(get_db)) -> Response:
    body = await parse_body(request, service.LoginBody)
    session = await service.login(db, request.app.state.settings, body, _client_addr(request))
    response = JSONResponse(session)
    settings = request.app.state.settings
    max_age = settings.token_ttl_seconds
    secure = _secure_cookies(request)
    response.set_cookie("accesstoken", session["access_token"], max_age=max_age, httponly=True, samesite="strict", secure=secure)
    response.set_cookie("tokentype", "bearer", max_age=max_age, httponly=True, samesite="strict", secure=secure)
    response.set_cookie("_csrf", session["csrf_token"], max_age=max_age, samesite="strict", secure=secure)
    return response


def _secure_cookies(request: Request) -> bool:
    """``settings.secure_cookies``, or when unset: the request came over HTTPS.

    Behind a proxy, the scheme is the one its ``X-Forwarded-Proto`` names, believed
    only from ``forwarded_allow_ips`` (see ``create_app``).
    """
    configured = request.app.state.settings.secure_cookies
    return request.url.scheme in ("https", "wss") if configured is None else configured


@router.post("/logout", status_code=204, **doc(ok_status=204))
async def logout(request: Request, caller: Caller = Depends(get_caller), db: AsyncSession = Depends(get_db)) -> Response:
    await service.logout(db, caller)
    await request.app.state.hub.end_session(caller.session.id)  # its sockets close now
    response = Response(status_code=204)
    for name in ("accesstoken", "tokentype", "_csrf"):
        response.delete_cookie(name, samesite="strict", secure=_secure_cookies(request))
    return response


@router.get("/session", **doc(ok=SessionInfo))
async def get_session(caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    return service.session_info(caller)
