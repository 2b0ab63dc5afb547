"""Cryptograms, text messages, files and saved-file metadata (PROTOCOL §8)."""

import base64
import json

import pytest

from boxtui.core.encoding import b64_decode_any, b64u_encode
from boxtui.crypto import (
    DecryptionError,
    FileKey,
    FileMetadata,
    InvalidKey,
    decrypt_file,
    encrypt_file,
    generate_box_keypair,
    key_fingerprint,
    open_bytes,
    open_file_metadata,
    open_saved_metadata,
    open_text,
    seal_bytes,
    seal_file_metadata,
    seal_saved_metadata,
    seal_text,
)

TEXTS = ["hello", "", "Grüße 世界 👋🏽", 'quote " back \\ slash\n\ttab\x00\x1f', "x" * 70_000]


def test_cryptogram_round_trip_and_exact_shape(box):
    cryptogram = seal_bytes(b"\x00\xffbytes", box.public_key)
    assert open_bytes(cryptogram, box.secret_key) == b"\x00\xffbytes"
    assert " " not in cryptogram
    data = json.loads(cryptogram)
    assert list(data) == ["ephemeralSenderPublicKey", "nonce", "ciphertext"]
    for name, size in [("ephemeralSenderPublicKey", 32), ("nonce", 24), ("ciphertext", 16 + 7)]:
        wrapper = data[name]
        assert list(wrapper) == ["type", "encoding", "value"]
        assert wrapper["type"] == "Uint8Array" and wrapper["encoding"] == "base64"
        assert wrapper["value"] == base64.b64encode(base64.b64decode(wrapper["value"])).decode()
        assert len(base64.b64decode(wrapper["value"])) == size


