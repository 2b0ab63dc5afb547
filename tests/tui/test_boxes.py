"""Boxes: invitation link (copy, rotate), joining with a link, members, the access manager."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from boxtui.messenger.errors import MessengerError
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.access import AccessManagerScreen
from boxtui.tui.screens.dialogs import ConfirmDialog, InvitationDialog, JoinDialog
from boxtui.tui.screens.members import MembersScreen
from boxtui.tui.widgets.box_list import BoxList

from .conftest import (
    SIZE,
    header_text,
    notifications,
    open_box,
    screen_text,
    table_rows,
    type_text,
    wait_for_notification,
    wait_for_text,
    wait_until,
)


async def test_invitation_link_copy_rotate_and_join(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Book club")
    await ada.set_access_mode(box.id, True)
    ada_app = BoxApp(ada)
    async with ada_app.run_test(size=SIZE) as pilot:
        await open_box(pilot, ada_app, "Book club")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(ada_app.screen, InvitationDialog))
        dialog = ada_app.screen
        await wait_until(pilot, lambda: dialog.link, what="the link")
        first_link = dialog.link
        assert first_link.startswith(f"boxtui://127.0.0.1/boxes/{box.id}#")
        assert f"boxtui://127.0.0.1/boxes/{box.id}" in screen_text(ada_app)
        await pilot.press("c")
        assert ada_app.clipboard == first_link
        await wait_for_notification(pilot, "Invitation link copied to the clipboard.")

        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(ada_app.screen, ConfirmDialog))
        await pilot.click("#confirm-yes")
        await wait_for_notification(pilot, "New invitation link made")
        new_link = dialog.link
        assert new_link != first_link

    bob_app = BoxApp(bob)
    async with bob_app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(bob_app.screen, JoinDialog))
        await type_text(pilot, first_link)
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "Cannot join")
        assert message == "Cannot join: this invitation link is no longer valid (it was renewed or the box is gone)"

        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(bob_app.screen, JoinDialog))
        await type_text(pilot, new_link)
        await pilot.press("enter")
        await wait_for_notification(pilot, "You joined “Book club”.")
        header = bob_app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "Book club" in header.render().plain, what="the joined box open")
        assert "2 members" in header.render().plain
        assert [row.title for row in bob_app.screen.query_one(BoxList).rows] == ["Book club"]


async def test_members_screen(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Team")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Team")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, MembersScreen))
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="two members")
        assert table_rows(table) == [["Ada", "ada@example.org", "admin"], ["Bob", "bob@example.org", "member"]]
        assert "2 members" in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, MembersScreen))


async def test_access_manager_applies_one_batch_and_shows_who_was_kicked(user) -> None:
    ada, bob, carol = await user("ada"), await user("bob"), await user("carol")
    box = await ada.create_box("Board")
    await ada.set_access_mode(box.id, True)
    link = await ada.invitation_link(box.id)
    await bob.join_link(link)  # joining adds a rule naming bob
    await carol.join_link(link)
    await ada.set_access_mode(box.id, False)  # limited: only the rules let people in
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Board")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, AccessManagerScreen))
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="the rules")
        assert sorted(row[1] for row in table_rows(table)) == ["bob@example.org", "carol@example.org"]

        # Stage: remove bob's rule, add a domain, add a bad value (refused on the spot).
        table.focus()
        bob_row = next(i for i, row in enumerate(table_rows(table)) if row[1] == "bob@example.org")
        table.move_cursor(row=bob_row)
        await pilot.press("x")
        assert table_rows(table)[bob_row][3] == "remove"
        screen.query_one("#access-kind").value = "email_domain"
        screen.query_one("#access-value").focus()
        await type_text(pilot, "not a domain")
        await pilot.press("enter")
        await wait_for_notification(pilot, "Enter a domain such as example.com.")
        screen.query_one("#access-value").value = ""
        await type_text(pilot, "partner.org")
        await pilot.press("enter")
        await wait_until(pilot, lambda: table.row_count == 3, what="the staged addition")
        assert table_rows(table)[2] == ["domain", "partner.org", "", "add"]
        assert "2 changes staged" in screen_text(app)

        await pilot.click("#access-apply")
        message = await wait_for_notification(pilot, "Applied.")
        assert message == "Applied. Removed from the box: Bob. The invitation link was renewed: the old one no longer works."
        await wait_for_text(pilot, "Removed from the box: Bob.")
        await wait_until(pilot, lambda: sorted(row[1] for row in table_rows(table)) == ["carol@example.org", "partner.org"], what="the new rules")
        assert "No changes staged." in screen_text(app)
    assert [m.display_name for m in await ada.members(box.id)] == ["Ada", "Carol"]
    await ada.set_access_mode(box.id, True)
    with pytest.raises(MessengerError, match="no longer valid"):
        await bob.join_link(link)  # Bob's old link is refused, even in a public box


async def test_access_manager_is_for_the_admin_only(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Club")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    app = BoxApp(bob)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Club")
        await pilot.press("ctrl+r")
        await wait_for_notification(pilot, "Only the box's admin manages its access rules.")
        assert not isinstance(app.screen, AccessManagerScreen)
        assert not [n for n in notifications(app) if "Error" in n]


async def test_hostile_names_and_titles_are_shown_literally(user, device) -> None:
    ada = device("ada")
    await ada.client.auth.signup("ada@example.org", "correct horse battery", "[b]Ada[/b] [link=x]")
    await ada.login_password("ada@example.org", "correct horse battery")
    box = await ada.create_box("[red]Box[/red] [@click=app.quit]x[/]")
    await ada.send_text(box.id, "[blink]hello[/blink]")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "[red]Box[/red] [@click=app.…")  # the list cuts long titles
        assert "[b]Ada[/b] [link=x]: [blink]hello[/blink]" in app.screen.query_one(BoxList).row(box.id).preview
        await pilot.press("enter")
        await wait_until(pilot, lambda: "[red]Box[/red]" in header_text(app), what="the box open")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, MembersScreen))
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, what="the member")
        assert table_rows(table)[0][0] == "[b]Ada[/b] [link=x]"
        assert "Members of [red]Box[/red] [@click=app.quit]x[/]" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, InvitationDialog))
        await wait_for_text(pilot, "Invitation to [red]Box[/red] [@click=app.quit]x[/]")
