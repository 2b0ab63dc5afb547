"""Peak memory of a real ``boxtui serve`` taking a 100 MiB e-mail (issue 7 part 3).

Starts a server process, then sends (1) a 100 MiB encrypted-file upload — the route
that always streamed, the baseline — and (2) a 100 MiB mail to ``POST /boxes/{id}/email``
(a base64 attachment, generated on the fly), printing the server's peak RSS
(``VmHWM``) before and after each. Target: the mail raises the peak by < 50 MB.

Run: ``python benchmarks/ingest_memory.py [--mib 100]``. To measure another checkout,
put it first on ``PYTHONPATH`` (the server process inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.ingest_memory import MIB, post_mail, rss_kib  # noqa: E402
from tests.server.helpers import create_box, serve_process, signup_login  # noqa: E402


def _upload(base_url: str, token: str, box_id: str, total: int) -> int:
    def blob():
        for _ in range(total // MIB):
            yield os.urandom(MIB)

    form_head = (
        b"--X\r\nContent-Disposition: form-data; name=\"msg_encrypted_content\"\r\n\r\nAAAA\r\n"
        b"--X\r\nContent-Disposition: form-data; name=\"msg_public_key\"\r\n\r\n" + b"A" * 43 + b"\r\n"
        b"--X\r\nContent-Disposition: form-data; name=\"encrypted_file\"; filename=\"b\"\r\n\r\n"
    )

    def body():
        yield form_head
        yield from blob()
        yield b"\r\n--X--\r\n"

    with httpx.Client(base_url=base_url, timeout=300) as http:
        response = http.post(
            f"/boxes/{box_id}/encrypted-files", content=body(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "multipart/form-data; boundary=X"},
        )  # fmt: skip
    return response.status_code


def _mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


async def main(mib: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, serve_process(Path(tmp) / "data", "--max-upload-bytes", str((mib + 30) * MIB)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            user = await signup_login(http, "bench@example.com")
            box = await create_box(http, user)
        post_mail(server.url, user.token, box["id"], 64 * 1024)  # warm-up
        idle = rss_kib(server.pid)
        print(f"server idle:                  RSS {_mib(idle['VmRSS'])}, peak {_mib(idle['VmHWM'])}")
        status = _upload(server.url, user.token, box["id"], mib * MIB)
        upload = rss_kib(server.pid)
        print(f"{mib} MiB file upload ({status}):   peak {_mib(upload['VmHWM'])}  (+{(upload['VmHWM'] - idle['VmHWM']) / 1024:.1f} MiB)  [baseline]")
        response, sent = post_mail(server.url, user.token, box["id"], mib * MIB)
        mail = rss_kib(server.pid)
        growth = (mail["VmHWM"] - upload["VmHWM"]) * 1024 / 1e6
        print(
            f"{sent / MIB:.0f} MiB e-mail ingest ({response.status_code}): peak {_mib(mail['VmHWM'])}  "
            f"(+{(mail['VmHWM'] - upload['VmHWM']) / 1024:.1f} MiB = +{growth:.1f} MB over the upload's peak; target < 50 MB)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    asyncio.run(main(parser.parse_args().mib))
