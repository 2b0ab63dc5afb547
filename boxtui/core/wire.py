"""Pydantic models of everything that crosses the wire (PROTOCOL §1–§9).

The server builds its responses from these and the client parses responses into
them, so both halves agree on one shape. Views are lenient on input (``extra`` keys
are kept) so a newer server does not break an older client.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal[
    "create",
    "msg.text",
    "msg.file",
    "msg.edit",
    "msg.delete",
    "member.join",
    "member.leave",
    "member.kick",
    "access.add",
    "access.rm",
    "state.access_mode",
    "state.lifecycle",
    "state.key_share",
]

#: Event types ``GET /boxes/{id}/events`` never lists (PROTOCOL §3): the access rules'
#: changes, which only the admin and the sender receive live. Clients keep them out of
#: timelines and stores too, so a box reads the same live and after reopening.
ACCESS_TYPES = frozenset({"access.add", "access.rm"})

#: Event types counted as unread when posted by someone else (PROTOCOL §3).
UNREAD_TYPES = frozenset(
    {
        "msg.text",
        "msg.file",
        "member.join",
        "member.leave",
        "member.kick",
        "state.access_mode",
        "state.lifecycle",
        "state.key_share",
    }
)


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class IdentityView(WireModel):
    id: str
    display_name: str
    avatar_url: str | None = None
    identifier_value: str = ""
    identifier_kind: str = ""


class Identity(IdentityView):
    """``GET /identities/me`` and signup: the caller's own identity."""

    public_key: str | None = None
    has_account: bool = True


class EventView(WireModel):
    id: str
    type: str
    box_id: str
    server_event_created_at: str
    referrer_id: str | None = None
    sender: IdentityView
    content: dict[str, Any] | None = None
    #: On ``access.add`` and ``state.key_share`` views (the admin's).
    extra: dict[str, Any] | None = None

    @property
    def is_saved(self) -> bool | None:
        """``content.is_saved`` of a ``msg.file`` as read (None on other events)."""
        return (self.content or {}).get("is_saved")

    @property
    def last_edited_at(self) -> str | None:
        """``content.last_edited_at`` of an edited message as read."""
        return (self.content or {}).get("last_edited_at")


class BoxView(WireModel):
    id: str
    server_created_at: str
    public_key: str
    title: str
    lifecycle: Literal["open", "closed"]
    access_mode: Literal["limited", "public"]
    creator: IdentityView
    last_event: EventView | None = None
    events_count: int = 0


class PublicBox(WireModel):
    title: str
    creator: IdentityView


class Session(WireModel):
    access_token: str
    token_type: str = "bearer"
    acr: int
    expires_at: str
    csrf_token: str
    identity: Identity


class SessionInfo(WireModel):
    identity: Identity
    acr: int
    expires_at: str
    csrf_token: str


class SavedFile(WireModel):
    id: str
    encrypted_file_id: str
    identity_id: str
    encrypted_metadata: str
    key_fingerprint: str
    created_at: str


class KeyShare(WireModel):
    other_share_hash: str
    share: str
    box_id: str
    #: The same hash and share under the names later reference clients read (PROTOCOL §10.13).
    invitation_share_hash: str | None = None
    misakey_share: str | None = None


class CryptoAction(WireModel):
    id: str
    type: Literal["invitation", "set_box_key_share"]
    box_id: str
    encryption_public_key: str | None = None
    encrypted: str
    created_at: str


class SecretStorage(WireModel):
    version: int
    data: str


class ServerInfo(WireModel):
    """``GET /server-info`` (PROTOCOL §10.15): a boxtui server, and how its codes travel."""

    service: str
    version: str = ""
    signup_requires_code: bool = False
    #: ``"email"`` (SMTP) or ``"outbox"`` (files in the server's data folder).
    login_codes: str = "email"


#: The protocol's error ``code`` for each HTTP status (PROTOCOL §1).
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal",
    503: "service_unavailable",
}


class ErrorBody(BaseModel):
    """The protocol's error format (PROTOCOL §1)."""

    code: str
    origin: str = "not_defined"
    desc: str = ""
    details: dict[str, str] = Field(default_factory=dict)


class RealtimeMessage(WireModel):
    type: str
    object: dict[str, Any] = Field(default_factory=dict)
