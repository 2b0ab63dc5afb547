"""Where a server's one-time codes go, said for the person waiting for one.

A server without a mailer (the host's local server) writes codes into the outbox of
its data folder, which only the Unix user running it can read (the data folder is
private). The app and the CLI use :func:`code_delivery` to say so, and to say when
sign-up needs no code at all, instead of leaving people waiting for an e-mail.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from boxtui.client.client import BoxClient
from boxtui.client.errors import APIResponseError, NotFound
from boxtui.core.wire import ServerInfo

from .embedded import local_server_facts

__all__ = ["CodeDelivery", "code_delivery"]


@dataclass(frozen=True)
class CodeDelivery:
    """How a server delivers codes, and the sentences that tell a user."""

    emailed: bool
    signup_needs_code: bool
    #: The outbox folder, where this host tells (codes not e-mailed).
    outbox: Path | None = None
    #: Who runs the server ("alice", "root (you)"), where this host tells.
    owner: str | None = None
    mine: bool = False

    def signup_hint(self) -> str:
        if not self.signup_needs_code:
            return "No e-mail code is needed to sign up on this server: leave that field empty."
        return "This server asks for an e-mail code to sign up: press Send code. " + self.where()

    def where(self) -> str:
        """Where codes go."""
        if self.emailed:
            return "Codes are e-mailed to you."
        folder = str(self.outbox) if self.outbox else "the outbox/ folder of the server's data"
        if self.mine:
            return f"This server sends no e-mail: codes are written to {folder}/ (newest file last)."
        who = self.owner or "the Unix user who runs the server"
        return f"This server sends no e-mail: codes are written to {folder}/, which only {who} can read."

    def sent(self, email: str) -> str:
        """What to say once a code was asked for ``email``."""
        if self.emailed:
            return f"A code was sent to {email}; it is valid for 10 minutes."
        if self.mine:
            return f"The code for {email} was written to {self.outbox or 'the server outbox'}/ (valid for 10 minutes)."
        who = self.owner or "the person who runs the server"
        return (
            f"The code for {email} was written to the server's outbox, which only {who} can read: "
            "ask them for it, or log in with your password."
        )


async def code_delivery(client: BoxClient) -> CodeDelivery | None:
    """How ``client``'s server delivers codes; None when it does not say (not a boxtui
    server of this version). Connection errors propagate."""
    try:
        info: ServerInfo = await client.server_info()
    except (NotFound, APIResponseError):
        return None
    if info.login_codes != "outbox":
        return CodeDelivery(emailed=True, signup_needs_code=info.signup_requires_code)
    facts = await asyncio.to_thread(local_server_facts, client.base_url)
    if facts is None:
        return CodeDelivery(emailed=False, signup_needs_code=info.signup_requires_code)
    return CodeDelivery(
        emailed=False,
        signup_needs_code=info.signup_requires_code,
        outbox=facts.outbox_dir,
        owner=facts.owner,
        mine=facts.mine,
    )
