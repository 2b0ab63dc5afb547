"""Command line entry point: ``boxtui`` (the app), ``boxtui serve``, and the scriptable verbs.

Exit codes: 0 ok, 1 user error (one line on stderr), 2 usage.

The verbs talk to ``--server URL``, else the configured server, else the server of the
saved session (or of the last login), else the host's local server at 127.0.0.1:8642
(started on demand; ``boxtui server status|start|stop``). The profile is
``$BOXTUI_HOME`` or the platform's folders; the password comes from
``$BOXTUI_PASSWORD`` or a prompt. Verbs print only data (ids, links, paths, lines of
tab-separated fields); anything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from boxtui.client.client import BoxClient
    from boxtui.messenger.messenger import Messenger
    from boxtui.messenger.models import TimelineEntry
    from boxtui.messenger.profile import Profile

PASSWORD_ENV = "BOXTUI_PASSWORD"
_NOT_LOGGED_IN = "not logged in: run boxtui login --email ADDRESS"


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 1."""


# --- serve ----------------------------------------------------------------------------


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the boxtui server")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8642)")
    p.add_argument("--data-dir", type=Path, default=None, help="where the database, blobs and outbox live")
    p.add_argument("--database-url", default=None, help="sqlite+aiosqlite:///… or postgresql+asyncpg://…")
    p.add_argument("--redis-url", default=None, help="redis://… for fan-out across server processes")
    p.add_argument("--max-upload-bytes", type=int, default=None)
    p.add_argument("--quota-bytes", type=int, default=None)
    p.add_argument("--email-ingest", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--signup-requires-code", action=argparse.BooleanOptionalAction, default=None,
        help="signups must carry a code e-mailed by POST /auth/code (proves the address)",
    )  # fmt: skip
    p.add_argument(
        "--forwarded-allow-ips", default=None, metavar="IPS",
        help="comma-separated proxy addresses (or *) whose X-Forwarded-For/-Proto are believed (default: none)",
    )  # fmt: skip
    p.add_argument(
        "--secure-cookies", action=argparse.BooleanOptionalAction, default=None,
        help="mark the session cookies Secure (default: when the request came over HTTPS)",
    )  # fmt: skip
    p.add_argument("--ssl-certfile", type=Path, default=None, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", type=Path, default=None, help="the certificate's private key (PEM)")
    p.add_argument("--config", type=Path, default=None, help="TOML settings file")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from boxtui.server.serve import serve
    from boxtui.server.settings import ServerSettings

    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "database_url": args.database_url,
            "redis_url": args.redis_url,
            "max_upload_bytes": args.max_upload_bytes,
            "quota_bytes": args.quota_bytes,
            "email_ingest": args.email_ingest,
            "signup_requires_code": args.signup_requires_code,
            "forwarded_allow_ips": args.forwarded_allow_ips,
            "secure_cookies": args.secure_cookies,
            "ssl_certfile": args.ssl_certfile,
            "ssl_keyfile": args.ssl_keyfile,
            "config_file": args.config,
        }.items()
        if value is not None
    }
    serve(ServerSettings(**overrides), log_level=args.log_level)
    return 0


# --- server: the host's local server ---------------------------------------------------


def _add_server(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "server",
        help="the host's local server: status, start, stop",
        description="The local server every profile and Unix user on this host finds at 127.0.0.1:8642 "
        "(or the port it moved to). `status` exits 0 when it runs, 3 when it does not.",
    )
    p.add_argument("action", choices=["status", "start", "stop"])
    p.set_defaults(func=_cmd_server)


