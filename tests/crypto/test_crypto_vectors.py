"""Compatibility with the web client's tweetnacl, byte for byte (PROTOCOL §8).

* ``vectors.json`` was written once by ``node js/vectors.js generate`` (tweetnacl):
  fixed keys and nonces, exact expected strings. Checked without node.
* With node, live round trips in both directions: Python seals → tweetnacl opens,
  tweetnacl seals → Python opens.
"""

import base64
import fcntl
import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from boxtui.core.encoding import b64_decode_any, b64u_encode
from boxtui.crypto import (
    FileKey,
    FileMetadata,
    combine_shares,
    decrypt_file,
    encrypt_file,
    generate_box_keypair,
    key_fingerprint,
    open_auto_invite,
    open_bytes,
    open_file_metadata,
    open_invitation_key_share,
    open_saved_metadata,
    open_text,
    public_key_from_secret,
    seal_auto_invite,
    seal_bytes,
    seal_file_metadata,
    seal_invitation_key_share,
    seal_saved_metadata,
    seal_text,
    share_hash,
)

HERE = Path(__file__).parent
JS = HERE / "js"
V = json.loads((HERE / "vectors.json").read_text(encoding="utf-8"))
RECIPIENT_SK = b64_decode_any(V["recipientSecretKey"])
RECIPIENT_PK = b64_decode_any(V["recipientPublicKey"])
VAULT_KEY = b64_decode_any(V["vaultKey"])
K = {name: b64_decode_any(value) for name, value in V["keys"].items() if not name.endswith(("Json", "Encrypted"))}


def _meta(v: dict) -> FileMetadata:
    key = FileKey(b64_decode_any(v["key"]), b64_decode_any(v["nonce"]))
    return FileMetadata(v["fileName"], v["fileSize"], v["fileType"], key)


# --- fixture vectors ---------------------------------------------------------------


def test_fixture_came_from_tweetnacl():
    assert V["generator"].startswith("tweetnacl ")
    assert public_key_from_secret(RECIPIENT_SK) == RECIPIENT_PK


@pytest.mark.parametrize("v", V["text"], ids=lambda v: repr(v["text"][:12]))
def test_text_vectors(v):
    fixed = {"_ephemeral_secret_key": b64_decode_any(v["ephemeralSecretKey"]), "_nonce": b64_decode_any(v["nonce"])}
    assert seal_bytes(v["text"].encode(), RECIPIENT_PK, **fixed) == v["cryptogram"]
    assert seal_text(v["text"], RECIPIENT_PK, **fixed) == v["encrypted"]
    assert open_bytes(v["cryptogram"], RECIPIENT_SK) == v["text"].encode()
    assert open_text(v["encrypted"], RECIPIENT_SK) == v["text"]


@pytest.mark.parametrize("v", V["file"], ids=lambda v: v["data"][:8])
def test_file_vectors(v):
    key = FileKey(b64_decode_any(v["key"]), b64_decode_any(v["nonce"]))
    data, blob = b64_decode_any(v["data"]), b64_decode_any(v["blob"])
    assert encrypt_file(data, _key=key) == (blob, key)
    assert decrypt_file(blob, key) == data


@pytest.mark.parametrize("v", V["metadata"], ids=lambda v: v["fileName"])
def test_metadata_vectors(v):
    meta = _meta(v)
    assert meta.to_json() == v["json"]
    fixed = {"_ephemeral_secret_key": b64_decode_any(v["ephemeralSecretKey"]), "_nonce": b64_decode_any(v["boxNonce"])}
    assert seal_file_metadata(meta, RECIPIENT_PK, **fixed) == v["encrypted"]
    assert open_file_metadata(v["encrypted"], RECIPIENT_SK) == meta
    assert seal_saved_metadata(meta, VAULT_KEY, _nonce=b64_decode_any(v["savedNonce"])) == v["saved"]
    assert open_saved_metadata(v["saved"], VAULT_KEY) == meta


def test_fingerprint_vector():
    assert key_fingerprint(VAULT_KEY) == V["keyFingerprint"]


def test_key_vectors():
    assert public_key_from_secret(K["boxSecretKey"]) == K["boxPublicKey"]
    assert combine_shares(K["invitationShare"], K["serverShare"]) == K["boxSecretKey"]
    assert share_hash(K["invitationShare"]) == V["keys"]["shareHash"]


def test_invitation_vectors():
    keys = V["keys"]
    assert open_invitation_key_share(keys["invitationEncrypted"], RECIPIENT_SK) == K["invitationShare"]
    assert open_auto_invite(keys["autoInviteEncrypted"], RECIPIENT_SK) == (K["serverShare"], K["boxSecretKey"])
    ours = seal_invitation_key_share(K["invitationShare"], RECIPIENT_PK)
    assert open_text(ours, RECIPIENT_SK) == keys["invitationJson"]
    ours = seal_auto_invite(K["serverShare"], K["boxSecretKey"], RECIPIENT_PK)
    assert open_text(ours, RECIPIENT_SK) == keys["autoInviteJson"]


