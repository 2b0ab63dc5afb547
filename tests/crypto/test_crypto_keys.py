"""Key pairs, key splitting, invitation payloads and links (PROTOCOL §7)."""

import base64
import hashlib
import uuid

import pytest

from boxtui.core.encoding import b64_decode_any, b64u_encode
from boxtui.crypto import (
    DecryptionError,
    InvalidInvitationLink,
    InvalidKey,
    combine_shares,
    generate_box_keypair,
    make_invitation_link,
    open_auto_invite,
    open_invitation_key_share,
    open_text,
    parse_invitation_link,
    public_key_from_secret,
    seal_auto_invite,
    seal_invitation_key_share,
    seal_text,
    share_hash,
    split_secret_key,
)

BOX_ID = str(uuid.UUID(int=0x1234_5678_9ABC_4DEF_8123_456789ABCDEF))
SHARE = bytes(range(32))


def test_keypair_and_public_key_from_secret(box):
    assert len(box.public_key) == len(box.secret_key) == 32
    assert public_key_from_secret(box.secret_key) == box.public_key
    assert generate_box_keypair().secret_key != box.secret_key
    assert b64u_encode(box.secret_key) not in repr(box)


def test_split_and_combine(box):
    invitation, server = split_secret_key(box.secret_key)
    assert len(invitation) == len(server) == 32
    assert invitation != box.secret_key and server != box.secret_key
    assert combine_shares(invitation, server) == box.secret_key
    assert combine_shares(server, invitation) == box.secret_key
    assert split_secret_key(box.secret_key)[0] != invitation  # random each time


def test_share_hash_is_b64u_sha512():
    assert share_hash(SHARE) == b64u_encode(hashlib.sha512(SHARE).digest())
    assert "=" not in share_hash(SHARE) and len(b64_decode_any(share_hash(SHARE))) == 64


def test_share_arguments_are_checked():
    for call in (
        lambda: split_secret_key(b"short"),
        lambda: combine_shares(SHARE, SHARE[:16]),
        lambda: share_hash(b""),
        lambda: public_key_from_secret(b"x" * 33),
    ):
        with pytest.raises(InvalidKey):
            call()


def test_invitation_key_share_round_trip(box):
    encrypted = seal_invitation_key_share(SHARE, box.public_key)
    assert open_text(encrypted, box.secret_key) == '{"boxKeyShare":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}'
    assert open_invitation_key_share(encrypted, box.secret_key) == SHARE


def test_auto_invite_round_trip(box):
    invitee = generate_box_keypair()
    share, server = split_secret_key(box.secret_key)
    encrypted = seal_auto_invite(server, box.secret_key, invitee.public_key)
    assert open_text(encrypted, invitee.secret_key) == (
        f'{{"boxKeyShare":"{b64u_encode(server)}","boxSecretKey":"{b64u_encode(box.secret_key)}"}}'
    )
    assert open_auto_invite(encrypted, invitee.secret_key) == (server, box.secret_key)
    with pytest.raises(DecryptionError):
        open_auto_invite(encrypted, box.secret_key)


@pytest.mark.parametrize("payload", ['{"boxKeyShare":"AAAA"}', "{}", '{"boxKeyShare":5}', "[1]", "plain"])
def test_bad_invitation_payloads_are_decryption_errors(box, payload):
    encrypted = seal_text(payload, box.public_key)
    with pytest.raises(DecryptionError):
        open_invitation_key_share(encrypted, box.secret_key)
    with pytest.raises(DecryptionError):
        open_auto_invite(encrypted, box.secret_key)


