"""Files, saved files, e-mail import and invitation links through the Messenger."""

from __future__ import annotations

import pytest

from boxtui.messenger.errors import MessengerError
from boxtui.messenger.downloads import write_new_file
from boxtui.messenger.messenger import Messenger
from tests.conftest import PASSWORD
from tests.messenger.conftest import CHEAP_KDF

EML = b"""From: Grace <grace@example.net>
To: ada@example.org
Subject: Minutes
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: text/plain; charset=utf-8

See the attached notes.
--XX
Content-Type: text/csv; name="notes.csv"
Content-Disposition: attachment; filename="notes.csv"

a,b
1,2
--XX--
"""


async def test_upload_download_never_overwrites(user, tmp_path):
    ada = await user("ada")
    box = await ada.create_box("Files")
    source = tmp_path / "report.tar.gz"
    source.write_bytes(bytes(range(256)) * 100)
    seen = []
    event = await ada.upload_file(box.id, source, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    entry = ada.decrypt_event(event)
    assert entry.file.file_name == "report.tar.gz" and entry.file.file_size == 25600
    out = tmp_path / "out"
    out.mkdir()
    first = await ada.download_file(event, out)
    second = await ada.download_file(event.id, out)
    assert first.name == "report.tar.gz" and second.name == "report (1).tar.gz"
    assert first.read_bytes() == second.read_bytes() == source.read_bytes()
    explicit = await ada.download_file(event, out / "copy.bin")
    assert explicit == out / "copy.bin"
    default = await ada.download_file(event)
    assert default.parent == ada.profile.downloads_dir
    text = await ada.send_text(box.id, "not a file")
    with pytest.raises(MessengerError, match="not a file"):
        await ada.download_file(text.id, out)
    with pytest.raises(MessengerError, match="cannot read"):
        await ada.upload_file(box.id, tmp_path / "missing.txt")


def test_write_new_file_sanitises_names(tmp_path):
    assert write_new_file(tmp_path, "../../etc/passwd", b"x").parent == tmp_path
    assert write_new_file(tmp_path, "..", b"x").name == "download"
    assert write_new_file(tmp_path, ".bashrc", b"x").name == ".bashrc"
    assert write_new_file(tmp_path, ".bashrc", b"y").name == ".bashrc (1)"


async def test_saved_files_round_trip(user, tmp_path):
    ada = await user("ada")
    box = await ada.create_box("Files")
    source = tmp_path / "photo.png"
    source.write_bytes(b"\x89PNG fake")
    event = await ada.upload_file(box.id, source)
    saved = await ada.save_file(event.id)
    direct_source = tmp_path / "direct.txt"
    direct_source.write_text("straight to my files")
    direct = await ada.upload_saved(direct_source)
    entries = await ada.list_saved()
    assert [(e.saved.id, e.meta.file_name) for e in entries] == [(direct.id, "direct.txt"), (saved.id, "photo.png")]
    assert await ada.count_saved() == 2
    path = await ada.download_saved(saved.id, tmp_path / "got")
    assert path.read_bytes() == source.read_bytes()
    await ada.delete_saved(direct.id)
    assert await ada.count_saved() == 1
    with pytest.raises(MessengerError, match="no saved file"):
        await ada.download_saved(direct.id, tmp_path)


async def test_file_forward_reuses_the_blob(user, tmp_path):
    ada = await user("ada")
    one = await ada.create_box("One")
    two = await ada.create_box("Two")
    source = tmp_path / "a.txt"
    source.write_text("shared")
    event = await ada.upload_file(one.id, source)
    [copy] = await ada.forward(event.id, [two.id])
    assert copy.content["encrypted_file_id"] == event.content["encrypted_file_id"]
    path = await ada.download_file(copy, tmp_path)
    assert path.read_text() == "shared"


async def test_import_email_client_side(user, tmp_path):
    ada = await user("ada")
    box = await ada.create_box("Mail")
    events = await ada.import_email(box.id, EML)
    assert [e.type for e in events] == ["msg.text", "msg.file"]
    text = ada.decrypt_event(events[0]).text
    assert "From: Grace <grace@example.net>" in text and "Subject: Minutes" in text
    assert text.endswith("See the attached notes.")
    attachment = ada.decrypt_event(events[1])
    assert attachment.file.file_name == "notes.csv" and events[1].referrer_id == events[0].id
    path = await ada.download_file(events[1], tmp_path)
    assert path.read_bytes().replace(b"\r\n", b"\n") == b"a,b\n1,2"  # the last newline belongs to the boundary
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"Subject: only\n\n<p>Hi &amp; bye</p>")
    [event] = await ada.import_email(box.id, eml)
    assert ada.decrypt_event(event).text == "Subject: only\n\n<p>Hi &amp; bye</p>"
    html_mail = b"Subject: News\nContent-Type: text/html\n\n<style>p{}</style><p>Hi &amp; bye</p><p>Ada</p>"
    [event] = await ada.import_email(box.id, html_mail)
    assert ada.decrypt_event(event).text == "Subject: News\n\nHi & bye\nAda"
    with pytest.raises(MessengerError, match="empty"):
        await ada.import_email(box.id, b"  ")
    with pytest.raises(MessengerError, match="no headers"):
        await ada.import_email(box.id, b"just some words, no headers at all")


