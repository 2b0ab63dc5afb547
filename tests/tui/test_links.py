"""Links that work: the header says public or limited; in a limited box the invitation
dialog says who the link lets in and offers to make the box public (asked first) or to
add rules; other members see the link without the admin's verbs."""

from __future__ import annotations

from textual.widgets import Button

from boxtui.messenger.errors import MessengerError
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.access import AccessManagerScreen
from boxtui.tui.screens.dialogs import ConfirmDialog, InvitationDialog

from .conftest import (
    SIZE,
    header_text,
    open_box,
    run_command,
    screen_text,
    type_text,
    wait_for_notification,
    wait_for_text,
    wait_until,
)


async def open_invitation(pilot, app: BoxApp) -> InvitationDialog:
    await pilot.press("ctrl+l")
    await wait_until(pilot, lambda: isinstance(app.screen, InvitationDialog), what="the invitation dialog")
    dialog = app.screen
    await wait_until(pilot, lambda: dialog.link and dialog.box, what="the link")
    return dialog


def who(dialog: InvitationDialog) -> str:
    return dialog.query_one("#invitation-who").render().plain


async def test_a_limited_box_says_who_its_link_lets_in_and_opens_up_from_the_dialog(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Garden")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Garden")
        assert "·  limited" in header_text(app) and "open" not in header_text(app).split("·")[-1]

        dialog = await open_invitation(pilot, app)
        assert who(dialog).startswith("Limited, and no access rules yet: nobody can join with this link so far.")
        assert dialog.query_one("#invitation-public", Button).display
        assert dialog.query_one("#invitation-rules", Button).display

        # Add rules: the access manager opens over the dialog; back, the dialog names the rule.
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AccessManagerScreen), what="the access rules")
        app.screen.query_one("#access-value").focus()
        await type_text(pilot, "bob@example.org")
        await pilot.press("enter")
        await pilot.click("#access-apply")
        await wait_for_notification(pilot, "Applied.")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is dialog, what="back to the dialog")
        await wait_until(pilot, lambda: who(dialog) == "Limited: only these can join with this link: bob@example.org.")

        # Make public: asked first; "Cancel" keeps it limited.
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        assert app.screen.question.startswith("Make “Garden” public? Anyone who has its invitation link can then join and read it")
        assert "Make “Garden” public?" in screen_text(app)
        await pilot.click("#confirm-no")
        await wait_until(pilot, lambda: app.screen is dialog)
        assert (await ada.get_box(box.id)).access_mode == "limited"
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.click("#confirm-yes")
        await wait_until(pilot, lambda: who(dialog).startswith("Public: anyone who has this link"), what="public")
        assert not dialog.query_one("#invitation-public", Button).display
        await pilot.press("escape")
        await wait_until(pilot, lambda: "·  public" in header_text(app), what="the header says public")
        link = dialog.link
    assert (await bob.join_link(link)).id == box.id


async def test_switching_to_public_from_the_palette_asks_first(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Yard")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Yard")
        await run_command(pilot, app, "Public or limited")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        assert (await ada.get_box(box.id)).access_mode == "limited" and "·  limited" in header_text(app)
        await run_command(pilot, app, "Public or limited")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.click("#confirm-yes")
        await wait_for_notification(pilot, "Anyone with the link can now join.")
        await wait_until(pilot, lambda: "·  public" in header_text(app), what="public in the header")
        # Back to limited needs no question (it lets nobody new in).
        await run_command(pilot, app, "Public or limited")
        await wait_for_notification(pilot, "Only people matching the access rules can join.")
        await wait_until(pilot, lambda: "·  limited" in header_text(app), what="limited in the header")


async def test_a_member_sees_the_link_and_who_it_lets_in_without_the_admins_verbs(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Shed")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    await ada.set_access_mode(box.id, False)
    app = BoxApp(bob)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Shed")
        dialog = await open_invitation(pilot, app)
        await wait_for_text(pilot, "Limited: only people the box's access rules name can join")
        for button in ("#invitation-rotate", "#invitation-public", "#invitation-rules"):
            assert not dialog.query_one(button, Button).display
        link = dialog.link
        await pilot.press("r")  # not Bob's to rotate: nothing happens
        await pilot.press("p")
        await pilot.pause(0.2)
        assert app.screen is dialog and dialog.link == link
    assert (await ada.get_box(box.id)).access_mode == "limited"
    try:
        await ada.join_link(link)  # the link still works (Ada is the admin and a member)
    except MessengerError as exc:  # pragma: no cover - would mean Bob's key press rotated it
        raise AssertionError(exc) from None
