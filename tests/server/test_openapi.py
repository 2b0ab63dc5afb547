"""``/openapi.json`` describes the API as it answers (issue 7 part 2)."""

from __future__ import annotations

JSON_BODY_ROUTES = {
    ("post", "/auth/signup"), ("post", "/auth/code"), ("post", "/auth/login"), ("post", "/boxes"),
    ("delete", "/boxes/{box_id}"), ("post", "/boxes/{box_id}/events"), ("post", "/boxes/{box_id}/batch-events"),
    ("post", "/events/{event_id}/shares"), ("patch", "/identities/{identity_id}"), ("post", "/saved-files"),
    ("put", "/crypto/secret-storage"),
}  # fmt: skip
MULTIPART_ROUTES = {("post", "/boxes/{box_id}/encrypted-files"), ("post", "/box-users/{identity_id}/saved-files")}


async def test_every_operation_is_described_as_it_answers(http):
    document = (await http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["Error"]["required"]) == {"code", "origin", "desc", "details"}
    operations = {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}
    assert len(operations) >= 45
    for (method, path), op in operations.items():
        responses = op["responses"]
        assert "422" not in responses, (method, path)
        assert "400" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")) and method != "head":
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        if op["security"]:
            assert "401" in responses, (method, path)
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                assert parameter["schema"]["format"] == "uuid", (method, path)
        if method == "head":
            assert set(responses) >= {"204"} and "200" not in responses, path
            assert responses["204"]["headers"]["X-Total-Count"]["required"] is True
            assert all("content" not in r for r in responses.values()), path
    for key in JSON_BODY_ROUTES:
        body = operations[key]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].startswith("#/components/schemas/In."), key
        assert {"413"} <= set(operations[key]["responses"]), key
    for key in MULTIPART_ROUTES:
        form = operations[key]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert form["properties"]["encrypted_file"] == {"type": "string", "format": "binary"}, key
        assert {"408", "413", "415"} <= set(operations[key]["responses"]), key
    email = operations[("post", "/boxes/{box_id}/email")]
    assert "message/rfc822" in email["requestBody"]["content"]
    # Query parameters from the real routes.
    names = lambda key: {p["name"] for p in operations[key].get("parameters", [])}  # noqa: E731
    assert {"offset", "limit", "after", "before", "tail"} <= names(("get", "/boxes/{box_id}/events"))
    assert "ids" in names(("get", "/events")) and "other_share_hash" in names(("get", "/boxes/{box_id}/public"))
    assert {"If-Match", "Idempotency-Key"} <= names(("put", "/crypto/secret-storage"))
    # Statuses the routes really send.
    assert {"409", "429"} <= set(operations[("post", "/auth/signup")]["responses"])
    assert {"403", "404", "409", "410"} <= set(operations[("post", "/boxes/{box_id}/events")]["responses"])
    assert "412" in operations[("put", "/crypto/secret-storage")]["responses"]
    assert operations[("get", "/boxes/{box_id}/public")]["security"] == []
