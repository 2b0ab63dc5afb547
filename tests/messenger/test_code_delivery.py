"""Where codes go, as the app and the CLI say it (PROTOCOL §10.15 ``/server-info``)."""

from __future__ import annotations

from pathlib import Path

from boxtui.messenger.code_delivery import CodeDelivery, code_delivery


async def test_the_in_process_default_server_has_no_mailer_and_needs_no_sign_up_code(new_client):
    delivery = await code_delivery(new_client())
    assert delivery == CodeDelivery(emailed=False, signup_needs_code=False)  # not on this host: no folder to name
    assert delivery.signup_hint() == "No e-mail code is needed to sign up on this server: leave that field empty."


def test_the_sentences_for_each_way_a_code_travels():
    mailed = CodeDelivery(emailed=True, signup_needs_code=True)
    assert mailed.sent("ada@example.org") == "A code was sent to ada@example.org; it is valid for 10 minutes."
    assert mailed.signup_hint() == "This server asks for an e-mail code to sign up: press Send code. Codes are e-mailed to you."
    outbox = Path("/home/alice/.local/share/boxtui/server/outbox")
    mine = CodeDelivery(emailed=False, signup_needs_code=False, outbox=outbox, owner="alice (you)", mine=True)
    assert mine.sent("ada@example.org") == f"The code for ada@example.org was written to {outbox}/ (valid for 10 minutes)."
    theirs = CodeDelivery(emailed=False, signup_needs_code=False, outbox=outbox, owner="alice")
    assert theirs.where() == f"This server sends no e-mail: codes are written to {outbox}/, which only alice can read."
    assert theirs.sent("bob@example.org") == (
        "The code for bob@example.org was written to the server's outbox, which only alice can read: "
        "ask them for it, or log in with your password."
    )