def _cmd_server(args: argparse.Namespace) -> int:
    from boxtui.messenger.embedded import ensure_local_server, local_server_status, stop_local_server

    if args.action == "start":
        url = ensure_local_server()
        _say(url.announcement() or f"The local server is already running at {url}.")
        print(url)
        return 0
    if args.action == "stop":
        if stop_local_server():
            _say("Stopped the local server; `boxtui server start` (or any boxtui command) starts it again at the same address.")
        else:
            _say("No local server of yours is running.")
        return 0
    status = local_server_status()
    _row("url", status.url)
    _row("state", "running" if status.running else "not running")
    for key, value in (
        ("owner", status.owner),
        ("pid", status.pid or None),
        ("version", status.version),
        ("data", status.data_dir),
        ("log", status.log_path),
    ):
        if value:
            _row(key, value)
    for note in status.notes:
        _row("note", note)
    return 0 if status.running else 3


def _say(text: str) -> None:
    """A message for the person at the terminal (stderr: stdout is for data)."""
    for line in text.splitlines():
        print(f"boxtui: {line}", file=sys.stderr)


# --- the scriptable verbs -----------------------------------------------------------

Handler = Callable[["BoxClient", "Profile", argparse.Namespace], Awaitable[int | None]]


#: ``--server`` is accepted after the verb too (``boxtui send --server URL …``).
_SERVER_OPTION = argparse.ArgumentParser(add_help=False)
_SERVER_OPTION.add_argument("--server", metavar="URL", default=argparse.SUPPRESS, help="the server to talk to")


def _verb(
    sub: argparse._SubParsersAction, name: str, handler: Handler, help: str, *, needs_session: bool = True
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help, parents=[_SERVER_OPTION])
    parser.set_defaults(func=_run_verb, handler=handler, needs_session=needs_session)
    return parser


def _add_verbs(sub: argparse._SubParsersAction) -> None:
    p = _verb(sub, "signup", _cmd_signup, "create an account and log in", needs_session=False)
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True, help="display name")
    p.add_argument(
        "--code", nargs="?", const=True, default=None, metavar="CODE",
        help="prove the e-mail with a one-time code; without a value, e-mail one and ask for it",
    )  # fmt: skip

    p = _verb(sub, "login", _cmd_login, "log in with the password (or an e-mail code)", needs_session=False)
    p.add_argument("--email", required=True)
    p.add_argument(
        "--code", nargs="?", const=True, default=None, metavar="CODE",
        help="log in with a one-time code; without a value, e-mail one and ask for it",
    )  # fmt: skip

    _verb(sub, "logout", _cmd_logout, "log out and forget the session")
    _verb(sub, "boxes", _cmd_boxes, "list boxes: id, unread, title, preview (tab separated)")

    p = _verb(sub, "create-box", _cmd_create_box, "create a box and print its id")
    p.add_argument("title")

    p = _verb(sub, "send", _cmd_send, "send a text message (from stdin with -)")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("text", nargs="?", default="-", help="the text, or - to read stdin (default)")
    p.add_argument("--reply-to", metavar="EVENT_ID")

    p = _verb(sub, "events", _cmd_events, "print a box's events, decrypted, oldest first")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = _verb(sub, "upload", _cmd_upload, "encrypt and send a file; print the event id")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("file", type=Path)

    p = _verb(sub, "download", _cmd_download, "download and decrypt a file message; print the path")
    p.add_argument("event_id")
    p.add_argument("-o", "--output", type=Path, default=None, help="file or folder (default: current folder)")

    p = _verb(sub, "access", _cmd_access, "list or change who may join a box")
    p.add_argument("box", help="box id or unique title")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the access rules: id, type, value, auto-invite")
    add = actions.add_parser("add", help="add rules (one batch)")
    add.add_argument("--email", action="append", default=[], help="a person (repeatable)")
    add.add_argument("--domain", action="append", default=[], help="everyone of an e-mail domain (repeatable)")
    add.add_argument("--auto-invite", action="store_true", help="send the box key to each --email at once")
    rm = actions.add_parser("rm", help="remove rules by id (one batch)")
    rm.add_argument("rule_ids", nargs="+", metavar="RULE_ID")
    mode = actions.add_parser("mode", help="public: anyone with the link may join; limited: only the rules")
    mode.add_argument("mode", choices=["public", "limited"])

    p = _verb(sub, "invite", _cmd_invite, "print the box's invitation link")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("--rotate", action="store_true", help="make a new link; older links stop working")

    p = _verb(sub, "join", _cmd_join, "join a box from an invitation link; print its id")
    p.add_argument("link")

    p = _verb(sub, "saved", _cmd_saved, "your saved files")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("ls", help="list: id, size, name, saved at")
    save = actions.add_parser("save", help="keep a box's file; print the saved id")
    save.add_argument("event_id")
    get = actions.add_parser("get", help="download and decrypt; print the path")
    get.add_argument("saved_id")
    get.add_argument("-o", "--output", type=Path, default=None, help="file or folder (default: current folder)")
    remove = actions.add_parser("rm", help="delete a saved file")
    remove.add_argument("saved_id")
    put = actions.add_parser("put", help="upload a local file; print the saved id")
    put.add_argument("file", type=Path)

    p = _verb(sub, "forward", _cmd_forward, "copy a message into other boxes; print the new ids")
    p.add_argument("event_id")
    p.add_argument("boxes", nargs="+", metavar="BOX")

    p = _verb(sub, "import-email", _cmd_import_email, "post an .eml file, encrypted on this device")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("file", type=Path)


