"""What ``/openapi.json`` says: every route's real body, parameters and answers.

Routes read their bodies and query strings themselves (so every failure is the
protocol's 400, never FastAPI's 422), which leaves FastAPI nothing to describe. Each
route therefore names its shape with :func:`doc` — ``@router.post(..., **doc(body=SignupBody,
errors=(409, 429), ok=Identity))`` — and :func:`install_openapi` completes the document
in one pass:

* request bodies from the real pydantic models (JSON), multipart forms (their text
  fields and the file part), raw ``message/rfc822``; query and header parameters;
* every status a route answers, errors with the protocol's error body (``Error``):
  400 wherever there is input, 401 and (ACR 2, CSRF) 403 wherever there is a caller,
  413 for bodies, 415 for uploads, plus what the route lists;
* path ids as lower-case UUID v4 strings (anything else is 400);
* ``HEAD`` count twins as they answer: ``204``, no body, ``X-Total-Count``;
* no ``422`` anywhere (the server never sends it), and the bearer scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from boxtui.core.wire import STATUS_CODES, ErrorBody, EventView

UUID_V4_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
UUID_V4 = {"type": "string", "format": "uuid", "pattern": UUID_V4_PATTERN}
_UNSAFE = {"post", "put", "patch", "delete"}

#: JSON schemas of the models the routes name, lifted into ``components/schemas``.
_SCHEMAS: dict[str, dict[str, Any]] = {}


def schema_of(model: Any, request: bool = False) -> dict[str, Any]:
    """A ``$ref`` to the JSON schema of ``model`` (a class, or a type such as ``list[X]``).

    Request bodies are named ``In.<Model>`` and answers ``Out.<Model>``: the same
    class name can mean both (``KeyShare`` in a body, ``KeyShare`` as answered).
    """
    prefix, mode = ("In.", "validation") if request else ("Out.", "serialization")
    schema = TypeAdapter(model).json_schema(ref_template=f"#/components/schemas/{prefix}{{model}}", mode=mode)
    _SCHEMAS.update({f"{prefix}{name}": definition for name, definition in schema.pop("$defs", {}).items()})
    if isinstance(model, type) and issubclass(model, BaseModel):
        _SCHEMAS[f"{prefix}{model.__name__}"] = schema
        return {"$ref": f"#/components/schemas/{prefix}{model.__name__}"}
    return schema


@dataclass(frozen=True)
class Param:
    """A query or header parameter."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    location: str = "query"

    def as_openapi(self) -> dict[str, Any]:
        return {"name": self.name, "in": self.location, "required": self.required, "description": self.description, "schema": self.schema}


PAGE = (
    Param("offset", {"type": "integer", "minimum": 0, "maximum": 10**17}, "first item (default 0)"),
    Param("limit", {"type": "integer", "minimum": 0, "maximum": 1000}, "items per page (default 500, at most 1000)"),
)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!#-+\\--~]+$"},
    "a fresh key per request; a retry with the same key and body replays the answer (PROTOCOL §10.12)", location="header",
)  # fmt: skip


def doc(
    *,
    auth: int | None = 1,
    body: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    file_field: str | None = None,
    raw: str | None = None,
    params: Sequence[Param] = (),
    errors: Iterable[int] = (),
    ok: Any = None,
    ok_status: int | None = None,
    ok_media: str = "application/json",
    ok_headers: dict[str, str] | None = None,
    count: bool = False,
    idempotent: bool = False,
    example: Any = None,
) -> dict[str, Any]:
    """Keyword arguments for a route decorator describing it in ``/openapi.json``.

    ``auth``: the ACR the caller needs (None: no authentication). ``body``: a JSON
    body model; ``form`` + ``file_field``: a multipart upload; ``raw``: a raw body's
    media type. ``ok``: the success body (a model or type). ``count``: a ``HEAD``
    count twin. ``errors``: statuses beyond the ones implied (see the module doc).
    """
    extra: dict[str, Any] = {"x-boxtui-auth": auth or 0}  # 0, not None: None keys are dropped
    statuses = set(errors)
    parameters = [p.as_openapi() for p in (*params, *((IDEMPOTENCY_KEY,) if idempotent else ()))]
    if parameters:
        extra["parameters"] = parameters
        statuses.add(400)
    if idempotent:
        statuses.add(409)
    if body is not None:
        content: dict[str, Any] = {"schema": schema_of(body, request=True)}
        if example is not None:
            content["example"] = example
        extra["requestBody"] = {"required": True, "content": {"application/json": content}}
        statuses.update({400, 413})
    if form is not None:
        form_schema = form.model_json_schema(mode="validation")
        properties = {name: _form_field(field) for name, field in form_schema["properties"].items()}
        properties[file_field or "file"] = {"type": "string", "format": "binary"}
        required = [*form_schema.get("required", []), file_field or "file"]
        extra["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object", "properties": properties, "required": required, "additionalProperties": False}}},
        }
        statuses.update({400, 408, 413, 415})
    if raw is not None:
        raw_content: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
        if example is not None:
            raw_content["example"] = example
        extra["requestBody"] = {"required": True, "content": {raw: raw_content}}
        statuses.update({400, 408, 413, 415})
    if auth is not None:
        statuses.add(401)
        if auth >= 2:
            statuses.add(403)
    responses: dict[int | str, Any] = {status: _error(status) for status in sorted(statuses)}
    if count:
        responses[204] = {"description": "the count", "headers": {"X-Total-Count": {"schema": {"type": "integer", "minimum": 0}, "required": True}}}
        return {"status_code": 204, "responses": responses, "openapi_extra": extra}
    success: dict[str, Any] = {"description": "success"}
    if ok is not None:
        success["content"] = {ok_media: {"schema": schema_of(ok) if ok_media == "application/json" else ok}}
    if ok_headers:
        success["headers"] = {name: {"schema": {"type": "string"}, "description": text} for name, text in ok_headers.items()}
    responses[ok_status or 200] = success
    return {"responses": responses, "openapi_extra": extra}