# --- live, with node and tweetnacl -------------------------------------------------------


@functools.cache
def _tweetnacl_missing() -> str | None:
    """Why the live tests cannot run, or None. Tries ``npm install`` once."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if (JS / "node_modules" / "tweetnacl").is_dir():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "tests/crypto/js/node_modules is missing and npm is not on PATH"
    with open(JS / "package.json") as lock:  # one install even with pytest-xdist
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (JS / "node_modules" / "tweetnacl").is_dir():
            return None
        try:
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(JS)],
                cwd=JS, capture_output=True, text=True, timeout=120,
            )
        except subprocess.TimeoutExpired:
            return "npm install of tweetnacl timed out after 120 s"
    if done.returncode != 0 or not (JS / "node_modules" / "tweetnacl").is_dir():
        return f"npm install of tweetnacl failed: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def tweetnacl():
    """Run a batch of operations in ``node js/vectors.js run``; results in order."""
    reason = _tweetnacl_missing()
    if reason:
        pytest.skip(f"tweetnacl cross-check skipped: {reason} (vectors.json is still checked)")

    def run(ops: list[dict]) -> list[dict]:
        done = subprocess.run(
            ["node", str(JS / "vectors.js"), "run"],
            input=json.dumps(ops), capture_output=True, text=True, encoding="utf-8", timeout=60, check=True,
        )
        results = json.loads(done.stdout)
        assert [r for r in results if "error" in r] == []
        return results

    return run


TEXTS = ["hello", "", "Grüße, 世界! 👋🏽", '"\\\n\t\x00\x1f\x7f\u2028', "long " * 5000]
DATA = [b"", b"\x00\xff" * 3, bytes(range(256)) * 400]
METAS = [
    FileMetadata("Résumé été 😀.pdf", 123, "application/pdf", FileKey.generate()),
    FileMetadata('odd "name"\\\t.bin', 0, "", FileKey.generate()),
]


def test_python_seals_tweetnacl_opens(tweetnacl):
    box = generate_box_keypair()
    blobs = [encrypt_file(d) for d in DATA]
    ops = (
        [{"op": "open_text", "encrypted": seal_text(t, box.public_key), "secretKey": b64u_encode(box.secret_key)} for t in TEXTS]
        + [{"op": "open_file", "blob": base64.b64encode(b).decode(), "key": b64u_encode(k.key), "nonce": base64.b64encode(k.nonce).decode()} for b, k in blobs]
        + [{"op": "open_metadata", "encrypted": seal_file_metadata(m, box.public_key), "secretKey": b64u_encode(box.secret_key)} for m in METAS]
        + [{"op": "open_saved", "encrypted": seal_saved_metadata(m, VAULT_KEY), "vaultKey": b64u_encode(VAULT_KEY)} for m in METAS]
        + [{"op": "fingerprint", "vaultKey": b64u_encode(VAULT_KEY)}]
    )
    results = iter(tweetnacl(ops))
    assert [next(results)["text"] for _ in TEXTS] == TEXTS
    assert [base64.b64decode(next(results)["data"]) for _ in DATA] == DATA
    assert [next(results)["metadata"] for _ in METAS] == [json.loads(m.to_json()) for m in METAS]
    assert [next(results)["metadata"] for _ in METAS] == [json.loads(m.to_json()) for m in METAS]
    assert next(results)["fingerprint"] == key_fingerprint(VAULT_KEY)


def test_tweetnacl_seals_python_opens(tweetnacl):
    box = generate_box_keypair()
    meta_objects = [json.loads(m.to_json()) for m in METAS]
    ops = (
        [{"op": "seal_text", "text": t, "publicKey": b64u_encode(box.public_key)} for t in TEXTS]
        + [{"op": "seal_file", "data": base64.b64encode(d).decode()} for d in DATA]
        + [{"op": "seal_metadata", "metadata": {**o["encryption"], **o}, "publicKey": b64u_encode(box.public_key)} for o in meta_objects]
        + [{"op": "seal_saved", "metadata": {**o["encryption"], **o}, "vaultKey": b64u_encode(VAULT_KEY)} for o in meta_objects]
    )
    results = iter(tweetnacl(ops))
    assert [open_text(next(results)["encrypted"], box.secret_key) for _ in TEXTS] == TEXTS
    for data in DATA:
        r = next(results)
        key = FileKey(b64_decode_any(r["key"]), b64_decode_any(r["nonce"]))
        assert decrypt_file(b64_decode_any(r["blob"]), key) == data
    for meta in METAS:  # JS's JSON.stringify of the metadata is byte-identical to ours
        assert open_text(next(results)["encrypted"], box.secret_key) == meta.to_json()
    assert [open_saved_metadata(next(results)["encrypted"], VAULT_KEY) for _ in METAS] == METAS
