"""Files: upload with progress, download with progress, save to saved files, the saved-files panel."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, ProgressBar

from boxtui.tui.app import BoxApp
from boxtui.tui.screens.dialogs import ConfirmDialog, SaveDialog, UploadDialog
from boxtui.tui.screens.saved import SavedFilesPanel
from boxtui.tui.widgets.timeline import BoxTimeline
from boxtui.tui.widgets.transfers import Transfer

from .conftest import SIZE, notifications, screen_text, table_rows, type_text, wait_for_notification, wait_for_text, wait_until

CONTENT = bytes(range(256)) * 4096  # 1 MiB: several chunks, so progress moves


async def test_upload_download_and_save_a_file(user, tmp_path: Path) -> None:
    ada = await user("ada")
    await ada.create_box("Reports")
    source = tmp_path / "q3 report.bin"
    source.write_bytes(CONTENT)
    app = BoxApp(ada)
    progress_seen: list[float] = []
    original_update = ProgressBar.update

    def spy(bar: ProgressBar, **kwargs) -> None:  # records what the bars show
        original_update(bar, **kwargs)
        if bar.percentage is not None:
            progress_seen.append(bar.percentage)

    ProgressBar.update = spy
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "Reports")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen.current_box_id, what="the box open")

            await pilot.press("ctrl+t")
            await wait_until(pilot, lambda: isinstance(app.screen, UploadDialog))
            await type_text(pilot, str(tmp_path / "missing.bin"))
            await pilot.press("enter")
            await wait_for_text(pilot, "No such file:")
            app.screen.query_one("#upload-path").value = str(source)
            await pilot.press("enter")
            await wait_for_notification(pilot, "Uploaded q3 report.bin.")
            assert progress_seen and progress_seen[-1] == 1.0 and min(progress_seen) < 1.0
            timeline = app.screen.query_one(BoxTimeline)
            await wait_until(pilot, lambda: any(e.file and e.file.file_name == "q3 report.bin" for e in timeline.entries), what="the file row")

            progress_seen.clear()
            timeline.focus()
            await pilot.press("end", "w")
            await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), what="where to save")
            assert app.screen.query_one("#save-path").value == str(ada.profile.downloads_dir / "q3 report.bin")
            await pilot.press("enter")  # the default: the downloads folder
            message = await wait_for_notification(pilot, "Downloaded to")
            downloaded = Path(message.removeprefix("Downloaded to "))
            assert downloaded.read_bytes() == CONTENT
            assert downloaded.parent == ada.profile.downloads_dir
            assert progress_seen and progress_seen[-1] == 1.0
            assert not app.screen.query(Transfer)  # the finished transfer is gone

            await pilot.press("s")
            await wait_for_notification(pilot, "q3 report.bin added to your saved files.")
            await wait_for_text(pilot, "★ saved")
    finally:
        ProgressBar.update = original_update
    assert [entry.meta.file_name for entry in await ada.list_saved()] == ["q3 report.bin"]


async def test_saved_files_panel(user, tmp_path: Path) -> None:
    ada = await user("ada")
    (tmp_path / "notes.txt").write_text("remember the milk")
    await ada.upload_saved(tmp_path / "notes.txt")
    extra = tmp_path / "photo.jpg"
    extra.write_bytes(b"\xff\xd8" + b"x" * 5000)
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SavedFilesPanel))
        panel = app.screen
        table = panel.query_one(DataTable)
        await wait_for_text(pilot, "1 saved file")
        assert table_rows(table)[0][:2] == ["notes.txt", "17 bytes"]

        # Download the selected one.
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), what="where to save")
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "Downloaded to")
        assert Path(message.removeprefix("Downloaded to ")).read_text() == "remember the milk"

        # Upload a local file into the saved files.
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, UploadDialog))
        await type_text(pilot, str(extra))
        await pilot.press("enter")
        await wait_for_notification(pilot, "Uploaded photo.jpg.")
        await wait_until(pilot, lambda: app.screen is panel and table.row_count == 2, what="two saved files")
        await wait_for_text(pilot, "2 saved files")
        assert sorted(row[0] for row in table_rows(table)) == ["notes.txt", "photo.jpg"]

        # Delete one after confirming.
        table.focus()
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.click("#confirm-yes")
        await wait_for_notification(pilot, "Removed from your saved files.")
        await wait_for_text(pilot, "1 saved file")
        assert table.row_count == 1
    assert len(await ada.list_saved()) == 1
    assert "Error" not in str(notifications(app))


async def test_saved_files_need_a_password_login(user, device, sqlite_settings) -> None:
    from boxtui.server.mailer import latest_code
    from tests.conftest import PASSWORD

    await user("bob")
    phone = device("bob-phone")
    await phone.request_code("bob@example.org")
    await phone.login_code("bob@example.org", latest_code(sqlite_settings.outbox_dir, "bob@example.org"))
    await __import__("asyncio").to_thread(phone.unlock_keystore, PASSWORD)
    app = BoxApp(phone)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        message = await wait_for_notification(pilot, "Cannot list the saved files")
        assert message == "Cannot list the saved files: that needs a login with your password (you logged in with an e-mail code)"
        assert "SavedFilesPanel" not in screen_text(app)
