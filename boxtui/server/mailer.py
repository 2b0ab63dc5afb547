"""Outgoing mail: login codes (PROTOCOL §2).

With ``settings.smtp_host`` set, mail goes out over SMTP. Without it, the server logs
the code and writes the message as an ``.eml`` file into ``settings.outbox_dir``
(``<data dir>/outbox``) so a developer, a test or a CLI can read it:

    <outbox>/<UTC time as %Y%m%dT%H%M%S%fZ>_<recipient>.eml

where ``<recipient>`` is the lower-cased address with every character outside
``[a-z0-9@._+-]`` replaced by ``_``. File names sort chronologically, so the newest
code for an address is in the last file matching ``*_<recipient>.eml``; the code is
on the ``X-Boxtui-Code`` header and in the body. :func:`latest_code` reads it back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import smtplib
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

from boxtui.core.timefmt import utcnow
from boxtui.server.datadir import open_private
from boxtui.server.settings import ServerSettings

log = logging.getLogger("boxtui.server.mailer")

CODE_HEADER = "X-Boxtui-Code"


def outbox_name(email: str) -> str:
    """The filesystem-safe recipient part of an outbox file name."""
    return re.sub(r"[^a-z0-9@._+-]", "_", email.lower())


def _code_message(settings: ServerSettings, email: str, code: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email
    message["Subject"] = f"Your boxtui login code: {code}"
    message[CODE_HEADER] = code
    minutes = max(1, settings.code_ttl_seconds // 60)
    message.set_content(f"Your boxtui login code is {code}\n\nIt expires in {minutes} minutes. If you did not ask for it, ignore this mail.\n")
    return message


def _send_smtp(settings: ServerSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def _write_outbox(settings: ServerSettings, email: str, message: EmailMessage) -> Path:
    """Written 0600 in a 0700 folder: the file holds a live login code."""
    settings.outbox_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    path = settings.outbox_dir / f"{stamp}_{outbox_name(email)}.eml"
    tmp = path.with_suffix(".tmp")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as handle:
        handle.write(message.as_bytes())
    tmp.replace(path)
    return path


async def send_login_code(settings: ServerSettings, email: str, code: str) -> None:
    """Deliver a one-time login code to ``email`` (SMTP, or log + outbox file)."""
    message = _code_message(settings, email, code)
    if settings.smtp_host:
        await asyncio.to_thread(_send_smtp, settings, message)
        return
    path = await asyncio.to_thread(_write_outbox, settings, email, message)
    # The code itself only at DEBUG: a log is read by more people than the outbox.
    log.info("login code for %s written to %s", email, path)
    log.debug("login code for %s: %s", email, code)


def latest_code(outbox_dir: Path, email: str) -> str | None:
    """The code in the newest outbox message for ``email``, or None."""
    wanted = f"{outbox_name(email)}.eml"
    files = sorted(p for p in Path(outbox_dir).glob("*.eml") if p.name.partition("_")[2] == wanted)
    if not files:
        return None
    message = BytesParser(policy=default_policy).parsebytes(files[-1].read_bytes())
    return message.get(CODE_HEADER)
