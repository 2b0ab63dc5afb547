"""Request bodies of the box routes, and the field types the event bodies share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from boxtui.core.encoding import b64_decode_any
from boxtui.server.identities.service import check_public_key, decode_b64u

MAX_SHARE_FIELD = 64 * 1024
SHA512_BYTES = 64


class StrictBody(BaseModel):
    """Unknown keys and wrong JSON types are 400s (PROTOCOL §1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _check_b64(value: str) -> str:
    try:
        b64_decode_any(value)
    except ValueError:
        raise ValueError("not base64") from None
    return value


def _check_b64u(value: str) -> str:
    decode_b64u(value)
    return value


#: Either base64 alphabet, padded or not (``encrypted*`` fields).
B64 = Annotated[str, AfterValidator(_check_b64), WithJsonSchema({"type": "string", "pattern": "^([A-Za-z0-9+/_-]{4})*([A-Za-z0-9+/_-]{2}(==)?|[A-Za-z0-9+/_-]{3}=?)?$"})]
#: URL-safe base64 without padding (keys, shares, hashes: PROTOCOL §1).
B64U = Annotated[str, AfterValidator(_check_b64u), WithJsonSchema({"type": "string", "pattern": "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$"})]
#: A b64u X25519 public key (32 bytes).
PublicKey = Annotated[str, AfterValidator(check_public_key), WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"})]


#: The name later releases of the reference web client give ``other_share_hash`` (PROTOCOL §10.13).
INVITATION_SHARE_HASH = "invitation_share_hash"


class KeyShare(StrictBody):
    """The server half of an invitation link (PROTOCOL §7).

    The hash may come as ``other_share_hash`` or ``invitation_share_hash``, or both when
    they are equal; two different values leave ``invitation_share_hash`` as an unknown
    field (400 ``invalid``).
    """

    misakey_share: B64U = Field(min_length=1, max_length=MAX_SHARE_FIELD)
    other_share_hash: B64U = Field(min_length=1, max_length=128)
    encrypted_invitation_key_share: B64 = Field(min_length=1, max_length=MAX_SHARE_FIELD)

    @model_validator(mode="before")
    @classmethod
    def _either_hash_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and INVITATION_SHARE_HASH in data:
            if "other_share_hash" not in data:
                data = {k: v for k, v in data.items() if k != INVITATION_SHARE_HASH} | {"other_share_hash": data[INVITATION_SHARE_HASH]}
            elif data["other_share_hash"] == data[INVITATION_SHARE_HASH]:
                data = {k: v for k, v in data.items() if k != INVITATION_SHARE_HASH}
        return data

    @field_validator("other_share_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if len(decode_b64u(value)) != SHA512_BYTES:
            raise ValueError("other_share_hash must be a SHA-512 (64 bytes)")
        return value


class CreateBoxBody(StrictBody):
    title: str = Field(min_length=1, max_length=50)
    public_key: PublicKey
    key_share: KeyShare | None = None


class DeleteBoxBody(StrictBody):
    user_confirmation: Annotated[str, WithJsonSchema({"type": "string", "const": "delete"})]
