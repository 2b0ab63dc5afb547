"""E-mail ingest streams (issue 7 part 3): a 100 MiB mail raises a real server's peak
RSS by less than 50 MB, and the attachment arrives whole and decryptable."""

from __future__ import annotations


import httpx
import pytest

from boxtui.crypto import decrypt_file, generate_box_keypair, open_file_metadata, open_text
from boxtui.core.encoding import b64u_encode
from tests.e2e.ingest_memory import MIB, post_mail, rss_kib
from tests.server.helpers import serve_process, signup_login

pytestmark = pytest.mark.e2e


async def test_a_100_mib_mail_costs_the_server_less_than_50_mb(tmp_path):
    with serve_process(tmp_path / "data") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            alice = await signup_login(http, "big@example.com")
            keys = generate_box_keypair()
            box = (await http.post("/boxes", json={"title": "Mail", "public_key": b64u_encode(keys.public_key)}, headers=alice.headers)).json()
            # Warm the route up (imports, first-use allocations) with a small mail first.
            small, _ = post_mail(server.url, alice.token, box["id"], 64 * 1024)
            assert small.status_code == 201, small.text
            before = rss_kib(server.pid)
            response, sent = post_mail(server.url, alice.token, box["id"], 100 * MIB)
            after = rss_kib(server.pid)
            assert response.status_code == 201, response.text[:500]
            assert sent >= 100 * MIB
            growth_mb = (after["VmHWM"] - before["VmHWM"]) * 1024 / 1e6
            print(f"peak RSS {before['VmHWM'] // 1024} MiB → {after['VmHWM'] // 1024} MiB for a {sent / MIB:.0f} MiB mail (+{growth_mb:.1f} MB)")
            assert growth_mb < 50, f"peak RSS grew by {growth_mb:.0f} MB"

            events = response.json()["events"]
            assert [e["type"] for e in events] == ["msg.text", "msg.file"]
            assert open_text(events[0]["content"]["encrypted"], keys.secret_key).endswith("The report is attached.")
            meta = open_file_metadata(events[1]["content"]["encrypted"], keys.secret_key)
            assert meta.file_name == "data.bin" and meta.file_size > 70 * MIB
            blob = await http.get(f"/encrypted-files/{events[1]['content']['encrypted_file_id']}", headers=alice.headers)
            plain = decrypt_file(blob.content, meta.key)
            assert len(plain) == meta.file_size
            del plain, blob
