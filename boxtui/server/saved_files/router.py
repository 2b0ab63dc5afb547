"""HTTP routes of saved files (PROTOCOL §6). All ACR 2, self only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import SavedFile
from boxtui.server.auth.deps import Caller, Page, acr2, get_page, parse_body, validate_model
from boxtui.server.db import get_db
from boxtui.server.files.service import FileWrite, blob_store
from boxtui.server.files.uploads import read_upload_form
from boxtui.server.idempotency.service import form_fingerprint, idempotency, json_fingerprint
from boxtui.server.saved_files import service
from boxtui.server.saved_files.schemas import SavedFileCreate, SavedFileFields
from boxtui.server.openapi import PAGE, doc

router = APIRouter(tags=["saved files"])


def _hub(request: Request):
    return getattr(request.app.state, "hub", None)


@router.post("/saved-files", status_code=201, response_model=SavedFile, **doc(auth=2, body=SavedFileCreate, idempotent=True, errors=(404, 409)))
async def save_file(request: Request, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)):
    body = await parse_body(request, SavedFileCreate)
    idem = idempotency(request, db, caller.id, json_fingerprint(request, body))
    async with idem.guard():
        saved = await service.save_file(db, caller.id, body)
        response = await idem.commit(201, saved)
    await service.notify_file_saved(_hub(request), caller.id, saved.encrypted_file_id, True)
    return response


@router.get("/saved-files", response_model=list[SavedFile], **doc(auth=2, params=PAGE))
async def list_saved_files(
    identity_id: str = Query(),
    page: Page = Depends(get_page),
    caller: Caller = Depends(acr2),
    db: AsyncSession = Depends(get_db),
):
    return await service.list_saved_files(db, caller.id, identity_id, page.offset, page.limit)


@router.head("/saved-files", **doc(auth=2, count=True))
async def count_saved_files(identity_id: str = Query(), caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)):
    total = await service.count_saved_files(db, caller.id, identity_id)
    return Response(status_code=204, headers={"X-Total-Count": str(total)})


@router.delete("/saved-files/{saved_file_id}", status_code=204, **doc(auth=2, errors=(404,), ok_status=204))
async def unsave_file(request: Request, saved_file_id: str, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)):
    file_id = await service.unsave_file(db, request.app.state.settings, caller.id, saved_file_id)
    await service.notify_file_saved(_hub(request), caller.id, file_id, False)
    return Response(status_code=204)


@router.post("/box-users/{identity_id}/saved-files", status_code=201, response_model=SavedFile, **doc(auth=2, form=SavedFileFields, file_field="encrypted_file", idempotent=True, errors=(404, 409)))
async def upload_saved_file(request: Request, identity_id: str, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)):
    settings = request.app.state.settings
    service.require_self(caller.id, identity_id, "path")
    idem = idempotency(request, db, caller.id)
    replaying = await idem.recorded()
    # Release the database (SQLite's write lock) while the body streams in.
    await db.commit()
    form = await read_upload_form(
        request,
        blob_store(settings),
        file_field="encrypted_file",
        text_fields=frozenset(SavedFileFields.model_fields),
        max_file_bytes=settings.max_upload_bytes,
    )
    idem.fingerprint = form_fingerprint(request, form.fields, "encrypted_file", form.file_sha256)
    if replaying:
        await form.discard()
        await idem.replay()
    try:
        fields = validate_model(SavedFileFields, form.fields)
    except BaseException:
        await form.discard()
        raise
    async with idem.guard(), FileWrite(db, settings, [form.file]) as write:
        saved = await service.upload_saved_file(db, caller.id, form, fields, write)
        response = await idem.record(201, saved)
        await write.commit()
    await service.notify_file_saved(_hub(request), caller.id, saved.encrypted_file_id, True)
    return response