def _form_field(field: dict[str, Any]) -> dict[str, Any]:
    """A multipart text field: a string, with the constraints its model field has."""
    if "anyOf" in field:  # optional: the non-null branch
        field = next((branch for branch in field["anyOf"] if branch.get("type") != "null"), {})
    return {"type": "string", **{k: v for k, v in field.items() if k in ("maxLength", "minLength", "pattern", "format")}}


def _error(status: int) -> dict[str, Any]:
    return {
        "description": STATUS_CODES.get(status, "error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _complete(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_SCHEMAS)
    schemas["Error"] = ErrorBody.model_json_schema()
    schemas["Error"]["properties"]["code"]["enum"] = sorted(set(STATUS_CODES.values()))
    schemas["Error"]["required"] = ["code", "origin", "desc", "details"]
    schemas["Error"]["additionalProperties"] = False
    components["securitySchemes"] = {
        "bearer": {
            "type": "http", "scheme": "bearer",
            "description": "the access_token of POST /auth/login; or, instead, its cookies (accesstoken, tokentype=bearer) with X-CSRF-Token on unsafe methods (PROTOCOL §2)",
        },
    }  # fmt: skip
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _complete_operation(path, method, operation)
    return document


def _complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    responses.setdefault("400", _error(400))  # any request can be malformed HTTP (bad headers)
    auth = operation.pop("x-boxtui-auth", 1)
    if auth:
        operation["security"] = [{"bearer": []}]
        if method in _UNSAFE:  # cookie callers: X-CSRF-Token missing → 400, wrong → 403
            for status in (400, 403):
                responses.setdefault(str(status), _error(status))
    else:
        operation["security"] = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            if parameter["name"].endswith("_id"):
                parameter["schema"] = dict(UUID_V4)
            responses.setdefault("400", _error(400))
    if method == "head":
        for response in responses.values():
            response.pop("content", None)
    for key in list(responses):
        if key != "204" and "content" not in responses[key] and key.startswith("2") and method != "head":
            responses[key]["content"] = {"application/json": {"schema": {}}}
    operation["responses"] = dict(sorted(responses.items()))


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
            app.openapi_schema = _complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- shapes several routes share -------------------------------------------------------

B64U_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "minLength": 1, "maxLength": 256}
CURSOR = (
    Param("after", UUID_V4, "events strictly after this event id"),
    Param("before", UUID_V4, "the `limit` events just before this event id"),
    Param("tail", {"type": "string", "enum": ["true", "false", "1", "0"]}, "the last `limit` events"),
)
IDS = Param(
    "ids", {"type": "string", "pattern": "^[0-9a-f-]+(,[0-9a-f-]+)*$"},
    "comma-separated event ids (at most 100; `ids[]=` repeated works too)", required=True,
)  # fmt: skip
IF_MATCH = Param("If-Match", {"type": "string"}, '"<current version>" (required once a backup exists)', location="header")


class EventsAnswer(BaseModel):
    """``{"events": [...]}`` (shares, e-mail in)."""

    events: list[EventView]


class InvitationKeyShare(BaseModel):
    encrypted_invitation_key_share: str | None


class SecretStorageVersion(BaseModel):
    version: int