def test_each_cryptogram_has_fresh_ephemeral_key_and_nonce(box):
    a, b = (json.loads(seal_bytes(b"same", box.public_key)) for _ in range(2))
    assert a["ephemeralSenderPublicKey"] != b["ephemeralSenderPublicKey"]
    assert a["nonce"] != b["nonce"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_round_trip(box, text):
    encrypted = seal_text(text, box.public_key)
    assert set(encrypted) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert open_text(encrypted, box.secret_key) == text


def test_text_inner_cryptogram_is_utf8_json(box):
    encrypted = seal_text("é", box.public_key)
    inner = b64_decode_any(encrypted).decode("utf-8")
    assert inner.startswith('{"ephemeralSenderPublicKey":{"type":"Uint8Array"')
    assert open_bytes(inner, box.secret_key) == "é".encode()


def test_readers_accept_either_alphabet_and_padding(box):
    encrypted = seal_text("alphabets", box.public_key)
    padded_std = base64.b64encode(b64_decode_any(encrypted)).decode()
    assert open_text(padded_std, box.secret_key) == "alphabets"
    data = json.loads(b64_decode_any(encrypted))
    for wrapper in data.values():
        wrapper["value"] = base64.urlsafe_b64encode(base64.b64decode(wrapper["value"])).decode().rstrip("=")
    assert open_bytes(json.dumps(data), box.secret_key) == b"alphabets"


def test_wrong_key_is_decryption_error(box):
    encrypted = seal_text("secret", box.public_key)
    with pytest.raises(DecryptionError, match="wrong key"):
        open_text(encrypted, generate_box_keypair().secret_key)


@pytest.mark.parametrize("field", ["ephemeralSenderPublicKey", "nonce", "ciphertext"])
def test_tampered_cryptogram_is_decryption_error(box, field):
    data = json.loads(seal_bytes(b"integrity", box.public_key))
    raw = bytearray(base64.b64decode(data[field]["value"]))
    raw[0] ^= 1
    data[field]["value"] = base64.b64encode(raw).decode()
    with pytest.raises(DecryptionError):
        open_bytes(json.dumps(data), box.secret_key)


@pytest.mark.parametrize(
    "cryptogram",
    [
        "",
        "not json",
        "[]",
        "{}",
        '{"ephemeralSenderPublicKey":1,"nonce":2,"ciphertext":3}',
        '{"ephemeralSenderPublicKey":{"type":"Uint8Array","encoding":"base64","value":"!!"},'
        '"nonce":{"type":"Uint8Array","value":"AAAA"},"ciphertext":{"type":"Uint8Array","value":"AAAA"}}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_cryptogram_is_decryption_error(box, cryptogram):
    with pytest.raises(DecryptionError):
        open_bytes(cryptogram, box.secret_key)


def test_short_or_odd_fields_are_decryption_errors(box):
    data = json.loads(seal_bytes(b"x", box.public_key))
    data["nonce"]["value"] = base64.b64encode(b"short").decode()
    with pytest.raises(DecryptionError, match="nonce must be 24 bytes"):
        open_bytes(json.dumps(data), box.secret_key)
    data = json.loads(seal_bytes(b"x", box.public_key))
    data["ciphertext"]["value"] = base64.b64encode(b"tiny").decode()
    with pytest.raises(DecryptionError):
        open_bytes(json.dumps(data), box.secret_key)


@pytest.mark.parametrize("encrypted", ["", "%%%", "abcde", b64u_encode(b"not json"), 42])
def test_malformed_text_is_decryption_error(box, encrypted):
    with pytest.raises(DecryptionError):
        open_text(encrypted, box.secret_key)


def test_non_utf8_plaintext_is_decryption_error(box):
    encrypted = b64u_encode(seal_bytes(b"\xff\xfe", box.public_key).encode())
    with pytest.raises(DecryptionError, match="UTF-8"):
        open_text(encrypted, box.secret_key)


def test_bad_key_arguments_are_invalid_key(box):
    with pytest.raises(InvalidKey, match="32 bytes"):
        seal_text("x", box.public_key[:31])
    with pytest.raises(InvalidKey, match="must be bytes"):
        seal_text("x", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        open_text(seal_text("x", box.public_key), b"")


# --- files -------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"file contents", bytes(range(256)) * 1000])
def test_file_round_trip_has_no_nonce_prefix(data):
    blob, key = encrypt_file(data)
    assert len(key.key) == 32 and len(key.nonce) == 24
    assert len(blob) == len(data) + 16  # MAC only, no nonce
    assert decrypt_file(blob, key) == data


def test_each_file_gets_its_own_key_and_nonce():
    (_, a), (_, b) = encrypt_file(b"same"), encrypt_file(b"same")
    assert a.key != b.key and a.nonce != b.nonce


def test_tampered_file_or_wrong_key_is_decryption_error():
    blob, key = encrypt_file(b"file contents")
    tampered = bytes([blob[0] ^ 1]) + blob[1:]
    for args in [(tampered, key), (blob, FileKey.generate()), (blob[:10], key)]:
        with pytest.raises(DecryptionError):
            decrypt_file(*args)


def test_file_key_checks_lengths():
    with pytest.raises(InvalidKey):
        FileKey(b"k" * 31, b"n" * 24)
    with pytest.raises(InvalidKey):
        FileKey(b"k" * 32, b"n" * 23)
    assert "k" * 8 not in repr(FileKey(b"k" * 32, b"n" * 24))


def _metadata(name="Résumé été 😀.pdf", size=12345, mime="application/pdf"):
    return FileMetadata(name, size, mime, FileKey(bytes(range(32)), bytes(range(100, 124))))


def test_metadata_json_is_exact():
    assert _metadata().to_json() == (
        '{"encryption":{"key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",'
        '"nonce":"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7"},'
        '"fileName":"Résumé été 😀.pdf","fileSize":12345,"fileType":"application/pdf"}'
    )
    assert FileMetadata.from_json(_metadata().to_json()) == _metadata()


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        "[]",
        '{"fileName":"a","fileSize":1,"fileType":"t"}',
        '{"encryption":{"key":"AAAA","nonce":"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7"},"fileName":"a","fileSize":1,"fileType":"t"}',
        _metadata().to_json().replace('"fileSize":12345', '"fileSize":"12345"'),
        _metadata().to_json().replace('"fileSize":12345', '"fileSize":true'),
        _metadata().to_json().replace('"fileSize":12345', '"fileSize":-1'),
        _metadata().to_json().replace('"fileName":"Résumé été 😀.pdf"', '"fileName":null'),
    ],
)
def test_malformed_metadata_is_decryption_error(bad):
    with pytest.raises(DecryptionError):
        FileMetadata.from_json(bad)


def test_file_metadata_sealed_like_text(box):
    meta = _metadata()
    encrypted = seal_file_metadata(meta, box.public_key)
    assert open_text(encrypted, box.secret_key) == meta.to_json()
    assert open_file_metadata(encrypted, box.secret_key) == meta
    with pytest.raises(DecryptionError):
        open_file_metadata(encrypted, generate_box_keypair().secret_key)


def test_full_file_flow(box):
    blob, key = encrypt_file(b"\x89PNG...")
    meta = FileMetadata("pic.png", 7, "image/png", key)
    opened = open_file_metadata(seal_file_metadata(meta, box.public_key), box.secret_key)
    assert decrypt_file(blob, opened.key) == b"\x89PNG..."


# --- saved files -----------------------------------------------------------------

VAULT_KEY = bytes(range(32, 64))


def test_saved_metadata_round_trip_and_shape():
    sealed = seal_saved_metadata(_metadata(), VAULT_KEY)
    data = json.loads(sealed)
    assert list(data) == ["nonce", "ciphertext"]
    assert len(base64.b64decode(data["nonce"], validate=True)) == 24
    assert sealed.startswith('{"nonce":"') and '"ciphertext":{"type":"Uint8Array","encoding":"base64","value":"' in sealed
    assert open_saved_metadata(sealed, VAULT_KEY) == _metadata()


def test_saved_metadata_wrong_key_tampered_or_malformed():
    sealed = seal_saved_metadata(_metadata(), VAULT_KEY)
    with pytest.raises(DecryptionError, match="vault key"):
        open_saved_metadata(sealed, bytes(32))
    data = json.loads(sealed)
    raw = bytearray(base64.b64decode(data["ciphertext"]["value"]))
    raw[-1] ^= 0x80
    data["ciphertext"]["value"] = base64.b64encode(raw).decode()
    for bad in [json.dumps(data), "", "{}", '{"nonce":"AAAA","ciphertext":{}}']:
        with pytest.raises(DecryptionError):
            open_saved_metadata(bad, VAULT_KEY)


def test_key_fingerprint():
    fingerprint = key_fingerprint(VAULT_KEY)
    assert len(b64_decode_any(fingerprint)) == 64
    assert "=" not in fingerprint
    assert fingerprint == key_fingerprint(VAULT_KEY) != key_fingerprint(bytes(32))


# --- the canonical fast path and the base64 reader (decrypt speed, issue 10) ----------


def _canonical(box, plaintext: bytes) -> bytes:
    return seal_bytes(plaintext, box.public_key).encode()


def test_canonical_bytes_and_any_spelling_open_alike(box):
    canonical = _canonical(box, b"same")
    spaced = json.dumps(json.loads(canonical), indent=1)
    reordered = json.dumps(dict(reversed(list(json.loads(canonical).items()))))
    for form in (canonical, canonical.decode(), spaced, spaced.encode(), reordered.encode()):
        assert open_bytes(form, box.secret_key) == b"same"


@pytest.mark.parametrize("field", ["ephemeralSenderPublicKey", "nonce", "ciphertext"])
def test_canonical_bytes_tampered_or_resized_are_decryption_errors(box, field):
    data = json.loads(_canonical(box, b"integrity"))
    raw = bytearray(base64.b64decode(data[field]["value"]))
    raw[-1] ^= 1
    tampered = dict(data, **{field: dict(data[field], value=base64.b64encode(raw).decode())})
    with pytest.raises(DecryptionError):
        open_bytes(json.dumps(tampered, separators=(",", ":")).encode(), box.secret_key)
    shorter = dict(data, **{field: dict(data[field], value=base64.b64encode(bytes(raw[:-3])).decode())})
    with pytest.raises(DecryptionError):
        open_bytes(json.dumps(shorter, separators=(",", ":")).encode(), box.secret_key)


def test_canonical_bytes_with_bad_padding_fall_back_and_fail_cleanly(box):
    canonical = _canonical(box, b"x")
    nonce = json.loads(canonical)["nonce"]["value"]
    broken = canonical.replace(nonce.encode(), nonce[:-1].encode() + b"==")
    with pytest.raises(DecryptionError):
        open_bytes(broken, box.secret_key)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("aGVsbG8", b"hello"),
        ("aGVsbG8=", b"hello"),
        ("  aGVsbG8=\n", b"hello"),
        ("-_-_", base64.urlsafe_b64decode("-_-_")),
        ("+/-_", base64.b64decode("+/+/")),
        ("", b""),
    ],
)
def test_b64_reader_accepts_both_alphabets_padding_and_outer_spaces(text, expected):
    assert b64_decode_any(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("aGVs bG8=", "whitespace"),
        ("aGVs\tbG8=", "whitespace"),
        ("aGVs\u00a0bG8=", "whitespace"),
        ("aG=VsbG8", "not base64"),
        ("aGVsb", "length"),
        ("aGVs!G8=", "not base64"),
        ("aGVsbé8=", "not base64"),
    ],
)
def test_b64_reader_refuses_inner_whitespace_and_strangers(text, reason):
    with pytest.raises(ValueError, match=reason):
        b64_decode_any(text)


