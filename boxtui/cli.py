"""Command line entry point: ``boxtui`` (the app), ``boxtui serve``, and the scriptable verbs.

Exit codes: 0 ok, 1 user error (one line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
            "config_file": args.config,
        }.items()
        if value is not None
    }
    serve(ServerSettings(**overrides), log_level=args.log_level)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxtui", description="End-to-end encrypted messenger for the terminal.")
    sub = parser.add_subparsers(dest="command")
    _add_serve(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