async def test_links_rotate_join_and_reject(user):
    ada = await user("ada")
    bob = await user("bob")
    carol = await user("carol")
    box = await ada.create_box("Club")
    await ada.set_access_mode(box.id, public=True)
    old_link = await ada.invitation_link(box.id)
    assert old_link.startswith(f"boxtui://127.0.0.1/boxes/{box.id}#")
    await bob.join_link(old_link)
    assert bob.keystore.box_secret_key(box.id) == ada.keystore.box_secret_key(box.id)
    await bob.send_text(box.id, "bob here")
    new_link = await ada.rotate_invitation(box.id)
    assert new_link != old_link and await ada.invitation_link(box.id) == new_link
    with pytest.raises(MessengerError, match="no longer valid"):
        await carol.join_link(old_link)
    await carol.join_link(new_link)
    # members see the renewed link too (set_box_key_share action)
    assert await bob.process_crypto_actions() == [box.id]
    assert await bob.invitation_link(box.id) == new_link
    with pytest.raises(MessengerError, match="bad invitation link"):
        await carol.join_link("https://example.org/nothing")
    with pytest.raises(MessengerError, match="for the server"):
        await carol.join_link(new_link.replace("127.0.0.1", "localhost:9"))


async def test_new_device_reads_boxes_from_backup(user, device):
    ada = await user("ada")
    box = await ada.create_box("Diary")
    await ada.send_text(box.id, "dear diary")
    client, profile = device("ada-2")
    other = Messenger(client, None, profile, **CHEAP_KDF)
    await other.login_password("ada@example.org", PASSWORD)
    [summary] = await other.list_boxes()
    assert summary.preview == "dear diary"
    # a box made on the second device reaches the first one through the backup
    second = await other.create_box("From laptop")
    client, _ = device("again")
    again = await Messenger.resume(client, ada.profile, PASSWORD, **CHEAP_KDF)
    assert again.keystore.box_secret_key(second.id) is not None
    assert (await ada.client.keys.secret_storage_get()).version >= 3


async def test_two_live_devices_merge_each_others_box_keys(user, device):
    ada = await user("ada")
    client, profile = device("ada-2")
    other = Messenger(client, None, profile, **CHEAP_KDF)
    await other.login_password("ada@example.org", PASSWORD)
    x = await ada.create_box("X")
    y = await other.create_box("Y")  # merges X from the backup before uploading
    assert other.keystore.box_secret_key(x.id) is not None
    z = await ada.create_box("Z")  # merges Y the same way
    assert ada.keystore.box_secret_key(y.id) is not None
    backup = await ada.client.keys.secret_storage_get()
    assert backup.data == ada.keystore.path.read_text()
    await other.sync_keys()
    assert {b for b in (x.id, y.id, z.id) if other.keystore.box_secret_key(b)} == {x.id, y.id, z.id}


async def test_backup_race_gets_412_then_merges_and_retries(user, device, monkeypatch):
    ada = await user("ada")
    client, profile = device("ada-2")
    other = Messenger(client, None, profile, **CHEAP_KDF)
    await other.login_password("ada@example.org", PASSWORD)
    real_get = ada.client.keys.secret_storage_get
    raced, reads = [], []

    async def get_then_other_device_writes():
        answer = await real_get()
        reads.append(answer.version)
        if not raced:  # the other device backs up between ada's read and ada's write
            raced.append(await other.create_box("Raced"))
        return answer

    monkeypatch.setattr(ada.client.keys, "secret_storage_get", get_then_other_device_writes)
    mine = await ada.create_box("Mine")
    assert len(reads) == 2 and reads[1] > reads[0]  # the first write got 412, the retry re-read
    assert ada.keystore.box_secret_key(raced[0].id) is not None  # and merged before writing
    monkeypatch.undo()
    await other.sync_keys()
    assert other.keystore.box_secret_key(mine.id) is not None