def _run_verb(args: argparse.Namespace) -> int:
    from boxtui.client.client import BoxClient
    from boxtui.messenger.embedded import LocalServerURL, choose_server
    from boxtui.messenger.profile import Profile

    profile = Profile.load()
    if args.needs_session and profile.session is None:
        if args.handler is _cmd_logout:
            return 0  # already logged out
        raise UserError(_NOT_LOGGED_IN)
    url = choose_server(profile, args.server)
    if isinstance(url, LocalServerURL):
        _say(url.announcement())

    async def run() -> int:
        async with BoxClient(url) as client:
            return int(await args.handler(client, profile, args) or 0)

    return asyncio.run(run())


# --- helpers of the verbs -------------------------------------------------------------


def _password(prompt: str = "Password: ", *, confirm: bool = False) -> str:
    """``$BOXTUI_PASSWORD``, else asked on the terminal (twice with ``confirm``)."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise UserError(f"no password: set {PASSWORD_ENV} or run in a terminal")
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Password again: ") != password:
        raise UserError("the two passwords differ")
    return password


async def _messenger(client: BoxClient, profile: Profile) -> Messenger:
    """The saved session with the key store unlocked."""
    from boxtui.messenger.errors import NotLoggedIn
    from boxtui.messenger.messenger import Messenger

    if profile.session is None:
        raise UserError(_NOT_LOGGED_IN)
    try:
        return await Messenger.resume(client, profile, _password())
    except NotLoggedIn as exc:
        raise UserError(f"{exc}: run boxtui login --email ADDRESS") from None


async def _box_id(messenger: Messenger, ref: str) -> str:
    """A box id from an id or a unique title."""
    from boxtui.core.ids import is_uuid

    if is_uuid(ref.lower()):
        return ref.lower()
    boxes = [s.box for s in await messenger.list_boxes()]
    matches = [b for b in boxes if b.title == ref] or [b for b in boxes if b.title.casefold() == ref.casefold()]
    if not matches:
        raise UserError(f"no box named {ref!r} (see boxtui boxes)")
    if len(matches) > 1:
        raise UserError(f"several boxes are named {ref!r}: use the box id (see boxtui boxes)")
    return matches[0].id


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(text: str) -> str:
    """Untrusted text as one tab-separated field: no tabs, newlines or terminal controls."""
    return _CONTROL.sub("", text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))


def _row(*fields: object) -> None:
    print("\t".join(_cell(str(f)) for f in fields))


def _entry_json(entry: TimelineEntry) -> dict[str, Any]:
    event = entry.event
    return {
        "id": event.id,
        "type": event.type,
        "box_id": event.box_id,
        "time": event.server_event_created_at,
        "sender": {"id": event.sender.id, "display_name": event.sender.display_name},
        "reply_to": event.referrer_id,
        "text": entry.text,
        "file": None
        if entry.file is None
        else {"name": entry.file.file_name, "size": entry.file.file_size, "type": entry.file.file_type},
        "system": entry.system_text,
        "error": entry.error,
        "deleted": entry.deleted,
        "edited": entry.edited,
    }


# --- verbs ----------------------------------------------------------------------------


async def _code(client: BoxClient, email: str, given: str | bool) -> str:
    """The ``--code`` value, or (given without one) a code e-mailed now and read from stdin."""
    if given is not True:
        return given
    from boxtui.messenger.code_delivery import code_delivery

    await client.auth.request_code(email)
    delivery = await code_delivery(client)
    _say(delivery.sent(email) if delivery else f"A login code was sent to {email}.")
    try:
        code = input("Code: ") if sys.stdin.isatty() else sys.stdin.readline()
    except EOFError:
        code = ""
    code = code.strip()
    if not code:
        raise UserError("no code given")
    return code


async def _cmd_signup(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.messenger import Messenger

    password = _password(confirm=True)
    code = None if args.code is None else await _code(client, args.email, args.code)
    await Messenger.signup(client, profile, args.email, password, args.name, code)


async def _cmd_login(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.messenger import Messenger

    messenger = Messenger(client, None, profile)
    if args.code is None:
        await messenger.login_password(args.email, _password())
        return
    await messenger.login_code(args.email, await _code(client, args.email, args.code))
    await asyncio.to_thread(messenger.unlock_keystore, _password("Key store password: "))
    await messenger.sync_keys()


async def _cmd_logout(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.messenger import Messenger

    client.token = profile.session.token
    await Messenger(client, None, profile).logout()


async def _cmd_boxes(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    for summary in await messenger.list_boxes():
        _row(summary.box.id, summary.unread, summary.box.title, summary.preview)


async def _cmd_create_box(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    print((await messenger.create_box(args.title)).id)


async def _cmd_send(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    text = sys.stdin.read().removesuffix("\n") if args.text == "-" else args.text
    if not text.strip():
        raise UserError("nothing to send: the message is empty")
    print((await messenger.send_text(box_id, text, reply_to=args.reply_to)).id)


async def _cmd_events(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    for entry in await messenger.all_events(box_id):
        if args.json:
            print(json.dumps(_entry_json(entry), ensure_ascii=False))
        else:
            event = entry.event
            _row(event.id, event.server_event_created_at, event.sender.display_name, entry.summary)


async def _cmd_upload(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    print((await messenger.upload_file(box_id, args.file)).id)


async def _cmd_download(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    print(await messenger.download_file(args.event_id, args.output or Path.cwd()))


async def _cmd_access(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.models import AccessChange

    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    if args.action == "list":
        for rule in await messenger.accesses(box_id):
            _row(rule.id, rule.restriction_type, rule.value, "auto-invite" if rule.auto_invite else "")
    elif args.action == "add":
        changes = [AccessChange("identifier", email, auto_invite=args.auto_invite) for email in args.email]
        changes += [AccessChange("email_domain", domain) for domain in args.domain]
        if not changes:
            raise UserError("access add needs --email or --domain")
        result = await messenger.apply_access_batch(box_id, add=changes)
        for email in result.not_invited:
            _say(f"{_cell(email)} has no account yet: their rule lets them join with the invitation link once they sign up")
    elif args.action == "rm":
        result = await messenger.apply_access_batch(box_id, remove=args.rule_ids)
        for identity in result.kicked:
            _say(f"removed from the box: {_cell(identity.display_name)}")
        if result.link_rotated:
            _say(f"the invitation link was renewed, the old one no longer works: boxtui invite {_cell(args.box)}")
    else:
        await messenger.set_access_mode(box_id, public=args.mode == "public")


async def _cmd_invite(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    print(await (messenger.rotate_invitation(box_id) if args.rotate else messenger.invitation_link(box_id)))
    box = await messenger.get_box(box_id)
    if box.access_mode != "public":
        ref = _cell(args.box)
        _say(
            f"“{_cell(box.title)}” is limited: only people its access rules name can join with this link "
            f"(boxtui access {ref} add --email ADDRESS, or boxtui access {ref} mode public for anyone with the link)"
        )


async def _cmd_join(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    print((await messenger.join_link(args.link)).id)


async def _cmd_saved(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    if args.action == "ls":
        for entry in await messenger.list_saved():
            if entry.meta is None:
                _row(entry.saved.id, "?", f"[{entry.error}]", entry.saved.created_at)
            else:
                _row(entry.saved.id, entry.meta.file_size, entry.meta.file_name, entry.saved.created_at)
    elif args.action == "save":
        print((await messenger.save_file(args.event_id)).id)
    elif args.action == "get":
        print(await messenger.download_saved(args.saved_id, args.output or Path.cwd()))
    elif args.action == "rm":
        await messenger.delete_saved(args.saved_id)
    else:
        print((await messenger.upload_saved(args.file)).id)


async def _cmd_forward(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_ids = [await _box_id(messenger, ref) for ref in args.boxes]
    for event in await messenger.forward(args.event_id, box_ids):
        print(event.id)


async def _cmd_import_email(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    for event in await messenger.import_email(box_id, args.file):
        print(event.id)


# --- the app --------------------------------------------------------------------------


def _cmd_tui(args: argparse.Namespace) -> int:
    from boxtui.tui.app import run_tui

    home = os.environ.get("BOXTUI_HOME")
    return int(run_tui(server_url=args.server, home=Path(home) if home else None) or 0)


# --- errors ---------------------------------------------------------------------------


def describe_error(exc: BaseException) -> str | None:
    """One line for an expected error, or None for a bug (which keeps its traceback)."""
    from boxtui.client.errors import APIConnectionError, APIStatusError, BoxError, Forbidden, Unauthorized
    from boxtui.crypto import CryptoError, WrongPassphrase
    from boxtui.messenger.errors import MessengerError
    from boxtui.messenger.profile import ProfileError

    refused = exc.response if isinstance(exc, APIStatusError) else None
    path = None if refused is None else refused.request.url.path
    if isinstance(exc, UserError | MessengerError | ProfileError):
        return str(exc)
    if isinstance(exc, WrongPassphrase):
        return "wrong password: it does not open the key store on this device"
    if isinstance(exc, CryptoError):
        return f"key store: {exc}"
    if isinstance(exc, Unauthorized):
        if path == "/auth/login":
            return "wrong e-mail, password or code"
        if path == "/auth/signup":
            return "wrong or expired code"
        return "the session is no longer valid: run boxtui login --email ADDRESS"
    if isinstance(exc, APIStatusError) and path == "/auth/signup" and exc.details.get("code") == "required":
        return "this server signs up only with a code e-mailed to you: add --code"
    if isinstance(exc, Forbidden) and exc.origin == "acr":
        return "this needs a password login: run boxtui login --email ADDRESS"
    if isinstance(exc, APIStatusError):
        text = exc.desc or exc.code
        details = ", ".join(f"{k}: {v}" for k, v in exc.details.items())
        return f"the server refused ({exc.status} {exc.code}): {text}" + (f" ({details})" if details else "")
    if isinstance(exc, APIConnectionError):
        return f"cannot reach the server: {exc}"
    if isinstance(exc, BoxError):
        return f"unexpected answer from the server: {exc}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return None


# --- entry point ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boxtui",
        description="End-to-end encrypted messenger for the terminal. Without a command, opens the app.",
        epilog=f"Environment: BOXTUI_HOME (profile folder), {PASSWORD_ENV} (password, else a prompt).",
    )
    parser.add_argument("--server", metavar="URL", default=None, help="the server (default: configured, else a local one)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(sub)
    _add_server(sub)
    _add_verbs(sub)
    parser.set_defaults(func=_cmd_tui)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("boxtui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = describe_error(exc)
        if message is None:
            raise
        print(f"boxtui: {' '.join(message.split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
