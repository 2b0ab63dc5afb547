"""Files by keyboard: Tab completes upload paths (and refuses folders), downloads ask
where to go and remember it, transfers show speed and time left and can be cancelled
(nothing kept), and an e-mail (.eml) is imported from the app."""

from __future__ import annotations

from pathlib import Path

from boxtui.messenger.profile import Profile
from boxtui.tui.app import BoxApp
from boxtui.tui.screens.dialogs import SaveDialog, UploadDialog
from boxtui.tui.widgets.timeline import BoxTimeline
from boxtui.tui.widgets.transfers import Transfer

from .conftest import SIZE, open_box, run_command, screen_text, timeline_text, type_text, wait_for_notification, wait_for_text, wait_until

BIG = bytes(range(256)) * 8192  # 2 MiB: eight chunks


def field_value(app: BoxApp, selector: str) -> str:
    return app.screen.query_one(selector).value


async def download_last_file(pilot, app: BoxApp, box: str) -> None:
    """Open the box, select its last file and press w: the save dialog opens."""
    await open_box(pilot, app, box)
    timeline = app.screen.query_one(BoxTimeline)
    await wait_until(pilot, lambda: any(e.file for e in timeline.entries), what="the file")
    timeline.focus()
    await pilot.press("end", "w")
    await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), what="where to save")


async def test_upload_path_completes_with_tab_and_refuses_a_folder(user, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "plan.txt").write_text("the plan")
    (tmp_path / "notes" / "\x1b[31mred [b]x").write_text("hostile")
    ada = await user("ada")
    await ada.create_box("Files")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Files")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, UploadDialog), what="the upload dialog")
        await type_text(pilot, "~/no")
        await pilot.press("tab")
        await wait_until(pilot, lambda: field_value(app, "#upload-path") == "~/notes/", what="the folder completed")
        await pilot.press("enter")
        error = app.screen.query_one("#upload-error")
        await wait_until(pilot, lambda: str(error.render()) == "~/notes/ is a folder: upload a file (Tab lists what is in it).")
        await pilot.press("tab")  # two files in there: listed, hostile name escaped
        await wait_for_text(pilot, "plan.txt")
        assert "\\x1b[31mred [b]x" in screen_text(app)
        await type_text(pilot, "p")
        await pilot.press("tab")
        await wait_until(pilot, lambda: field_value(app, "#upload-path") == "~/notes/plan.txt", what="the file completed")
        await pilot.press("enter")
        await wait_for_notification(pilot, "Uploaded plan.txt.")
        timeline = app.screen.query_one(BoxTimeline)
        await wait_until(pilot, lambda: any(e.file and e.file.file_name == "plan.txt" for e in timeline.entries), what="the file row")


async def test_a_download_asks_where_and_the_folder_is_remembered(user, tmp_path: Path) -> None:
    ada = await user("ada")
    box = await ada.create_box("Files")
    (tmp_path / "a.bin").write_bytes(b"first")
    await ada.upload_file(box.id, tmp_path / "a.bin")
    out = tmp_path / "chosen" / "place"
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await download_last_file(pilot, app, "Files")
        field = app.screen.query_one("#save-path")
        field.value = f"{out}/"  # a folder that does not exist yet
        await pilot.press("enter")
        message = await wait_for_notification(pilot, "Downloaded to")
        assert message == f"Downloaded to {out / 'a.bin'}" and (out / "a.bin").read_bytes() == b"first"

        await pilot.press("w")  # again: the dialog starts in the folder chosen last; never replaces
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), what="where to save")
        assert app.screen.query_one("#save-path").value == str(out / "a.bin")
        await pilot.press("enter")
        await wait_for_notification(pilot, f"Downloaded to {out / 'a (1).bin'}")
    assert Profile.load(ada.profile.home).config.download_dir == str(out)
    assert 'download_dir = "' in ada.profile.config_path.read_text()


