"""Measuring what e-mail ingest costs a real ``boxtui serve`` in memory.

Used by ``test_ingest_memory.py`` (the bound) and ``benchmarks/ingest_memory.py`` (the
figures). A big mail is generated on the fly (a base64 attachment of random bytes)
and streamed to the server, so the client holds only one chunk at a time; the
server's peak resident set is read from ``/proc/<pid>/status`` (``VmHWM``), which
the kernel keeps as the high-water mark of the process.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import httpx

MIB = 1 << 20
_LINE = 57  # raw bytes per 76-character base64 line
_LINES_PER_CHUNK = 2000


def rss_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of ``pid``, in KiB."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def big_mail(total_bytes: int) -> Iterator[bytes]:
    """A multipart mail of about ``total_bytes``: a short text and one base64 attachment."""
    yield (
        b"From: Big Sender <big@example.org>\r\nSubject: a big one\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BOUNDARY"\r\n\r\n'
        b"--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n"
        b'--BOUNDARY\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="data.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    sent = 0
    chunk_raw = _LINE * _LINES_PER_CHUNK
    while sent < total_bytes:
        raw = os.urandom(chunk_raw)
        encoded = base64.b64encode(raw)
        yield b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))
        sent += len(encoded) + len(encoded) // 76 * 2
    yield b"--BOUNDARY--\r\n"


def post_mail(base_url: str, token: str, box_id: str, total_bytes: int) -> tuple[httpx.Response, int]:
    """Stream a generated mail of about ``total_bytes`` to ``POST /boxes/{id}/email``:
    (the answer, how many bytes were sent)."""
    sent = 0

    def counted() -> Iterator[bytes]:
        nonlocal sent
        for chunk in big_mail(total_bytes):
            sent += len(chunk)
            yield chunk

    with httpx.Client(base_url=base_url, timeout=300) as http:
        response = http.post(
            f"/boxes/{box_id}/email",
            content=counted(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
        )
    return response, sent
