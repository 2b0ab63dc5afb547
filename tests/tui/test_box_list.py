"""The box list with 1,000 boxes: painted by the rows on screen only, filtered, and
driven by keyboard and mouse (issue 10: unlock → box list < 300 ms)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from boxtui.tui.widgets.box_list import BoxList, BoxRow, BoxRows

from .conftest import screen_text, type_text, wait_until


class Host(App):
    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield BoxList(id="boxes")

    def on_box_list_chosen(self, message: BoxList.Chosen) -> None:
        self.chosen.append(message.box_id)


def thousand() -> list[BoxRow]:
    return [
        BoxRow(f"id-{n:04}", f"Box {n:04}", f"Person {n % 7}: message {n}", n % 3, f"2026-01-01T{n // 60 % 24:02}:{n % 60:02}:00Z")
        for n in range(1000)
    ]  # activity grows with n: Box 0999 is the most recent


async def test_a_thousand_boxes_draw_only_the_rows_on_screen() -> None:
    app = Host()
    async with app.run_test(size=(40, 24)) as pilot:
        box_list = app.query_one(BoxList)
        made: list[str] = []
        make = box_list._make_prompt
        box_list._make_prompt = lambda row, width: made.append(row.box_id) or make(row, width)  # type: ignore[method-assign]
        box_list.set_rows(thousand())
        await pilot.pause()
        rows = box_list.rows
        assert len(rows) == 1000
        assert [r.activity for r in rows] == sorted((r.activity for r in rows), reverse=True)
        visible = app.query_one(BoxRows).scrollable_content_region.height // 2
        assert 0 < len(set(made)) <= visible + 1, "only the boxes on screen are drawn"
        assert rows[0].title in screen_text(app) and rows[-1].title not in screen_text(app)


async def test_filter_keys_and_click_choose_a_box() -> None:
    app = Host()
    async with app.run_test(size=(40, 24)) as pilot:
        box_list = app.query_one(BoxList)
        box_list.set_rows(thousand())
        box_list.focus_filter()
        await type_text(pilot, "Box 0421")
        await wait_until(pilot, lambda: box_list.shown_ids[:1] == ["id-0421"], what="the best match first")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.chosen == ["id-0421"], what="Enter in the filter opens the best match")

        await pilot.pause()
        assert len(box_list.shown_ids) == 1000, "choosing empties the filter"
        assert box_list.highlighted_id == "id-0421", "the highlight stays on the box chosen"
        await pilot.press("down")  # from the filter into the list
        rows_widget = app.query_one(BoxRows)
        assert app.focused is rows_widget
        await pilot.press("home", "down", "down", "enter")
        await wait_until(pilot, lambda: len(app.chosen) == 2, what="Enter in the list")
        assert app.chosen[1] == box_list.shown_ids[2]

        await pilot.press("end")
        assert box_list.highlighted_id == box_list.shown_ids[-1]
        assert rows_widget.scroll_y == rows_widget.max_scroll_y, "the last box is scrolled into view"
        assert box_list.row(box_list.shown_ids[-1]).title in screen_text(app)
        await pilot.press("home")
        assert box_list.highlighted_id == box_list.shown_ids[0] and rows_widget.scroll_y == 0

        await pilot.click(BoxRows, offset=(3, 3))  # the second box's preview line
        await wait_until(pilot, lambda: len(app.chosen) == 3, what="a click opens the box")
        assert app.chosen[2] == box_list.shown_ids[1]


async def test_updates_keep_the_highlight_on_its_box() -> None:
    app = Host()
    async with app.run_test(size=(40, 24)) as pilot:
        box_list = app.query_one(BoxList)
        box_list.set_rows(thousand())
        await pilot.pause()
        third = box_list.shown_ids[2]
        box_list.highlight(third)
        row = box_list.row(box_list.shown_ids[10])
        row.activity = "2027-01-01T00:00:00Z"  # a new message: that box goes to the top
        row.unread += 1
        box_list.upsert(row)
        await pilot.pause()
        assert box_list.shown_ids[0] == row.box_id
        assert box_list.highlighted_id == third
        assert f" {row.unread} " in screen_text(app)
        box_list.remove(third)
        await pilot.pause()
        assert box_list.row(third) is None and third not in box_list.shown_ids