# --- links ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_url", "link_prefix"),
    [
        ("https://boxes.example.org", "boxtui://boxes.example.org"),
        ("https://boxes.example.org:8443/", "boxtui://boxes.example.org:8443"),
        ("https://example.org/box-api", "boxtui://example.org/box-api"),
        ("http://127.0.0.1:8000", "boxtui://127.0.0.1:8000"),
        ("http://localhost:8000", "boxtui://localhost:8000"),
        ("http://[::1]:8000", "boxtui://[::1]:8000"),
    ],
)
def test_link_round_trip(server_url, link_prefix):
    link = make_invitation_link(server_url, BOX_ID, SHARE)
    assert link == f"{link_prefix}/boxes/{BOX_ID}#{b64u_encode(SHARE)}"
    parsed = parse_invitation_link(link)
    assert parsed.server_url == server_url.rstrip("/")
    assert parsed.box_id == BOX_ID and parsed.share == SHARE
    assert b64u_encode(SHARE) not in repr(parsed)


@pytest.mark.parametrize(
    ("link", "server_url"),
    [
        (f"https://boxes.example.org/boxes/{BOX_ID}#{b64u_encode(SHARE)}", "https://boxes.example.org"),
        (f"  http://localhost:5173/boxes/{BOX_ID.upper()}#{b64u_encode(SHARE)}=\n", "http://localhost:5173"),
        (f"BOXTUI://Boxes.Example.org/boxes/{BOX_ID}#{b64u_encode(SHARE)}", "https://boxes.example.org"),
    ],
)
def test_parse_other_forms(link, server_url):
    parsed = parse_invitation_link(link)
    assert (parsed.server_url, parsed.box_id, parsed.share) == (server_url, BOX_ID, SHARE)


def test_parse_accepts_standard_base64_share():
    share = bytes([0xFB, 0xFF] * 16)  # encodes with + and / in the standard alphabet
    link = f"boxtui://h.example/boxes/{BOX_ID}#{base64.b64encode(share).decode()}"
    assert parse_invitation_link(link).share == share


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("", "boxtui://"),
        ("ftp://h.example/boxes/x#y", "boxtui://"),
        ("boxtui:///boxes/x#y", "boxtui://"),
        (f"http://h.example/boxes/{BOX_ID}#{b64u_encode(SHARE)}", "only for localhost"),
        (f"boxtui://h.example/rooms/{BOX_ID}#{b64u_encode(SHARE)}", "/boxes/"),
        (f"boxtui://h.example/boxes/{BOX_ID}", "no key share"),
        (f"boxtui://h.example/boxes/{BOX_ID}#abc", "damaged"),
        (f"boxtui://h.example/boxes/{BOX_ID}#{b64u_encode(SHARE)}!", "damaged"),
        (f"boxtui://h.example/boxes/not-a-uuid#{b64u_encode(SHARE)}", "not a box id"),
        (f"boxtui://h.example:99999/boxes/{BOX_ID}#{b64u_encode(SHARE)}", "not a URL"),
        (f"boxtui://u:p@h.example/boxes/{BOX_ID}#{b64u_encode(SHARE)}", "user name"),
        (f"boxtui://h.example/boxes/{BOX_ID}?x=1#{b64u_encode(SHARE)}", "query"),
        (None, "text"),
    ],
)
def test_bad_links_say_why(link, reason):
    with pytest.raises(InvalidInvitationLink, match=reason):
        parse_invitation_link(link)


def test_make_link_rejects_bad_input():
    with pytest.raises(InvalidInvitationLink, match="https"):
        make_invitation_link("http://boxes.example.org", BOX_ID, SHARE)
    with pytest.raises(InvalidInvitationLink):
        make_invitation_link("boxes.example.org", BOX_ID, SHARE)
    with pytest.raises(InvalidInvitationLink):
        make_invitation_link("https://boxes.example.org", "nope", SHARE)
    with pytest.raises(InvalidKey):
        make_invitation_link("https://boxes.example.org", BOX_ID, SHARE[:5])


def test_link_and_server_share_rebuild_the_box_key(box):
    invitation, server = split_secret_key(box.secret_key)
    parsed = parse_invitation_link(make_invitation_link("https://h.example", BOX_ID, invitation))
    assert share_hash(parsed.share) == share_hash(invitation)
    assert combine_shares(parsed.share, server) == box.secret_key
