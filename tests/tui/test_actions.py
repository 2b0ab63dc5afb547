"""Verbs on the timeline's current message and on the open box: forward, copy, close, leave,
delete; and what happens when the server stops accepting the session."""

from __future__ import annotations

from textual.widgets import SelectionList

from boxtui.tui.app import BoxApp
from boxtui.tui.screens.dialogs import ConfirmDialog, ForwardDialog, NewBoxDialog
from boxtui.tui.screens.login import LoginScreen
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.timeline import BoxTimeline

from .conftest import (
    SIZE,
    open_box,
    run_command,
    screen_text,
    timeline_text,
    type_text,
    wait_for_notification,
    wait_for_text,
    wait_until,
    wait_until_settled,
)


async def test_forward_and_copy(user) -> None:
    ada = await user("ada")
    source = await ada.create_box("Source")
    target = await ada.create_box("Target")
    elsewhere = await ada.create_box("Elsewhere")
    await ada.send_text(source.id, "worth sharing")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Source")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: timeline.current_entry and timeline.current_entry.text == "worth sharing")
        timeline.focus()

        await pilot.press("y")
        assert app.clipboard == "worth sharing"
        await wait_for_notification(pilot, "Copied to the clipboard.")

        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, ForwardDialog))
        await pilot.click("#forward-ok")  # nothing picked yet
        await wait_for_notification(pilot, "Pick at least one box (space toggles).")
        targets = app.screen.query_one(SelectionList)
        offered = {targets.get_option_at_index(i).value for i in range(targets.option_count)}
        assert offered == {target.id, elsewhere.id}  # not the message's own box
        targets.select(target.id)
        await pilot.pause(0.3)  # a button ignores a second click while it still shows the first
        await pilot.click("#forward-ok")
        await wait_for_notification(pilot, "Forwarded to 1 box.")
    entries = await ada.timeline_page(target.id, tail=True)
    assert entries[-1].text == "worth sharing"
    assert entries[-1].event.content["shared_from"]["box_id"] == source.id


async def test_close_reopen_leave_and_delete_from_the_palette(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Club")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    doomed = await ada.create_box("Doomed")

    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Club")
        header = app.screen.query_one("#box-header")
        await run_command(pilot, app, "Close or reopen the box")
        await wait_for_notification(pilot, "The box is closed: read-only for everyone.")
        await wait_until(pilot, lambda: "closed" in header.render().plain, what="closed in the header")
        await run_command(pilot, app, "Close or reopen the box")
        await wait_for_notification(pilot, "The box is open again.")

        await open_box(pilot, app, "Doomed")
        await run_command(pilot, app, "Delete the box")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.click("#confirm-yes")
        await wait_for_notification(pilot, "Box deleted.")
        assert app.screen.query_one(BoxList).row(doomed.id) is None
        assert "No box open" in header.render().plain

    bob_app = BoxApp(bob)
    async with bob_app.run_test(size=SIZE) as pilot:
        await open_box(pilot, bob_app, "Club")
        await run_command(pilot, bob_app, "Leave the box")
        await wait_until(pilot, lambda: isinstance(bob_app.screen, ConfirmDialog))
        await pilot.click("#confirm-yes")
        await wait_for_notification(pilot, "You left the box.")
        assert bob_app.screen.query_one(BoxList).rows == []
    assert [m.display_name for m in await ada.members(box.id)] == ["Ada"]


async def test_admin_cannot_leave_and_is_told_why(user) -> None:
    ada = await user("ada")
    await ada.create_box("Mine")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Mine")
        await run_command(pilot, app, "Leave the box")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.click("#confirm-yes")
        message = await wait_for_notification(pilot, "Cannot leave the box")
        assert message.startswith("Cannot leave the box: ")
        assert app.screen.query_one(BoxList).rows != []


async def test_revoked_session_returns_to_the_login(user) -> None:
    ada = await user("ada")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "No box open")
        # Revoked after start-up (the box list and catch-up are in: else they are what
        # meets the 401, and the new-box key lands on the login screen).
        await wait_until_settled(pilot)
        await ada.client.auth.logout()  # e.g. revoked from another device
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewBoxDialog), what="the new-box dialog")
        await type_text(pilot, "Too late")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        await wait_for_notification(pilot, "Box not created: ")


async def test_palette_offers_the_verbs_that_apply_to_the_selected_message(user) -> None:
    ada, bob = await user("ada"), await user("bob")
    box = await ada.create_box("Chat")
    await ada.set_access_mode(box.id, True)
    await bob.join_link(await ada.invitation_link(box.id))
    await bob.send_text(box.id, "from bob")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Chat")
        await wait_until(pilot, lambda: "from bob" in timeline_text(app))
        app.screen.timeline.action_last()  # (a box opens on the first new event: here "Bob joined")
        await wait_until(pilot, lambda: app.screen.timeline.current_entry.text == "from bob", what="bob's message selected")
        await run_command(pilot, app, "Reply", shown="Reply to the selected message")
        await wait_for_text(pilot, "Replying to: from bob")
        await pilot.press("ctrl+p")
        await type_text(pilot, "message")
        await wait_for_text(pilot, "Delete the selected message")  # she is the admin
        assert "Edit the selected message" not in screen_text(app)  # not hers
