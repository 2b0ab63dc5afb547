"""HTTP routes: ``/identities/me``, ``/identities/{id}``, ``/identities/pubkey`` (PROTOCOL §2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import Identity
from boxtui.server.auth.deps import Caller, acr1, acr2, parse_body, require_uuid
from boxtui.server.db import get_db
from boxtui.server.errors import BadRequest
from boxtui.server.identities import service
from boxtui.server.openapi import Param, doc

router = APIRouter(prefix="/identities", tags=["identities"])


@router.get("/me", **doc(ok=Identity))
async def get_me(caller: Caller = Depends(acr1)) -> dict[str, Any]:
    return service.own_identity(caller.identity)


@router.get("/pubkey", **doc(auth=2, params=(Param("identifier_value", {"type": "string", "format": "email"}, "an e-mail address", required=True),), ok=list[str]))
async def get_pubkey(request: Request, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)) -> list[str]:
    email = request.query_params.get("identifier_value", "").strip()
    if not email:
        raise BadRequest("identifier_value is required", {"identifier_value": "required"}, origin="query")
    if "\x00" in email or len(email) > 320:
        raise BadRequest("identifier_value is not an e-mail address", {"identifier_value": "invalid"}, origin="query")
    return await service.public_keys_for(db, email)


@router.patch("/{identity_id}", **doc(body=service.IdentityPatch, errors=(403, 409), ok=Identity))
async def patch_identity(identity_id: str, request: Request, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> dict[str, Any]:
    require_uuid(identity_id, "id")
    patch = await parse_body(request, service.IdentityPatch)
    return await service.update_identity(db, caller, identity_id, patch)
