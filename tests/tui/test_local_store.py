"""The app on the local store (issue 10): it paints the box list and the last open box
from the store, reads and searches while the server is down, shows a message written
offline as pending, and sends it exactly once when the server is back."""

from __future__ import annotations

from boxtui.client.client import BoxClient
from boxtui.messenger.messenger import Messenger
from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.search import SearchScreen
from boxtui.tui.widgets.box_list import BoxList
from boxtui.tui.widgets.timeline import BoxTimeline
from tests.conftest import PASSWORD, asgi_transport
from tests.messenger.conftest import BASE_URL, CHEAP_KDF
from tests.messenger.test_local_first import Network

from .conftest import SIZE, header_text, timeline_text, type_text, wait_until

import pytest
from textual.widgets import Input


@pytest.fixture
async def net(sqlite_app):
    return Network(asgi_transport(sqlite_app))


async def _ada(net, home) -> Messenger:
    client = BoxClient(BASE_URL, transport=net)
    return await Messenger.signup(client, Profile.load(home), "ada@example.org", PASSWORD, "Ada", **CHEAP_KDF)


async def _restart(home, net) -> Messenger:
    return await Messenger.resume(BoxClient(BASE_URL, transport=net), Profile.load(home), PASSWORD, offline_ok=True, **CHEAP_KDF)


async def test_offline_app_reads_searches_and_queues(net, tmp_path) -> None:
    ada = await _ada(net, tmp_path / "ada")
    notes = await ada.create_box("Field notes")
    other = await ada.create_box("Errands")
    for i in range(30):
        await ada.send_text(notes.id, f"river reading number {i}")
    await ada.send_text(other.id, "buy bread")
    await ada.sync()
    ada.remember_open_box(notes.id)
    ada.close_local()
    await ada.client.aclose()

    net.down = True
    offline = await _restart(tmp_path / "ada", net)
    app = BoxApp(offline)
    async with app.run_test(size=SIZE) as pilot:
        boxes = app.screen.query_one(BoxList)
        await wait_until(pilot, lambda: {r.title for r in boxes.rows} == {"Field notes", "Errands"}, what="stored boxes")
        await wait_until(pilot, lambda: "river reading number 29" in timeline_text(app), what="the last open box, stored")
        await wait_until(pilot, lambda: "offline" in header_text(app) or "reconnecting" in header_text(app), what="no connection shown")

        # written offline: shown pending, kept in the outbox
        await wait_until(pilot, lambda: app.focused is app.screen.composer.input, what="the composer focused")
        await type_text(pilot, "written with the server down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "written with the server down ◷ sending…" in timeline_text(app), what="pending row")

        # / searches the open box; Enter jumps to the message, its page loaded around it
        timeline = app.screen.query_one(BoxTimeline)
        timeline.focus()
        await pilot.press("slash")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen) and isinstance(app.focused, Input), what="the search screen")
        await type_text(pilot, "number 3")
        await wait_until(pilot, lambda: len(app.screen._hits) == 1, what="one result")
        assert "Field notes" in str(app.screen._hits[0].box_title)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, SearchScreen), what="the jump")
        await wait_until(
            pilot, lambda: (timeline.current_entry is not None and timeline.current_entry.text == "river reading number 3"),
            what="the cursor on the result",
        )

        # back online: the outbox goes out once, the pending row is replaced
        net.down = False
        app.screen.load_boxes()
        await wait_until(pilot, lambda: offline.outbox_entries() == [], timeout=20, what="the outbox sent")
    check = await _restart(tmp_path / "ada", net)
    texts = [e.text for e in await check.timeline_page(notes.id, tail=True) if e.is_message]
    assert texts.count("written with the server down") == 1
    check.close_local()
    offline.close_local()


async def test_search_all_boxes_from_the_palette_lists_sender_box_and_date(net, tmp_path) -> None:
    ada = await _ada(net, tmp_path / "ada")
    first = await ada.create_box("Kitchen")
    second = await ada.create_box("Garden")
    await ada.send_text(first.id, "tomatoes are ripe")
    await ada.send_text(second.id, "plant tomatoes in May")
    await ada.sync()
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.screen.query_one(BoxList).rows) == 2, what="the boxes")
        app.screen.action_search_all()
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen) and isinstance(app.focused, Input), what="the search screen")
        await type_text(pilot, "tomato")
        await wait_until(pilot, lambda: len(app.screen._hits) == 2, what="two results")
        from boxtui.tui.screens.search import result_text

        lines = [result_text(hit).plain for hit in app.screen._hits]
        assert lines[0].startswith("Ada  ·  Garden  ·  ") and "plant tomatoes in May" in lines[0]
        assert lines[1].startswith("Ada  ·  Kitchen  ·  ")
        spans = [s for s in result_text(app.screen._hits[0]).spans if "reverse" in str(s.style)]
        assert [result_text(app.screen._hits[0]).plain[s.start : s.end] for s in spans] == ["tomatoes"]
        await pilot.press("down")  # into the results
        await wait_until(pilot, lambda: not isinstance(app.focused, Input), what="the results focused")
        await pilot.press("end", "enter")
        await wait_until(pilot, lambda: "Kitchen" in header_text(app), what="the Kitchen box open")
    ada.close_local()
