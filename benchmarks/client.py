"""The local-first client's figures (issue 10), each next to a baseline of the same run.

Sections (all by default, or pick with ``--only``):

``decrypt``
    Messages per second through the messenger's real path — a JSON page of 2,000
    ``msg.text`` events as the server sends it → ``EventView`` (the client's parser) →
    ``Messenger.decrypt_event`` → text — against raw libsodium ``crypto_box_open`` on
    the same ciphertexts, nonces and keys. Target: real ≤ 1.3 × raw per message.

Figures only, no asserts. Run: ``python benchmarks/client.py [--only decrypt]``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid


def _best_per_item(fn, items: int, repeat: int = 7) -> float:
    """The best of ``repeat`` runs of ``fn()``, in seconds per item."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / items


# --- decrypt -------------------------------------------------------------------------


def bench_decrypt(count: int = 2000) -> None:
    import nacl.bindings
    from pydantic import TypeAdapter

    from boxtui.core.wire import EventView
    from boxtui.crypto import generate_box_keypair, seal_text
    from boxtui.crypto._format import parse_json, read_b64, unwrap
    from boxtui.messenger.messenger import Messenger

    pair = generate_box_keypair()
    box_id = str(uuid.uuid4())
    sender = {"id": str(uuid.uuid4()), "display_name": "Ada", "identifier_value": "ada@example.org"}
    events = [
        {
            "id": str(uuid.uuid4()),
            "type": "msg.text",
            "box_id": box_id,
            "server_event_created_at": "2026-01-01T00:00:00.000Z",
            "referrer_id": None,
            "sender": sender,
            "content": {"encrypted": seal_text(f"message {i} " + "lorem ipsum " * (i % 7), pair.public_key)},
        }
        for i in range(count)
    ]
    page = json.dumps(events).encode()
    raw_inputs = []
    for event in events:
        cryptogram = parse_json(read_b64(event["content"]["encrypted"], "text"), "cryptogram")
        raw_inputs.append(
            (
                unwrap(cryptogram["ciphertext"], "ciphertext"),
                unwrap(cryptogram["nonce"], "nonce"),
                unwrap(cryptogram["ephemeralSenderPublicKey"], "key"),
            )
        )

    class _Keys:  # the one method decrypt_event asks of the key store
        def box_secret_key(self, _box_id: str) -> bytes:
            return pair.secret_key

    messenger = Messenger.__new__(Messenger)
    messenger.keystore = _Keys()
    parse_page = TypeAdapter(list[EventView]).validate_json

    def real() -> list[str | None]:
        return [messenger.decrypt_event(event).text for event in parse_page(page)]

    def raw() -> list[bytes]:
        secret = pair.secret_key
        return [nacl.bindings.crypto_box_open(c, n, k, secret) for c, n, k in raw_inputs]

    assert real() == [text.decode() for text in raw()]
    raw_s = _best_per_item(raw, count)
    real_s = _best_per_item(real, count)
    print("decrypt (2,000 msg.text, best of 7)")
    print(f"  raw crypto_box_open        {1 / raw_s:>10,.0f} msg/s   {raw_s * 1e6:6.1f} µs/msg")
    print(f"  page → EventView → text    {1 / real_s:>10,.0f} msg/s   {real_s * 1e6:6.1f} µs/msg")
    print(f"  ratio real/raw             {real_s / raw_s:10.2f}  (target ≤ 1.30)")


SECTIONS = {"decrypt": bench_decrypt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only this section")
    args = parser.parse_args()
    for name in args.only or list(SECTIONS):
        SECTIONS[name]()


if __name__ == "__main__":
    main()
