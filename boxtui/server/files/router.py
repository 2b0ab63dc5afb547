"""HTTP routes of encrypted files (PROTOCOL §5) and e-mail in (§4.2).

Upload routes check the caller, the box and the announced size before reading the
body, then stream it (see :mod:`boxtui.server.files.uploads`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from python_multipart.multipart import parse_options_header
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import EventView
from boxtui.server.auth.deps import Caller, acr1, validate_model
from boxtui.server.db import get_db
from boxtui.server.errors import UnsupportedMediaType
from boxtui.server.events.service import publish_events, render_event, render_events
from boxtui.server.files import messages, service
from boxtui.server.files.email_ingest import read_email, staged_blobs
from boxtui.server.files.uploads import limited_body, read_upload_form
from boxtui.server.idempotency.service import body_fingerprint, form_fingerprint, idempotency
from boxtui.server.openapi import doc
from boxtui.server.openapi import EventsAnswer as SharedEvents

router = APIRouter(tags=["files"])


def _hub(request: Request):
    return getattr(request.app.state, "hub", None)


@router.post("/boxes/{box_id}/encrypted-files", status_code=201, **doc(form=messages.FileMessageFields, file_field="encrypted_file", idempotent=True, errors=(403, 404, 409), ok=EventView, ok_status=201))
async def upload_file(request: Request, box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    settings = request.app.state.settings
    idem = idempotency(request, db, caller.id)
    replaying = await idem.recorded()  # a retry is answered even if the box has changed since
    if replaying:
        await db.commit()  # hold nothing while the body streams in
    else:
        await messages.check_box_before_upload(db, caller, box_id)  # commits
    form = await read_upload_form(
        request,
        service.blob_store(settings),
        file_field="encrypted_file",
        text_fields=frozenset(messages.FileMessageFields.model_fields),
        max_file_bytes=settings.max_upload_bytes,
    )
    idem.fingerprint = form_fingerprint(request, form.fields, "encrypted_file", form.file_sha256)
    if replaying:
        await form.discard()
        await idem.replay()
    try:
        fields = validate_model(messages.FileMessageFields, form.fields)
    except BaseException:
        await form.discard()
        raise
    async with idem.guard(), service.FileWrite(db, settings, [form.file]) as write:
        row = await messages.post_file_message(db, caller, box_id, form, fields, write)
        response = await idem.record(201, await render_event(db, row, caller.id))
        await write.commit()
    await publish_events(_hub(request), db, [row])
    return response


@router.get("/encrypted-files/{file_id}", response_class=StreamingResponse, **doc(errors=(403, 404), ok={"type": "string", "format": "binary"}, ok_media="application/octet-stream"))
async def download_file(request: Request, file_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)):
    reader = await service.open_for_download(db, request.app.state.settings, caller.id, file_id)
    return StreamingResponse(
        reader.chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(reader.size)},
    )


@router.post("/boxes/{box_id}/email", status_code=201, **doc(raw="message/rfc822", idempotent=True, errors=(403, 409), ok=SharedEvents, ok_status=201, example="From: a@example.org\r\nSubject: Hello\r\n\r\nHi there.\r\n"))
async def ingest_email(request: Request, box_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)) -> Response:
    settings = request.app.state.settings
    messages.require_email_ingest(settings)
    kind, _ = parse_options_header(request.headers.get("content-type"))
    if kind != b"message/rfc822":
        raise UnsupportedMediaType("send the e-mail as message/rfc822", {"content-type": "invalid"}, origin="headers")
    idem = idempotency(request, db, caller.id)
    replaying = await idem.recorded()
    body = limited_body(request, settings.max_upload_bytes)
    if replaying:
        await db.commit()  # no transaction held while the body streams in
        async for _ in body:  # read (and hash) it, nothing more
            pass
        idem.fingerprint = body_fingerprint(request)
        await idem.replay()
    await messages.check_box_before_upload(db, caller, box_id)  # commits
    mail = await read_email(body, service.blob_store(settings))
    try:
        idem.fingerprint = body_fingerprint(request)
    except BaseException:
        for staged in staged_blobs(mail):
            await staged.discard()
        raise
    async with idem.guard(), service.FileWrite(db, settings, staged_blobs(mail)) as write:
        rows = await messages.ingest_email(db, caller, box_id, mail, write)
        response = await idem.record(201, {"events": await render_events(db, rows, caller.id)})
        await write.commit()
    await publish_events(_hub(request), db, rows)
    return response