def _canonical_with(box, field, value):
    """A canonical cryptogram (as seal_bytes writes it) with one value's text replaced."""
    data = json.loads(seal_bytes(b"canonical", box.public_key))
    data[field]["value"] = value
    return json.dumps(data, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("ephemeralSenderPublicKey", "A" * 43 + "!", "not base64"),  # a non-alphabet character
        ("ephemeralSenderPublicKey", "A" * 42 + "==", "32 bytes"),  # 44 characters, 31 bytes
        ("nonce", "A" * 31 + '"', "not base64"),  # an (escaped) quote inside a value
        ("nonce", "A" * 30 + "==", "24 bytes"),
        ("ciphertext", "AAAA==AA", "not base64"),  # padding inside
        ("ciphertext", "", "wrong key or tampered"),
    ],
)
def test_canonical_cryptogram_with_a_bad_value_is_the_same_clear_error(box, field, value, error):
    with pytest.raises(DecryptionError, match=error):
        open_bytes(_canonical_with(box, field, value), box.secret_key)


def test_canonical_cryptogram_cut_short_or_broken_is_a_clear_error(box):
    canonical = seal_bytes(b"cut", box.public_key).encode()
    nonce_at = canonical.index(b'"nonce"')
    for broken in (canonical[:-1], canonical[: nonce_at - 4] + b'"' + canonical[nonce_at - 3 :], canonical + b"}"):
        with pytest.raises(DecryptionError, match="not valid JSON"):
            open_bytes(broken, box.secret_key)


