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
    p.add_argument(
        "--blob-store", default=None, metavar="URL",
        help="where file bytes live: s3://BUCKET/PREFIX (endpoint and keys from BOXTUI_S3_* or AWS_*); default the data dir",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help="server processes on this machine sharing the port (default 1); migrations run once before they start",
    )  # fmt: skip
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
            "blob_store": args.blob_store,
            "workers": args.workers,
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
    p = _verb(sub, "boxes", _cmd_boxes, "list boxes: id, unread, title, preview (tab separated)")
    _store_answer(p, _store_boxes)

    p = _verb(sub, "create-box", _cmd_create_box, "create a box and print its id")
    p.add_argument("title")

    p = _verb(sub, "send", _cmd_send, "send a text message (from stdin with -)")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("text", nargs="?", default="-", help="the text, or - to read stdin (default)")
    p.add_argument("--reply-to", metavar="EVENT_ID")

    p = _verb(sub, "events", _cmd_events, "print a box's events, decrypted, oldest first")
    p.add_argument("box", help="box id or unique title")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _store_answer(p, _store_events)

    p = _verb(sub, "search", _cmd_search, "search stored messages: id, time, box, sender, snippet (newest first)")
    p.add_argument("text", help="words to find (every one must occur; the last may be a prefix)")
    p.add_argument("--box", default=None, help="only this box (id or unique title)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _store_answer(p, _store_search)

    p = _verb(sub, "unlock", _cmd_unlock, "keep the key store unlocked for a while (read verbs then answer from the local store)")
    p.add_argument("--minutes", type=float, default=15, help="forget the key after this long unused (default 15)")
    _verb(sub, "lock", _cmd_lock, "forget the key kept by boxtui unlock", needs_session=False)
    _verb(sub, "sync", _cmd_sync, "catch the local store up with the server and send the outbox")

    p = _verb(sub, "backfill", _cmd_backfill, "fetch a box's whole history into the local store (so search covers it)")
    p.add_argument("box", help="box id or unique title")

    p = _verb(sub, "cache", _cmd_cache, "the local store: info, or clear the cache (the outbox stays)", needs_session=False)
    p.add_argument("action", choices=["info", "clear"])

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
    ls = actions.add_parser("ls", help="list: id, size, name, saved at")
    _store_answer(ls, _store_saved)
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
    from boxtui.messenger.profile import Profile

    profile = Profile.load()
    if args.needs_session and profile.session is None:
        if args.handler is _cmd_logout:
            return 0  # already logged out
        raise UserError(_NOT_LOGGED_IN)
    if getattr(args, "store_handler", None) is not None and not args.sync:
        answered = _answer_from_store(profile, args)
        if answered is not None:
            return answered
    # (imported only now: a read verb answered from the store never loads the client)
    from boxtui.client.client import BoxClient
    from boxtui.messenger.embedded import LocalServerURL, choose_server

    url = choose_server(profile, args.server)
    if isinstance(url, LocalServerURL):
        _say(url.announcement())

    async def run() -> int:
        async with BoxClient(url) as client:
            return int(await args.handler(client, profile, args) or 0)

    return asyncio.run(run())


# --- answers from the local store (no network, no Argon2id: see docs/local-store.md) ---


def _store_answer(parser: argparse.ArgumentParser, handler: Callable[[Any, argparse.Namespace], int | None]) -> None:
    """A read verb that answers from the local store when ``boxtui unlock`` holds the key."""
    parser.add_argument("--sync", action="store_true", help="ask the server first (needs the password unless unlocked)")
    parser.set_defaults(store_handler=handler)


def _answer_from_store(profile: Profile, args: argparse.Namespace) -> int | None:
    from boxtui.messenger.reader import open_reader

    from boxtui.messenger.reader import NotStored
    from boxtui.store import StoreCorrupted

    try:
        reader = open_reader(profile)
    except StoreCorrupted:
        return None  # the slow way opens the store, sets a damaged cache aside and rebuilds it
    if reader is None:
        return None
    try:
        return int(args.store_handler(reader, args) or 0)
    except StoreCorrupted:
        # A damaged page met while answering (before anything was printed: the handlers
        # read first, then print): answer from the server instead, into a new cache.
        _say(reader.set_aside())
        return None
    except NotStored:
        return None
    finally:
        reader.close()


def _stored_box(reader, ref: str) -> str:
    try:
        box_id = reader.box_id(ref)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if box_id is None:
        raise UserError(f"no box {ref!r} in the local store (see boxtui boxes; boxtui sync to update)")
    return box_id


def _store_boxes(reader, args: argparse.Namespace) -> None:
    for box in reader.boxes():
        _row(box.id, box.unread, box.title, box.preview)


def _stored_summary(event) -> str:
    from boxtui.messenger.describe import describe, summary_line

    message = event.type in ("msg.text", "msg.file")
    return summary_line(
        deleted="deleted" in (event.content or {}),
        error=event.error,
        file_name=None if event.file is None else json.loads(event.file).get("file_name", ""),
        text=event.text,
        system=None if message else describe(event.type, event.sender.get("display_name"), event.content),
    )


def _stored_json(event) -> dict[str, Any]:
    from boxtui.messenger.describe import describe

    content = event.content or {}
    file = json.loads(event.file) if event.file else None
    message = event.type in ("msg.text", "msg.file")
    return {
        "id": event.id,
        "type": event.type,
        "box_id": event.box_id,
        "time": event.time,
        "sender": {"id": event.sender.get("id"), "display_name": event.sender.get("display_name")},
        "reply_to": event.referrer_id,
        "text": event.text,
        "file": None if file is None else {"name": file.get("file_name"), "size": file.get("file_size"), "type": file.get("file_type")},
        "system": None if message else describe(event.type, event.sender.get("display_name"), event.content),
        "error": event.error,
        "deleted": "deleted" in content,
        "edited": content.get("last_edited_at") is not None,
    }


def _store_events(reader, args: argparse.Namespace) -> None:
    for event in reader.events(_stored_box(reader, args.box)):
        if args.json:
            print(json.dumps(_stored_json(event), ensure_ascii=False))
        else:
            _row(event.id, event.time, event.sender.get("display_name", ""), _stored_summary(event))


def _store_search(reader, args: argparse.Namespace) -> None:
    box_id = None if args.box is None else _stored_box(reader, args.box)
    for hit, snippet in reader.search(args.text, box_id, args.limit):
        _print_hit(hit.event.id, hit.event.time, hit.box_title, hit.event.box_id, hit.event.sender.get("display_name", ""),
                   snippet, args.json, _stored_json(hit.event) if args.json else None)


def _print_hit(event_id, time, box_title, box_id, sender, snippet, as_json: bool, event_json: dict | None) -> None:
    text = "".join(f"[{part}]" if match else part for part, match in snippet)
    if as_json:
        print(json.dumps({**(event_json or {}), "box": {"id": box_id, "title": box_title},
                          "snippet": [{"text": part, "match": match} for part, match in snippet]}, ensure_ascii=False))
    else:
        _row(event_id, time, box_title, sender, text)


def _store_saved(reader, args: argparse.Namespace) -> int | None:
    saved = reader.saved()
    if saved is None:
        return None  # never listed on this device: ask the server
    for item in saved:
        _row(item["id"], item["size"], item["name"], item["created_at"])
    return 0


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
    """The saved session with the key store unlocked (a cache found damaged on opening
    was set aside and started afresh: said on stderr)."""
    messenger = await _unlocked_messenger(client, profile)
    if messenger.local is not None and messenger.local.rebuilt:
        _say(messenger.local.rebuilt)
    return messenger


async def _unlocked_messenger(client: BoxClient, profile: Profile) -> Messenger:
    from boxtui.crypto import CryptoError
    from boxtui.messenger.errors import NotLoggedIn
    from boxtui.messenger.messenger import Messenger

    if profile.session is None:
        raise UserError(_NOT_LOGGED_IN)
    from boxtui.messenger.agent import fetch_key
    from boxtui.messenger.errors import KeyStoreLocked

    try:
        key = fetch_key(profile.data_dir)
        if key is not None:  # boxtui unlock: no Argon2id
            messenger = await Messenger.resume(client, profile, offline_ok=True)
            try:
                await asyncio.to_thread(messenger.unlock_with_key, key)
                if messenger.online:
                    await messenger.sync_keys()
                return messenger
            except (KeyStoreLocked, CryptoError):
                messenger.close_local()
        return await Messenger.resume(client, profile, _password(), offline_ok=True)
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


def _shown(text: str) -> str:
    """Untrusted text inside a message for a person: terminal controls shown escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


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

    from boxtui.messenger.agent import stop_agent

    stop_agent(profile.data_dir)
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
    if event_id := await _sent(messenger.send_text(box_id, text, reply_to=args.reply_to)):
        print(event_id)


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
    if event_id := await _sent(messenger.upload_file(box_id, args.file)):
        print(event_id)


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
            _say(f"{_shown(email)} has no account yet: their rule lets them join with the invitation link once they sign up")
    elif args.action == "rm":
        result = await messenger.apply_access_batch(box_id, remove=args.rule_ids)
        for identity in result.kicked:
            _say(f"removed from the box: {_shown(identity.display_name)}")
        if result.link_rotated:
            _say(f"the invitation link was renewed, the old one no longer works: boxtui invite {_shown(args.box)}")
    else:
        await messenger.set_access_mode(box_id, public=args.mode == "public")


async def _cmd_invite(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    print(await (messenger.rotate_invitation(box_id) if args.rotate else messenger.invitation_link(box_id)))
    box = await messenger.get_box(box_id)
    if box.access_mode != "public":
        ref = _shown(args.box)
        _say(
            f"“{_shown(box.title)}” is limited: only people its access rules name can join with this link "
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


async def _sent(sending) -> str:
    """The new event's id; for a message queued because the server is unreachable, a
    note on stderr and exit 0 (a script that retried would send it twice)."""
    from boxtui.messenger.sync import Queued

    try:
        return (await sending).id
    except Queued as exc:
        _say(f"{exc} (boxtui sync sends it now)")
        return ""


async def _cmd_search(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    if args.sync:
        await messenger.sync()
    box_id = None if args.box is None else await _box_id(messenger, args.box)
    for result in messenger.search(args.text, box_id=box_id, limit=args.limit):
        event = result.entry.event
        _print_hit(event.id, event.server_event_created_at, result.box_title, event.box_id, event.sender.display_name,
                   result.snippet, args.json, _entry_json(result.entry) if args.json else None)


async def _cmd_unlock(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.agent import start_agent

    messenger = await _messenger(client, profile)
    if messenger.keystore is None:
        raise UserError("the key store is not open")
    await asyncio.to_thread(start_agent, profile.data_dir, messenger.keystore.derived_key, int(args.minutes * 60))
    if messenger.online:
        await messenger.sync()
    _say(f"unlocked for {args.minutes:g} minutes of inactivity (boxtui lock to forget the key now)")


async def _cmd_lock(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.agent import stop_agent

    if not stop_agent(profile.data_dir):
        _say("nothing to lock: no key was kept")


async def _cmd_sync(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    if not messenger.online:
        raise UserError("cannot reach the server: the local store is unchanged")
    await messenger.sync()
    held = messenger.outbox_entries()
    if held:  # quiet on success, like every verb
        _say(f"{len(held)} message(s) still in the outbox: " + "; ".join(f"{e.preview[:40]!r}: {e.last_error or 'queued'}" for e in held))


async def _cmd_backfill(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    messenger = await _messenger(client, profile)
    box_id = await _box_id(messenger, args.box)
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if interactive:
            print(f"\rboxtui: {done}/{total} events stored", end="", file=sys.stderr, flush=True)

    added = await messenger.backfill(box_id, progress)
    if interactive:  # quiet in scripts, like every verb
        print(file=sys.stderr)
        _say(f"{added} older event(s) stored; the whole history is searchable")


async def _cmd_cache(client: BoxClient, profile: Profile, args: argparse.Namespace) -> None:
    from boxtui.messenger.local import folder_size, remove_cache

    root = profile.data_dir / "store"
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []
    if args.action == "clear":
        freed = sum(remove_cache(folder) for folder in folders)
        _say(f"cache cleared ({freed / 1e6:.1f} MB); queued messages stay in the outbox")
        return
    if not folders:
        _say(f"no local store yet (it will be in {root})")
        return
    for folder in folders:
        _row("folder", folder)
        _row("size_bytes", folder_size(folder))
    messenger = None
    if profile.session is not None:
        try:
            messenger = await _messenger(client, profile)
        except UserError:
            messenger = None
    if messenger is not None and messenger.local is not None:
        from boxtui.store import StoreCorrupted

        try:
            counts = messenger.local.cache.counts()
        except StoreCorrupted as exc:  # a damaged page: set aside, as the app does
            messenger._cache_failed(exc)
            _say(messenger.local.rebuilt or str(exc))
            counts = messenger.local.cache.counts()
        for name, value in counts.items():
            _row(name, value)
        _row("outbox_queued", len(messenger.outbox_entries()))
        if messenger.local.cache.get_meta("server_url"):
            _row("server", messenger.local.cache.get_meta("server_url"))


def describe_error(exc: BaseException) -> str | None:
    """One line for an expected error, or None for a bug (which keeps its traceback)."""
    from boxtui.client.errors import APIConnectionError, APIStatusError, BoxError, Forbidden, Unauthorized
    from boxtui.crypto import CryptoError, WrongPassphrase
    from boxtui.messenger.errors import MessengerError
    from boxtui.messenger.profile import ProfileError

    refused = exc.response if isinstance(exc, APIStatusError) else None
    path = None if refused is None else refused.request.url.path
    from boxtui.store import StoreError

    if isinstance(exc, UserError | MessengerError | ProfileError | StoreError):
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
        epilog=f"Environment: BOXTUI_HOME (profile folder), {PASSWORD_ENV} (password, else a prompt), "
        "BOXTUI_LOCAL_SERVER (where the host's local server is looked for; default 127.0.0.1:8642).",
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
