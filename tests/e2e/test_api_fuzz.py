"""Property-based API test (issue 7 part 2): schemathesis over the schema a real
``boxtui serve`` serves, authenticated and not, asserting no 5xx and answers that
match the schema (status documented, content type, body schema, headers).

Each operation runs three times: **positive** cases with Alice's bearer token and
real ids (her box, a message, a file, a saved file… in paths, query strings and
bodies), so the success paths are reached; **negative** cases (schema-violating
input) with her token, so the validation paths are; and a few negative cases without
authentication. The
count of examples per operation is bounded (``BOXTUI_FUZZ_EXAMPLES``, default 12) so
the suite stays fast; the 2xx reached per route are printed and a floor is asserted.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from boxtui.core.encoding import b64u_encode
from boxtui.crypto import generate_box_keypair, share_hash
from tests.conftest import PASSWORD
from tests.server.helpers import batch, ciphertext, create_box, invite, join, post_text, random_key, rule, serve_process, signup_login, upload_file

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("BOXTUI_FUZZ_EXAMPLES", "12"))


@schemathesis.serializer("message/rfc822")
def _rfc822(ctx, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


def _realistic(world: dict[str, Any], operation) -> Any:
    """Positive cases keep their generated shape but name the world's real things:
    ids in bodies, query strings and the If-Match of the key backup; Alice's password
    for logins. Returns the function mapped over the operation's cases."""
    ids, label = world["ids"], f"{operation.method.upper()} {operation.path}"

    def fix(case):
        for name in list(case.query or {}):
            if name in world["query"]:
                case.query[name] = world["query"][name]
        body = case.body if isinstance(case.body, dict) else None
        if body is not None:
            for name in ("encrypted_file_id", "identity_id"):
                if name in body:
                    body[name] = ids["unsaved_file_id"] if name == "encrypted_file_id" else ids["identity_id"]
            for target in body.get("targets") or ():
                if isinstance(target, dict):
                    target.update(box_id=ids["box_id"], content={"encrypted": "AAAA"})
            if label == "POST /auth/login":
                body.update(email=world["alice"].email, password=world["password"])
                body.pop("code", None)
        if label == "PUT /crypto/secret-storage":
            case.headers = {**(case.headers or {}), "If-Match": f'"{world["backup_version"]()}"'}
        return case

    return fix


def not_a_server_error(ctx, response, case) -> bool:
    assert response.status_code < 500, f"{response.status_code} on {case.method} {case.formatted_path}: {response.text[:300]}"
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, response_headers_conformance]
#: Operations that end what the others need (the session, the box): run last.
DESTRUCTIVE = {("POST", "/auth/logout"), ("DELETE", "/boxes/{box_id}")}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    # Fuzzed logins fail by the hundred from 127.0.0.1: the per-address limit would
    # then refuse every login, which is right but leaves nothing else to explore.
    env = {"BOXTUI_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000", "BOXTUI_LOGIN_MAX_FAILURES": "100000"}
    with serve_process(data_dir, env=env) as server:
        import asyncio

        async def build() -> dict[str, Any]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                alice = await signup_login(http, "alice@example.com", name="Alice")
                bob = await signup_login(http, "bob@example.com", name="Bob")
                keys = generate_box_keypair()
                share = os.urandom(32)
                box = await create_box(
                    http, alice, "Fuzzed",
                    key_share={"misakey_share": b64u_encode(share), "other_share_hash": share_hash(share), "encrypted_invitation_key_share": ciphertext()},
                )  # fmt: skip
                await invite(http, alice, box["id"], bob.email)
                await join(http, bob, box["id"])
                message = await post_text(http, alice, box["id"])
                file_event = await upload_file(http, alice, box["id"], b"fuzzed file bytes")
                file_id = file_event["content"]["encrypted_file_id"]
                saved = await http.post(
                    "/saved-files",
                    json={"encrypted_file_id": file_id, "identity_id": alice.id, "encrypted_metadata": ciphertext(), "key_fingerprint": b64u_encode(os.urandom(64))},
                    headers=alice.headers,
                )  # fmt: skip
                assert saved.status_code == 201, saved.text
                unsaved = await upload_file(http, alice, box["id"], b"a file nobody saved yet")
                # A crypto action for Alice: Bob auto-invites her to his box.
                alice_key = random_key()
                assert (await http.patch(f"/identities/{alice.id}", json={"public_key": alice_key}, headers=alice.headers)).status_code == 200
                bobs_box = await create_box(http, bob, "Bob's")
                await batch(http, bob, bobs_box["id"], [{**rule(alice.email, auto_invite=True), "extra": {alice_key: ciphertext()}}])
                (action,) = (await http.get("/crypto/actions", headers=alice.headers)).json()
                stored = await http.put("/crypto/secret-storage", json={"data": ciphertext()}, headers=alice.headers)
                assert stored.status_code == 200, stored.text

                def backup_version() -> int:
                    return httpx.get(f"{server.url}/crypto/secret-storage", headers=alice.headers).json()["version"]

                return {
                    "alice": alice,
                    "bob": bob,
                    "password": PASSWORD,
                    "backup_version": backup_version,
                    "query": {
                        "ids": message["id"], "box_id": box["id"], "identity_id": alice.id,
                        "identifier_value": bob.email, "other_share_hash": share_hash(share),
                    },  # fmt: skip
                    "ids": {
                        "box_id": box["id"], "event_id": message["id"], "file_id": file_id, "identity_id": alice.id,
                        "saved_file_id": saved.json()["id"], "action_id": action["id"], "unsaved_file_id": unsaved["content"]["encrypted_file_id"],
                        "other_share_hash": share_hash(share),
                    },
                }  # fmt: skip

        built = asyncio.run(build())
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        yield {"server": server, "schema": schema, **built}