async def test_a_download_cancelled_half_way_leaves_no_file(user, tmp_path: Path, monkeypatch) -> None:
    ada = await user("ada")
    box = await ada.create_box("Files")
    (tmp_path / "big.bin").write_bytes(BIG)
    await ada.upload_file(box.id, tmp_path / "big.bin")
    out = tmp_path / "out"
    out.mkdir()
    stats_seen: list[str] = []
    pressed: list[bool] = []
    update = Transfer._update

    def cancel_half_way(transfer: Transfer, done: int, total: int | None) -> None:
        update(transfer, done, total)
        stats_seen.append(str(transfer.query_one(".transfer-stats").render()))
        if total and total // 3 < done < total and not pressed:
            pressed.append(True)
            transfer.query_one("#transfer-cancel").press()  # the ✕ a user clicks

    monkeypatch.setattr(Transfer, "_update", cancel_half_way)
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await download_last_file(pilot, app, "Files")
        app.screen.query_one("#save-path").value = str(out)
        await pilot.press("enter")
        await wait_for_notification(pilot, "Download of big.bin cancelled: nothing was saved.")
        await wait_until(pilot, lambda: not app.screen.query(Transfer), what="the transfer line gone")
        assert "Downloaded to" not in str(app.__dict__.get("shown_notifications"))
    assert list(out.iterdir()) == []  # no file, no .part left behind
    assert any("/s" in s and "left" in s for s in stats_seen), stats_seen


async def test_an_upload_cancelled_half_way_keeps_nothing_on_the_server(user, tmp_path: Path, sqlite_settings, monkeypatch) -> None:
    ada = await user("ada")
    box = await ada.create_box("Files")
    (tmp_path / "big.bin").write_bytes(BIG)
    before = await ada.count_events(box.id)
    update = Transfer._update

    def escape_half_way(transfer: Transfer, done: int, total: int | None) -> None:
        update(transfer, done, total)
        screen = transfer.screen
        if total and total // 3 < done < total and isinstance(screen, UploadDialog) and screen.uploading:
            screen.action_cancel()  # Escape / Cancel

    monkeypatch.setattr(Transfer, "_update", escape_half_way)
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Files")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, UploadDialog), what="the upload dialog")
        await type_text(pilot, str(tmp_path / "big.bin"))
        await pilot.press("enter")
        await wait_for_notification(pilot, "Cancelled: big.bin was not sent.")
        await wait_until(pilot, lambda: not isinstance(app.screen, UploadDialog), what="the dialog closed")
        await pilot.pause(0.5)
    assert await ada.count_events(box.id) == before
    assert [p for p in sqlite_settings.blob_dir.rglob("*") if p.is_file()] == []


async def test_an_email_is_imported_from_the_app(user, tmp_path: Path) -> None:
    ada = await user("ada")
    await ada.create_box("Inbox")
    eml = tmp_path / "mail.eml"
    eml.write_bytes(
        b"From: Grace <grace@example.net>\nSubject: Hello\nContent-Type: multipart/mixed; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nBody text\n--B\nContent-Type: application/pdf\n"
        b'Content-Disposition: attachment; filename="a.pdf"\n\n%PDF-1\n--B--\n'
    )
    (tmp_path / "not-mail.eml").write_bytes(b"\x00\x01 nothing like a mail")
    app = BoxApp(ada)
    async with app.run_test(size=SIZE) as pilot:
        await open_box(pilot, app, "Inbox")
        await run_command(pilot, app, "Import an e-mail")
        await wait_until(pilot, lambda: isinstance(app.screen, UploadDialog), what="the import dialog")
        await wait_for_text(pilot, "Import an e-mail (.eml) into Inbox")
        await type_text(pilot, str(eml))
        await pilot.press("enter")
        await wait_for_notification(pilot, "Imported mail.eml.")
        await wait_until(pilot, lambda: "Subject: Hello" in timeline_text(app) and "a.pdf" in timeline_text(app), what="the mail")
