"""Keys typed ahead: a Tab between two words that arrive in one read (a slow SSH link,
or the app busy) moves the focus before the next word is delivered."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from boxtui.tui.app import BoxApp
from boxtui.tui.screens.login import LoginScreen
from boxtui.tui.widgets.path_input import PathInput

from .conftest import SIZE, open_box, wait_until


def burst(app, text: str) -> None:
    """Post every key of ``text`` at once, as the terminal parser does for one read."""
    for char in text:
        key = {"\t": "tab", " ": "space"}.get(char, char)
        app.post_message(events.Key(key, char))


async def test_tab_typed_ahead_moves_the_focus_before_the_next_word(device) -> None:
    app = BoxApp(device("newcomer"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.query("#login-email"))
        email = app.screen.query_one("#login-email", Input)
        email.focus()
        await pilot.pause()
        burst(app, "ada@example.org\tcorrect horse")
        password = app.screen.query_one("#login-password", Input)
        await wait_until(pilot, lambda: password.value == "correct horse", what="the password field filled")
        assert email.value == "ada@example.org"
        assert app.focused is password


async def test_tab_in_a_path_field_still_completes(user, tmp_path) -> None:
    ada = await user("ada")
    await ada.create_box("Files")
    (tmp_path / "report-q3.txt").write_text("x")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Files")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: app.screen.query(PathInput), what="the upload dialog")
        field = app.screen.query_one(PathInput)
        field.focus()
        field.value = f"{tmp_path}/report-q"
        await pilot.press("tab")
        await wait_until(pilot, lambda: field.value == f"{tmp_path}/report-q3.txt", what="the completed path")
        assert app.focused is field