def _operations(schema) -> list:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: ((op.method.upper(), op.path) in DESTRUCTIVE, op.path, op.method))


def _run(operation, strategy, base_url: str, statuses: collections.Counter, headers: dict[str, str] | None, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), database=None)
    @given(case=strategy)
    def run(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_the_served_schema_holds_under_fuzzing(world):
    load_all_checks()
    schema = world["schema"]
    base_url = world["server"].url
    bearer = {"Authorization": f"Bearer {world['alice'].token}"}
    # Logging out ends a session: Bob's is spent on it, Alice's serves the rest.
    logout_bearer = {"Authorization": f"Bearer {world['bob'].token}"}
    reached: dict[str, collections.Counter] = {}
    failures = []
    for operation in _operations(schema):
        label = f"{operation.method.upper()} {operation.path}"
        statuses = reached.setdefault(label, collections.Counter())
        path_ids = {p.name: world["ids"][p.name] for p in operation.path_parameters if p.name in world["ids"]}
        secured = operation.definition.raw.get("security") != []
        caller = (logout_bearer if label == "POST /auth/logout" else bearer) if secured else None
        runs = [
            # Valid input, a real caller and real ids: the success paths.
            (operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path_ids).map(_realistic(world, operation)), caller, EXAMPLES),
            # Invalid input from a real caller: the validation paths (400s, never 5xx).
            (operation.as_strategy(GenerationMode.NEGATIVE), caller, EXAMPLES),
            # Anyone: refused before the input is read.
            (operation.as_strategy(GenerationMode.NEGATIVE), None, max(2, EXAMPLES // 4)),
        ]
        for strategy, headers, examples in runs:
            try:
                _run(operation, strategy, base_url, statuses, headers, examples)
            except Unsatisfiable:  # no input to get wrong (GET /healthz has no parameters)
                pass
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failing operation, then report
                failures.append(f"{label}: {exc}")
    lines = [f"{label:55} {sum(c.values()):4} cases, 2xx: {sum(n for s, n in c.items() if 200 <= s < 300):3}  {dict(sorted(c.items()))}" for label, c in sorted(reached.items())]
    print("\n" + "\n".join(lines))
    total = sum(sum(c.values()) for c in reached.values())
    successes = sum(n for c in reached.values() for s, n in c.items() if 200 <= s < 300)
    print(f"{total} cases, {successes} answered 2xx, {sum(1 for c in reached.values() if any(200 <= s < 300 for s in c))}/{len(reached)} operations reached a 2xx")
    assert not failures, "\n\n".join(failures)[:20000]
    assert all(s < 500 for c in reached.values() for s in c)
    # The success paths are reached, not only the refusals (45 of 45 when measured).
    missed = sorted(label for label, c in reached.items() if not any(200 <= s < 300 for s in c))
    assert len(missed) <= 3, f"no 2xx on {missed}"
    assert successes >= total // 4
