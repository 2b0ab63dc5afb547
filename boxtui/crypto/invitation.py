"""Invitation payloads and invitation links (PROTOCOL §7, §8).

* ``encrypted_invitation_key_share``: text-style cryptogram of
  ``{"boxKeyShare":"<b64u>"}`` to the box key, so members can show the link again.
* Auto-invite ``extra`` value: text-style cryptogram of
  ``{"boxKeyShare":"<b64u>","boxSecretKey":"<b64u>"}`` to the invitee's identity key.
* Links: ``boxtui://<host[:port]>/boxes/<id>#<invitation share b64u>``; the
  ``https://`` form (and ``http://`` for a loopback server) is read too.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from boxtui.core.encoding import b64_decode_any, b64u_encode

from ._format import KEY_SIZE, check_bytes, field, js_dumps, parse_json, read_b64
from .cryptogram import open_text, seal_text
from .errors import InvalidInvitationLink

__all__ = [
    "InvitationLink",
    "seal_invitation_key_share",
    "open_invitation_key_share",
    "seal_auto_invite",
    "open_auto_invite",
    "make_invitation_link",
    "parse_invitation_link",
]

LINK_SCHEME = "boxtui"


def seal_invitation_key_share(invitation_share: bytes, box_public_key: bytes) -> str:
    share = check_bytes(invitation_share, KEY_SIZE, "invitation share")
    return seal_text(js_dumps({"boxKeyShare": b64u_encode(share)}), box_public_key)


def open_invitation_key_share(encrypted: str, box_secret_key: bytes) -> bytes:
    data = parse_json(open_text(encrypted, box_secret_key), "invitation key share")
    return read_b64(field(data, "boxKeyShare", str, "invitation key share"), "boxKeyShare", KEY_SIZE)


def seal_auto_invite(
    box_key_share: bytes, box_secret_key: bytes, invitee_public_key: bytes
) -> str:
    """The auto-invite ``extra`` value for one invitee."""
    payload = {
        "boxKeyShare": b64u_encode(check_bytes(box_key_share, KEY_SIZE, "box key share")),
        "boxSecretKey": b64u_encode(check_bytes(box_secret_key, KEY_SIZE, "box secret key")),
    }
    return seal_text(js_dumps(payload), invitee_public_key)


def open_auto_invite(encrypted: str, identity_secret_key: bytes) -> tuple[bytes, bytes]:
    """``(box_key_share, box_secret_key)`` from an auto-invite crypto action."""
    data = parse_json(open_text(encrypted, identity_secret_key), "auto-invite")
    return (
        read_b64(field(data, "boxKeyShare", str, "auto-invite"), "boxKeyShare", KEY_SIZE),
        read_b64(field(data, "boxSecretKey", str, "auto-invite"), "boxSecretKey", KEY_SIZE),
    )


@dataclass(frozen=True, repr=False)
class InvitationLink:
    """A parsed link: the server's base URL, the box id, the invitation share."""

    server_url: str
    box_id: str
    share: bytes

    def __repr__(self) -> str:  # the share is half a secret key
        return f"InvitationLink(server_url={self.server_url!r}, box_id={self.box_id!r})"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_invitation_link(server_url: str, box_id: str, invitation_share: bytes) -> str:
    """``boxtui://<host[:port]>/boxes/<id>#<share>`` for a box on ``server_url``.

    A path prefix of the server URL is kept. A plain-HTTP server must be on loopback,
    since ``boxtui://`` reads back as ``https://`` everywhere else.
    """
    share = check_bytes(invitation_share, KEY_SIZE, "invitation share")
    url = urlsplit(server_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidInvitationLink(f"not an http(s) server URL: {server_url!r}")
    if url.scheme == "http" and not _is_loopback(url.hostname):
        raise InvalidInvitationLink(f"invitation links need an https server, not {server_url!r}")
    box = _box_id(box_id)
    return f"{LINK_SCHEME}://{url.netloc}{url.path.rstrip('/')}/boxes/{box}#{b64u_encode(share)}"


def parse_invitation_link(link: str) -> InvitationLink:
    """Read a link from :func:`make_invitation_link` or its ``https://`` form.

    Raises :class:`InvalidInvitationLink` saying what is wrong.
    """
    if not isinstance(link, str):
        raise InvalidInvitationLink("an invitation link must be text")
    try:
        url = urlsplit(link.strip())
        host, port = url.hostname, url.port
    except ValueError as exc:
        raise InvalidInvitationLink(f"not a URL: {exc}") from None
    if url.scheme not in (LINK_SCHEME, "https", "http") or not host:
        raise InvalidInvitationLink("an invitation link starts with boxtui:// or https://")
    if url.username is not None or url.password is not None or url.query:
        raise InvalidInvitationLink("an invitation link has no user name or query")
    loopback = _is_loopback(host)
    if url.scheme == "http" and not loopback:
        raise InvalidInvitationLink("http:// invitation links are only for localhost; use https://")
    prefix, sep, box = url.path.rpartition("/boxes/")
    if not sep:
        raise InvalidInvitationLink("an invitation link has the path /boxes/<box id>")
    if not url.fragment:
        raise InvalidInvitationLink("the invitation link has no key share after '#'")
    try:
        share = b64_decode_any(url.fragment)
    except ValueError:
        share = b""
    if len(share) != KEY_SIZE:
        raise InvalidInvitationLink("the key share after '#' is damaged")
    scheme = url.scheme if url.scheme != LINK_SCHEME else ("http" if loopback else "https")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return InvitationLink(f"{scheme}://{netloc}{prefix.rstrip('/')}", _box_id(box), share)


def _box_id(text: str) -> str:
    """Canonical lower-case UUID, or :class:`InvalidInvitationLink`."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInvitationLink(f"not a box id: {text!r}") from None
