"""The access manager's keys work from every field: ctrl+a applies the batch even while
the value field (an Input, which binds ctrl+a to "start of line") has focus, and the
footer says so."""

from __future__ import annotations

from textual.widgets import Checkbox, DataTable, Input

from boxtui.tui.app import BoxApp
from boxtui.tui.screens.access import AccessManagerScreen

from .conftest import SIZE, footer_text, notifications, open_box, type_text, wait_for_notification, wait_until


async def test_ctrl_a_applies_from_the_value_field_and_the_footer_says_so(user) -> None:
    ada = await user("ada")
    box = await ada.create_box("Board")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Board")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, AccessManagerScreen))
        screen = app.screen
        value = screen.query_one("#access-value", Input)
        value.focus()
        await pilot.pause()
        assert "^a Apply" in footer_text(app)

        # Nothing staged, nothing typed: the key says why nothing happens.
        await pilot.press("ctrl+a")
        await wait_for_notification(pilot, "Nothing to apply")

        # Staged with Enter, applied with ctrl+a while the field still has focus.
        await type_text(pilot, "bob@example.org")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.staged_adds, what="the staged rule")
        assert app.focused is value
        await pilot.press("ctrl+a")
        await wait_for_notification(pilot, "Applied.")
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 1 and not screen.staged_adds, what="the applied rule")

        # Typed but not staged: ctrl+a stages it first rather than leaving it out.
        assert app.focused is value
        await type_text(pilot, "carol@example.org")
        await pilot.press("ctrl+a")
        await wait_until(pilot, lambda: len([n for n in notifications(app) if n.startswith("Applied.")]) == 2, what="the second batch")

        # From the other fields too.
        for field in (screen.query_one("#access-auto-invite", Checkbox), table):
            field.focus()
            await pilot.pause()
            assert "^a Apply" in footer_text(app), type(field).__name__
    assert sorted(r.value for r in await ada.accesses(box.id)) == ["bob@example.org", "carol@example.org"]

