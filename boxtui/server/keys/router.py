"""HTTP routes of keys between people (PROTOCOL §7)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from boxtui.core.wire import CryptoAction, KeyShare, PublicBox, SecretStorage
from boxtui.server.auth.deps import Caller, Page, acr1, acr2, get_page, parse_body
from boxtui.server.boxes.schemas import StrictBody
from boxtui.server.db import get_db
from boxtui.server.idempotency.service import idempotency, json_fingerprint
from boxtui.server.keys import service
from boxtui.server.openapi import B64U_SCHEMA, IF_MATCH, PAGE, UUID_V4, InvitationKeyShare, Param, SecretStorageVersion, doc

router = APIRouter(tags=["keys"])


class SecretStoragePut(StrictBody):
    """The client's key store, sealed with a key derived from the password."""

    data: str = Field(min_length=1, max_length=1 << 20)


# Declared before ``/box-key-shares/{other_share_hash}``, which would swallow it.
@router.get("/box-key-shares/encrypted-invitation-key-share", **doc(params=(Param("box_id", UUID_V4, "the box", required=True),), errors=(403, 404), ok=InvitationKeyShare))
async def encrypted_invitation_key_share(request: Request, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)):
    share = await service.encrypted_invitation_key_share(db, caller, request.query_params.get("box_id"))
    return {"encrypted_invitation_key_share": share}


@router.get("/box-key-shares/{other_share_hash}", response_model=KeyShare, **doc(errors=(403, 404)))
async def key_share(other_share_hash: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)):
    return await service.key_share_by_hash(db, caller, other_share_hash)


@router.get("/boxes/{box_id}/public", response_model=PublicBox, **doc(auth=None, params=(Param("other_share_hash", B64U_SCHEMA, "SHA-512 of the invitation share (b64u)", required=True),), errors=(403, 404)))
async def public_box(request: Request, box_id: str, db: AsyncSession = Depends(get_db)):
    return await service.public_box(db, box_id, service.share_hash_query(request.query_params))


@router.get("/crypto/actions", response_model=list[CryptoAction], **doc(params=PAGE))
async def list_crypto_actions(
    caller: Caller = Depends(acr1), page: Page = Depends(get_page), db: AsyncSession = Depends(get_db)
):
    return await service.list_crypto_actions(db, caller.id, page.offset, page.limit)


@router.head("/crypto/actions", **doc(count=True))
async def count_crypto_actions(caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)):
    total = await service.count_crypto_actions(db, caller.id)
    return Response(status_code=204, headers={"X-Total-Count": str(total)})


@router.delete("/crypto/actions/{action_id}", status_code=204, **doc(errors=(404,), ok_status=204))
async def delete_crypto_action(action_id: str, caller: Caller = Depends(acr1), db: AsyncSession = Depends(get_db)):
    await service.delete_crypto_action(db, caller.id, action_id)
    return Response(status_code=204)


@router.get("/crypto/secret-storage", response_model=SecretStorage, **doc(auth=2, errors=(404,), ok_headers={"ETag": "the stored version"}))
async def get_secret_storage(response: Response, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)):
    storage = await service.get_secret_storage(db, caller.id)
    response.headers["ETag"] = service.etag(storage.version)
    return storage


@router.put("/crypto/secret-storage", **doc(auth=2, body=SecretStoragePut, idempotent=True, params=(IF_MATCH,), errors=(412,), ok=SecretStorageVersion))
async def put_secret_storage(request: Request, caller: Caller = Depends(acr2), db: AsyncSession = Depends(get_db)) -> Response:
    body = await parse_body(request, SecretStoragePut)
    if_match = request.headers.get("if-match")
    idem = idempotency(request, db, caller.id, json_fingerprint(request, body, if_match=if_match))
    async with idem.guard():
        version = await service.put_secret_storage(db, caller.id, body.data, if_match)
        return await idem.commit(200, {"version": version}, {"ETag": service.etag(version)})
