"""App-wide: settings saved to the config, key overrides, help, the command palette, the factory."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Select, TextArea

from boxtui.messenger.profile import Profile, SavedSession
from boxtui.tui.app import BoxApp, make_app
from boxtui.tui.screens.dialogs import NewBoxDialog
from boxtui.tui.screens.help import HelpScreen
from boxtui.tui.screens.login import LoginScreen
from boxtui.tui.screens.settings import SettingsScreen

from .conftest import SIZE, run_command, screen_text, table_rows, type_text, wait_for_notification, wait_for_text, wait_until


async def test_settings_are_saved_and_apply_at_once_and_next_time(user, device) -> None:
    ada = await user("ada")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen = app.screen
        screen.query_one("#settings-server", Input).value = "ftp://nope"
        await pilot.press("ctrl+s")
        await wait_for_notification(pilot, "The server URL starts with http:// or https://.")
        screen.query_one("#settings-server", Input).value = "https://box.example.org"
        screen.query_one("#settings-theme", Select).value = "nord"
        keymap = screen.query_one("#settings-keymap", TextArea)
        keymap.load_text("main.new_box = f5\nno.such.binding = f9")
        await pilot.press("ctrl+s")
        await wait_for_notification(pilot, "no binding has the id no.such.binding")
        assert isinstance(app.screen, SettingsScreen)
        keymap.load_text("main.new_box = f5")
        await pilot.press("ctrl+s")
        await wait_for_notification(pilot, "Settings saved. The server change applies at the next start.")
        assert app.theme == "nord"
        await pilot.press("f5")  # the override is live
        await wait_until(pilot, lambda: isinstance(app.screen, NewBoxDialog), what="the new-box dialog on f5")
        await pilot.press("escape")

    saved = tomllib.loads(ada.profile.config_path.read_text())
    assert saved == {"server_url": "https://box.example.org", "theme": "nord", "keymap": {"main.new_box": "f5"}}

    # The next run reads them back.
    again = BoxApp(device("ada"))
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
        assert again._keymap == {"main.new_box": "f5"}


async def test_unknown_config_entries_are_reported_not_fatal(device) -> None:
    messenger = device("zed")
    messenger.profile.config.theme = "no-such-theme"
    messenger.profile.config.keymap = {"bogus.id": "f9", "app.help": "f10"}
    app = BoxApp(messenger)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_notification(pilot, "Unknown theme 'no-such-theme' in the config; using the default.")
        await wait_for_notification(pilot, "No binding has the id: bogus.id (see f1).")
        await pilot.press("f10")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on the remapped key")


async def test_help_lists_every_binding_with_its_id(user) -> None:
    app = BoxApp(await user("ada"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one(DataTable)
        by_id = {row[2]: row for row in table_rows(table) if row[2]}
        for binding_id in ("app.quit", "app.help", "main.new_box", "main.join", "main.upload", "composer.send",
                           "composer.newline", "composer.editor", "timeline.reply", "timeline.edit", "timeline.delete",
                           "timeline.download", "timeline.save", "timeline.forward", "timeline.copy", "access.apply",
                           "saved.download", "invitation.rotate", "settings.save"):
            assert binding_id in by_id, binding_id
        assert by_id["main.new_box"][:2] == ["^n", "New box"]
        assert by_id["timeline.reply"][0] == "r"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_command_palette_switches_boxes_by_fuzzy_name_and_runs_actions(user) -> None:
    ada = await user("ada")
    await ada.create_box("Gardening")
    await ada.create_box("Kitchen renovation")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Kitchen renovation")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "grdn")
        await wait_for_text(pilot, "Open box: Gardening")
        await pilot.press("enter")
        header = app.screen.query_one("#box-header")
        await wait_until(pilot, lambda: "Gardening" in header.render().plain, what="Gardening open")

        await run_command(pilot, app, "new box", shown="Create a box")
        await wait_until(pilot, lambda: isinstance(app.screen, NewBoxDialog), what="the new-box dialog")


async def test_log_out_from_the_palette(user) -> None:
    ada = await user("ada")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await run_command(pilot, app, "log out", shown="End this session")
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen), what="the login screen")
        await wait_for_notification(pilot, "You are logged out.")
    assert ada.profile.session is None


async def test_editor_needs_a_real_terminal(user) -> None:
    ada = await user("ada")
    await ada.create_box("Drafts")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "Drafts")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.current_box_id, what="the box open")
        await type_text(pilot, "draft")
        await pilot.press("ctrl+g")
        await wait_for_notification(pilot, "This terminal cannot be handed over to an editor.")
        assert "draft" in screen_text(app)


def test_make_app_uses_the_configured_server(tmp_path: Path) -> None:
    profile = Profile.load(tmp_path)
    profile.server_url = "http://127.0.0.1:9"
    profile.save_config()
    app = make_app(None, tmp_path)
    assert app.server_url == "http://127.0.0.1:9" and app.server_note == ""
    app = make_app("http://127.0.0.1:10", tmp_path)
    assert app.server_url == "http://127.0.0.1:10"


def test_make_app_goes_back_to_the_server_of_the_saved_session(tmp_path: Path) -> None:
    """``boxtui login --server X`` from the CLI, then a bare ``boxtui``: the app opens X."""
    profile = Profile.load(tmp_path)
    profile.save_session(
        SavedSession(token="t", csrf_token="c", identity={"id": "x"}, server_url="http://127.0.0.1:11", acr=2, expires_at="")
    )
    app = make_app(None, tmp_path)
    assert app.server_url == "http://127.0.0.1:11" and app.server_note == ""


async def test_a_started_local_server_is_announced(tmp_path: Path) -> None:
    note = "Started the local server at http://127.0.0.1:9 (data in /srv/x); `boxtui server stop` stops it."
    app = BoxApp(profile=Profile.load(tmp_path), server_url="http://127.0.0.1:9", server_note=note)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_notification(pilot, "Started the local server at http://127.0.0.1:9")
        assert isinstance(app.screen, LoginScreen)


async def test_footer_keys_work_when_clicked_and_show_their_tooltip(user) -> None:
    """The footer draws its keys on one line itself: a click on a key does what the key
    does, and hovering the palette key shows its tooltip, as Textual's footer did."""
    from boxtui.tui.widgets.footer import BoxFooter

    ada = await user("ada")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        footer = app.screen.query_one(BoxFooter)
        await wait_until(pilot, lambda: any(key.binding.id == "app.help" for key in footer.keys()), what="f1 in the footer")
        help_key = next(key for key in footer.keys() if key.binding.id == "app.help")
        await pilot.click(BoxFooter, offset=(help_key.start + 1, 0))
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen, f1 clicked in the footer")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), what="the help screen closed")
        palette = footer.keys()[-1]
        assert palette.palette and palette.key == app.COMMAND_PALETTE_BINDING
        await pilot.hover(BoxFooter, offset=(palette.start + 2, 0))
        await wait_until(pilot, lambda: footer.tooltip, what="the palette key's tooltip")
        await pilot.click(BoxFooter, offset=(palette.start + 2, 0))
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette, clicked in the footer")
