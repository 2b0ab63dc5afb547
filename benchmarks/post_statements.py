"""SQL statements and commits per creating request, with and without ``Idempotency-Key``.

For every route that creates something (PROTOCOL §10.12) the script runs the real
server in-process (``create_app`` on SQLite in a temporary directory, or on the
PostgreSQL given with ``--pg``), sends the request ``--rounds`` times each way and
prints the median number of SQL statements the server sent to the database
(SQLAlchemy's ``before_cursor_execute``, so ``BEGIN IMMEDIATE`` on SQLite counts) and
of commits, for:

- ``plain``: no ``Idempotency-Key`` header;
- ``keyed``: a fresh key each time (what ``boxtui.client`` sends);
- ``replay``: the same key and body again (answered from the stored response).

Run it on a checkout without idempotency support to get the "before" figures (such a
server ignores the header, so its ``keyed`` column equals ``plain``)::

    python benchmarks/post_statements.py                 # this checkout
    PYTHONPATH=/path/to/old/checkout python benchmarks/post_statements.py

Figures only, no asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import event

from boxtui.core.encoding import b64u_encode
from boxtui.server.app import create_app
from boxtui.server.mailer import latest_code
from boxtui.server.settings import ServerSettings

PASSWORD = "correct horse battery"


def key() -> str:
    return b64u_encode(os.urandom(32))


def blob() -> str:
    return b64u_encode(os.urandom(48))


class Counter:
    def __init__(self, engine) -> None:
        self.statements = 0
        self.commits = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "commit", self._commit)

    def _statement(self, *args) -> None:
        self.statements += 1

    def _commit(self, *args) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.statements = self.commits = 0


async def signup_login(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await http.post("/auth/signup", json={"email": email, "password": PASSWORD, "display_name": email[:10]})
    assert response.status_code == 201, response.text
    response = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def eml() -> bytes:
    message = EmailMessage()
    message["From"] = "ada@example.org"
    message["Subject"] = "figures"
    message.set_content("the numbers are in the attachment")
    message.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="figures.csv")
    return message.as_bytes()


async def run(settings: ServerSettings, rounds: int) -> list[tuple[str, dict[str, float]]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        counter = Counter(app.state.engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            ada = await signup_login(http, f"ada-{uuid.uuid4().hex[:6]}@example.org")
            response = await http.post("/boxes", json={"title": "bench", "public_key": key()}, headers=ada)
            box = response.json()["id"]
            other = (await http.post("/boxes", json={"title": "other", "public_key": key()}, headers=ada)).json()["id"]
            me = (await http.get("/identities/me", headers=ada)).json()["id"]
            first = (await http.post(f"/boxes/{box}/events", json={"type": "msg.text", "content": {"encrypted": blob()}}, headers=ada)).json()
            files: list[str] = []

            def form(fields: dict[str, str]) -> dict:
                return {"data": fields, "files": {"encrypted_file": ("blob", os.urandom(256))}}

            async def upload_for_saving() -> str:
                response = await http.post(f"/boxes/{box}/encrypted-files", headers=ada, **form({"msg_encrypted_content": blob(), "msg_public_key": key()}))
                return response.json()["content"]["encrypted_file_id"]

            for _ in range(rounds * 3):
                files.append(await upload_for_saving())

            def saved_body() -> dict:
                return {"json": {"encrypted_file_id": files.pop(), "identity_id": me, "encrypted_metadata": blob(), "key_fingerprint": key()}}

            counter_box = iter(range(10**6))

            def batch_body() -> dict:
                return {"json": {"batch_type": "accesses", "events": [{"type": "access.add", "content": {"restriction_type": "identifier", "value": f"p{next(counter_box)}@example.org"}}]}}

            secret_version = {"v": None}

            routes: list[tuple[str, str, Callable[[], str], Callable[[], dict], dict]] = [
                ("POST /boxes", "POST", lambda: "/boxes", lambda: {"json": {"title": "t", "public_key": key()}}, ada),
                ("POST /boxes/{id}/events", "POST", lambda: f"/boxes/{box}/events", lambda: {"json": {"type": "msg.text", "content": {"encrypted": blob()}}}, ada),
                ("POST /boxes/{id}/batch-events", "POST", lambda: f"/boxes/{box}/batch-events", batch_body, ada),
                ("POST /events/{id}/shares", "POST", lambda: f"/events/{first['id']}/shares", lambda: {"json": {"targets": [{"box_id": other, "content": {"encrypted": blob()}}]}}, ada),
                ("POST /boxes/{id}/encrypted-files", "POST", lambda: f"/boxes/{box}/encrypted-files", lambda: form({"msg_encrypted_content": blob(), "msg_public_key": key()}), ada),
                ("POST /boxes/{id}/email", "POST", lambda: f"/boxes/{box}/email", lambda: {"content": eml(), "headers": {"Content-Type": "message/rfc822"}}, ada),
                ("POST /saved-files", "POST", lambda: "/saved-files", saved_body, ada),
                ("POST /box-users/{id}/saved-files", "POST", lambda: f"/box-users/{me}/saved-files", lambda: form({"encrypted_metadata": blob(), "key_fingerprint": key()}), ada),
                ("POST /auth/signup", "POST", lambda: "/auth/signup", lambda: {"json": {"email": f"s{uuid.uuid4().hex[:10]}@example.org", "password": PASSWORD, "display_name": "s"}}, {}),
                ("PUT /crypto/secret-storage", "PUT", lambda: "/crypto/secret-storage", lambda: {"json": {"data": blob()}}, ada),
            ]
            results = []
            for name, method, path, body, headers in routes:
                figures: dict[str, list[int]] = {"plain": [], "keyed": [], "replay": [], "plain_commits": [], "keyed_commits": []}
                for mode in ("plain", "keyed"):
                    for _ in range(rounds):
                        extra = dict(headers)
                        if method == "PUT" and secret_version["v"] is not None:
                            extra["If-Match"] = f'"{secret_version["v"]}"'
                        kwargs = body()
                        kwargs["headers"] = {**extra, **kwargs.get("headers", {})}
                        if mode == "keyed":
                            kwargs["headers"]["Idempotency-Key"] = f'"{uuid.uuid4()}"'
                        counter.reset()
                        response = await http.request(method, path(), **kwargs)
                        assert response.status_code in (200, 201), (name, response.status_code, response.text)
                        figures[mode].append(counter.statements)
                        figures[f"{mode}_commits"].append(counter.commits)
                        if method == "PUT":
                            secret_version["v"] = response.json()["version"]
                        if mode == "keyed":
                            counter.reset()
                            again = await http.request(method, path(), **kwargs)
                            # A server without idempotency answers the resend on its own (201 again, 409, 412…).
                            if again.headers.get("idempotent-replayed") == "true":
                                figures["replay"].append(counter.statements)
                results.append((name, {k: statistics.median(v) if v else float("nan") for k, v in figures.items()}))
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg", default="", help="postgresql+asyncpg://… of an empty, throw-away database")
    args = parser.parse_args()
    import boxtui

    print(f"boxtui from {Path(boxtui.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServerSettings(data_dir=Path(tmp) / "data", database_url=args.pg, argon2_time_cost=1, argon2_memory_kib=8192)
        results = await run(settings, args.rounds)
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"\nmedian per request over {args.rounds} rounds, {backend}")
    print(f"{'route':36} {'plain':>6} {'keyed':>6} {'replay':>7} {'commits plain/keyed':>20}")
    for name, f in results:
        print(f"{name:36} {f['plain']:>6g} {f['keyed']:>6g} {f['replay']:>7g} {f['plain_commits']:>12g}/{f['keyed_commits']:g}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
