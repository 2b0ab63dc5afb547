"""HTTP routes for events: posting, lists, batches, look-ups by id, shares (PROTOCOL §4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import EventView
from boxtui.server.auth.deps import Caller, Page, acr1, acr2, get_page, parse_body, read_json, require_uuid
from boxtui.server.boxes.router import total_count
from boxtui.server.db import get_db
from boxtui.server.errors import BadRequest
from boxtui.server.events import service
from boxtui.server.events.schemas import BatchBody, EventBody, ShareBody
from boxtui.server.idempotency.service import idempotency, json_fingerprint
from boxtui.server.openapi import CURSOR, IDS, PAGE, doc
from boxtui.server.openapi import EventsAnswer as SharedEvents

BATCH_EXAMPLE = {"batch_type": "accesses", "events": [{"type": "access.add", "content": {"restriction_type": "email_domain", "value": "example.net"}}]}

router = APIRouter(tags=["events"])


def _cursor(request: Request) -> service.Cursor:
    tail = request.query_params.get("tail", "false").lower()
    if tail not in ("true", "false", "1", "0"):
        raise BadRequest("tail must be true or false", {"tail": "malformed"}, origin="query")
    return service.Cursor(after=request.query_params.get("after"), before=request.query_params.get("before"), tail=tail in ("true", "1"))


async def _created(
    request: Request, db: AsyncSession, caller: Caller, body: Any, write: Callable[[], Awaitable[service.Outcome]], answer: Callable[[list[dict[str, Any]]], Any]
) -> Response:
    """Run ``write``, answer ``201 answer(views)`` recorded under the request's
    ``Idempotency-Key`` in the same transaction, commit, then deliver (PROTOCOL §10.12)."""
    idem = idempotency(request, db, caller.id, json_fingerprint(request, body))
    async with idem.guard():
        outcome = await write()
        await service.finish_writes(db)
        # Rendered from the rows in hand, before the commit: nothing reads after it.
        known = outcome.known(caller)
        views = await service.render_events(db, outcome.events, caller.id, known)
        publication = await service.prepare_publication(getattr(request.app.state, "hub", None), db, outcome.published, known)
        response = await idem.commit(201, answer(views))
    await service.after_commit(request.app, db, outcome, publication)
    return response


@router.post("/boxes/{box_id}/events", status_code=201, **doc(body=EventBody, idempotent=True, errors=(403, 404, 409, 410), ok=EventView, ok_status=201, example={"type": "msg.text", "content": {"encrypted": "AAAA"}}))
async def post_event(box_id: str, request: Request, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    require_uuid(box_id, "id")
    body = await parse_body(request, EventBody)
    return await _created(request, db, caller, body, lambda: service.post_event(db, caller, box_id, body), lambda views: views[0])


@router.head("/boxes/{box_id}/events", **doc(count=True, errors=(403,)))
async def count_events(box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    return total_count(await service.count_events(db, caller, require_uuid(box_id, "id")))


@router.get("/boxes/{box_id}/events", **doc(params=(*PAGE, *CURSOR), errors=(403, 404), ok=list[EventView]))
async def list_events(box_id: str, request: Request, page: Page = Depends(get_page), caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> list[dict[str, Any]]:
    require_uuid(box_id, "id")
    return await service.list_events(db, caller, box_id, page, _cursor(request))


@router.head("/boxes/{box_id}/files", **doc(count=True, errors=(403,)))
async def count_files(box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    return total_count(await service.count_events(db, caller, require_uuid(box_id, "id"), files_only=True))


@router.get("/boxes/{box_id}/files", **doc(params=(*PAGE, *CURSOR), errors=(403, 404), ok=list[EventView]))
async def list_files(box_id: str, request: Request, page: Page = Depends(get_page), caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> list[dict[str, Any]]:
    require_uuid(box_id, "id")
    return await service.list_events(db, caller, box_id, page, _cursor(request), files_only=True)


@router.post("/boxes/{box_id}/batch-events", status_code=201, **doc(auth=2, body=BatchBody, idempotent=True, errors=(404, 409), ok=list[EventView], ok_status=201, example=BATCH_EXAMPLE))
async def batch_events(box_id: str, request: Request, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)) -> Response:
    require_uuid(box_id, "id")
    data = await read_json(request)
    changes = service.check_access_batch(data)  # every invalid field at once (PROTOCOL §10.13)
    return await _created(request, db, caller, data, lambda: service.apply_access_batch(db, caller, box_id, changes), lambda views: views)


@router.get("/events", **doc(params=(IDS,), errors=(404,), ok=list[dict[str, Any]]))
async def events_by_ids(request: Request, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> list[Any]:
    ids: list[str] = []
    for raw in request.query_params.getlist("ids") + request.query_params.getlist("ids[]"):
        ids += [part.strip() for part in raw.split(",")]
    return await service.get_events_by_ids(db, caller, ids)


@router.get("/events/{event_id}", **doc(errors=(403, 404), ok=EventView))
async def get_event(event_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> dict[str, Any]:
    return await service.get_event(db, caller, require_uuid(event_id, "id"))


@router.post("/events/{event_id}/shares", status_code=201, **doc(body=ShareBody, idempotent=True, errors=(403, 404, 409, 410), ok=SharedEvents, ok_status=201))
async def share_event(event_id: str, request: Request, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    require_uuid(event_id, "id")
    body = await parse_body(request, ShareBody)
    return await _created(request, db, caller, body, lambda: service.share_event(db, caller, event_id, body), lambda views: {"events": views})
