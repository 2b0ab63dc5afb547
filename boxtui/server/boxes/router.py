"""HTTP routes under ``/boxes`` for boxes themselves (PROTOCOL §3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import BoxView, EventView, IdentityView
from boxtui.server.auth.deps import Caller, Page, acr1, acr2, get_page, parse_body, require_uuid
from boxtui.server.boxes import service
from boxtui.server.boxes.schemas import CreateBoxBody, DeleteBoxBody
from boxtui.server.db import get_db
from boxtui.server.files.service import delete_orphan_blobs
from boxtui.server.idempotency.service import idempotency, json_fingerprint
from boxtui.server.openapi import PAGE, doc

router = APIRouter(prefix="/boxes", tags=["boxes"])


def total_count(count: int) -> Response:
    """The answer of a list route's ``HEAD`` twin (PROTOCOL §1)."""
    return Response(status_code=204, headers={"X-Total-Count": str(count)})


@router.post("", status_code=201, **doc(body=CreateBoxBody, idempotent=True, errors=(409,), ok=BoxView, ok_status=201))
async def create_box(request: Request, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    body = await parse_body(request, CreateBoxBody)
    idem = idempotency(request, db, caller.id, json_fingerprint(request, body))
    async with idem.guard():
        box = await service.create_box(db, caller, body)
        return await idem.commit(201, await service.box_view(db, box, caller.id))


@router.head("/joined", **doc(count=True))
async def count_joined(caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    return total_count(await service.count_joined(db, caller))


@router.get("/joined", **doc(params=PAGE, ok=list[BoxView]))
async def joined(page: Page = Depends(get_page), caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> list[dict[str, Any]]:
    return await service.joined_boxes(db, caller, page)


@router.get("/{box_id}", **doc(errors=(403,), ok=BoxView))
async def get_box(box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> dict[str, Any]:
    return await service.get_box(db, caller, require_uuid(box_id, "id"))


@router.delete("/{box_id}", status_code=204, **doc(auth=2, body=DeleteBoxBody, ok_status=204, example={"user_confirmation": "delete"}))
async def delete_box(box_id: str, request: Request, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)) -> Response:
    require_uuid(box_id, "id")
    body = await parse_body(request, DeleteBoxBody)
    members, file_ids = await service.delete_box(db, caller, box_id, body)
    hub = getattr(request.app.state, "hub", None)
    if hub is not None:
        await hub.publish(members, {"type": "box.delete", "object": {"id": box_id}})
    if file_ids:
        await delete_orphan_blobs(db, request.app.state.settings, file_ids)
    return Response(status_code=204)


@router.head("/{box_id}/members", **doc(count=True, errors=(403,)))
async def count_members(box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    return total_count(await service.count_members(db, caller, require_uuid(box_id, "id")))


@router.get("/{box_id}/members", **doc(params=PAGE, errors=(403,), ok=list[IdentityView]))
async def members(box_id: str, page: Page = Depends(get_page), caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> list[dict[str, Any]]:
    return await service.members(db, caller, require_uuid(box_id, "id"), page)


@router.head("/{box_id}/accesses", **doc(auth=2, count=True))
async def count_accesses(box_id: str, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)) -> Response:
    return total_count(await service.count_accesses(db, caller, require_uuid(box_id, "id")))


@router.get("/{box_id}/accesses", **doc(auth=2, params=PAGE, ok=list[EventView]))
async def accesses(box_id: str, page: Page = Depends(get_page), caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)) -> list[dict[str, Any]]:
    return await service.accesses(db, caller, require_uuid(box_id, "id"), page)


@router.put("/{box_id}/new-events-count/ack", status_code=204, **doc(errors=(403,), ok_status=204))
async def ack(box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    box = await service.require_member(db, require_uuid(box_id, "id"), caller)
    await service.ack(db, caller.id, box)
    return Response(status_code=204)