def test_cryptogram_spelt_otherwise_still_opens(box):
    data = json.loads(seal_bytes(b"spelt", box.public_key))
    spaced = json.dumps(data).encode()  # spaces after ':' and ','
    reordered = json.dumps({name: data[name] for name in ("nonce", "ciphertext", "ephemeralSenderPublicKey")})
    assert open_bytes(spaced, box.secret_key) == b"spelt"
    assert open_bytes(reordered, box.secret_key) == b"spelt"
    assert open_bytes(spaced + b"\n", box.secret_key) == b"spelt"


@pytest.mark.parametrize("spelling", ["padded", "whitespace", "standard"])
def test_text_in_any_accepted_spelling_opens_the_same(box, spelling):
    encrypted = seal_text("spellings", box.public_key)
    raw = b64_decode_any(encrypted)
    other = {
        "padded": base64.urlsafe_b64encode(raw).decode(),
        "whitespace": f"  {encrypted}\n",
        "standard": base64.b64encode(raw).decode().rstrip("="),
    }[spelling]
    assert open_text(other, box.secret_key) == "spellings"


@pytest.mark.parametrize("encrypted", ["YQ===", "YWJj=", "Y===", "YQ==YQ", "ab\u00e9c", "a b c d"])
def test_odd_base64_text_is_a_decryption_error_not_a_crash(box, encrypted):
    with pytest.raises(DecryptionError):
        open_text(encrypted, box.secret_key)
