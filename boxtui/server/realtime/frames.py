"""What travels between server processes on the realtime bus (PROTOCOL §10.17).

A realtime message is serialised **once**, where it is published: :func:`encode` gives
the text frame every socket is sent as is. Between processes that text travels inside
a bus frame, one line of header then the text, so a receiving process reads the
header and hands the text on without parsing it::

    boxtui1 <origin> <seq> m <identity id>,<identity id>,...\\n<envelope JSON>
    boxtui1 <origin> <seq> e <session id>\\n

``m`` delivers the envelope to the sockets of those identities, ``e`` ends a session's
sockets (logout). ``origin`` names the publishing process (random per start) and
``seq`` counts its frames from 1: a process that sees a gap in another's ``seq`` knows
it missed a frame (that process could not publish it), and makes its sockets
reconnect and catch up rather than leave them silently behind.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

VERSION = "boxtui1"


def encode(message: dict[str, Any]) -> str:
    """The text frame of one envelope, as Starlette's ``send_json`` would write it (the
    same JSON; orjson writes it an order of magnitude sooner, and ``json`` what orjson
    refuses: integers past 64 bits)."""
    try:
        return orjson.dumps(message).decode()
    except TypeError:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def new_origin() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class BusFrame:
    origin: str
    seq: int
    kind: str  # "m" (message) or "e" (end a session)
    targets: tuple[str, ...]  # identity ids ("m") or the session id ("e")
    text: str = ""


def pack_message(origin: str, seq: int, identity_ids: Iterable[str], text: str) -> str:
    return f"{VERSION} {origin} {seq} m {','.join(identity_ids)}\n{text}"


def pack_end_session(origin: str, seq: int, session_id: str) -> str:
    return f"{VERSION} {origin} {seq} e {session_id}\n"


def unpack(frame: str) -> BusFrame | None:
    """The frame, or None when it is not one this version understands."""
    head, newline, text = frame.partition("\n")
    parts = head.split(" ")
    if not newline or len(parts) != 5 or parts[0] != VERSION or parts[3] not in ("m", "e") or not parts[2].isdigit():
        return None
    targets = tuple(t for t in parts[4].split(",") if t)
    return BusFrame(parts[1], int(parts[2]), parts[3], targets, text)
