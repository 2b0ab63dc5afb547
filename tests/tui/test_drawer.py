"""The box list at 80×24: a drawer over the conversation (ctrl+f), closed by choosing a
box or Escape; the filter empties once a box is chosen, so the list shows every box."""

from __future__ import annotations

from textual.widgets import Input

from boxtui.tui.app import BoxApp
from boxtui.tui.widgets.box_list import BoxList

from .conftest import footer_text, header_text, type_text, wait_for_text, wait_until

DESIGN = (80, 24)


async def test_the_drawer_opens_filters_chooses_and_closes(user) -> None:
    ada = await user("ada")
    for title in ("Garden", "Kitchen", "Builds"):
        await ada.create_box(title)
    app = BoxApp(ada)
    async with app.run_test(size=DESIGN) as pilot:
        screen = app.screen
        box_list = screen.query_one(BoxList)
        await wait_for_text(pilot, "Kitchen")
        assert screen.drawer_open  # no box open yet: the drawer shows
        assert app.focused is box_list.query_one(Input)

        await type_text(pilot, "kitch")
        await wait_until(pilot, lambda: box_list.shown_ids and len(box_list.shown_ids) == 1, what="the filtered list")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Kitchen" in header_text(app), what="Kitchen open")
        await wait_until(pilot, lambda: not screen.drawer_open, what="the drawer closed")
        assert app.focused is screen.composer.input
        assert box_list.filter_text == ""
        await wait_until(pilot, lambda: len(box_list.shown_ids) == 3, what="every box listed again")
        assert box_list.highlighted_id == screen.current_box_id  # still on the chosen box
        assert footer_text(app).startswith("^f Boxes  f1 Help  ^q Quit")

        # ctrl+f opens it again with every box; Escape closes it and gives the conversation the focus.
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: screen.drawer_open, what="the drawer open")
        assert app.focused is box_list.query_one(Input) and len(box_list.shown_ids) == 3
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.drawer_open, what="the drawer closed by Escape")
        assert app.focused is screen.composer.input
        assert "Kitchen" in header_text(app)
