"""The CLI end to end: a real ``boxtui serve`` process, users as separate profiles,
each step a ``python -m boxtui …`` subprocess (the issue's required scenario)."""

from __future__ import annotations

import json
import os
import time

import pytest

from boxtui.server.mailer import latest_code

pytestmark = pytest.mark.e2e


def events(profile, box: str) -> list[dict]:
    return [json.loads(line) for line in profile.ok("events", box, "--json").splitlines()]


def test_two_users_link_auto_invite_files_saved_and_restore(server_url, profiles, tmp_path):
    ada, bob = profiles("ada"), profiles("bob")
    ada.ok("--server", server_url, "signup", "--email", "ada@example.org", "--name", "Ada")
    bob.ok("signup", "--server", server_url, "--email", "bob@example.org", "--name", "Bob")

    # 1. an invitation link into a public box
    team = ada.ok("create-box", "Team").strip()
    ada.ok("access", "Team", "mode", "public")
    link = ada.ok("invite", team).strip()
    assert link.startswith(f"boxtui://127.0.0.1:{server_url.rsplit(':', 1)[1]}/boxes/{team}#")
    assert bob.ok("join", link).strip() == team
    ada.ok("send", "Team", "hello bob")
    bob.ok("send", team, "-", stdin="hi ada,\nall well\n")
    texts = [e["text"] for e in events(ada, "Team") if e["type"] == "msg.text"]
    assert texts == ["hello bob", "hi ada,\nall well"]
    assert [e["text"] for e in events(bob, "Team") if e["text"]] == texts

    # 2. an auto-invite into a limited box, and a file through it
    private = ada.ok("create-box", "Private").strip()
    ada.ok("access", "Private", "add", "--email", "bob@example.org", "--auto-invite")
    rules = [line.split("\t") for line in ada.ok("access", "Private", "list").splitlines()]
    assert [r[1:] for r in rules] == [["identifier", "bob@example.org", "auto-invite"]]
    boxes = {line.split("\t")[2]: line.split("\t") for line in bob.ok("boxes").splitlines()}
    assert set(boxes) == {"Team", "Private"} and boxes["Private"][0] == private
    payload = os.urandom(200_000) + "é\n".encode()
    source = tmp_path / "report.bin"
    source.write_bytes(payload)
    file_event = ada.ok("upload", "Private", str(source)).strip()
    [file_entry] = [e for e in events(bob, "Private") if e["type"] == "msg.file"]
    assert file_entry["id"] == file_event
    assert file_entry["file"] == {"name": "report.bin", "size": len(payload), "type": "application/octet-stream"}
    downloads = tmp_path / "bob-downloads"
    downloads.mkdir()
    first = bob.ok("download", file_event, "-o", str(downloads)).strip()
    second = bob.ok("download", file_event, "-o", str(downloads)).strip()
    assert first.endswith("report.bin") and second.endswith("report (1).bin")
    assert open(first, "rb").read() == payload

    # 3. bob keeps it in his saved files and gets it back byte for byte
    saved_id = bob.ok("saved", "save", file_event).strip()
    [listed] = [line.split("\t") for line in bob.ok("saved", "ls").splitlines()]
    assert listed[:3] == [saved_id, str(len(payload)), "report.bin"]
    got = bob.ok("saved", "get", saved_id, "-o", str(tmp_path / "from-saved.bin")).strip()
    assert open(got, "rb").read() == payload

    # 4. ada on a new machine: same account, keys restored from the backup
    laptop = profiles("ada-laptop")
    laptop.ok("--server", server_url, "login", "--email", "ada@example.org")
    assert [e["text"] for e in events(laptop, "Team") if e["text"]] == texts
    [laptop_file] = [e for e in events(laptop, "Private") if e["type"] == "msg.file"]
    assert laptop_file["file"]["name"] == "report.bin"
    listing = laptop.ok("boxes").splitlines()
    assert {line.split("\t")[2] for line in listing} == {"Team", "Private"}


def test_errors_are_one_line_and_usage_is_exit_2(server_url, profiles, tmp_path):
    ada = profiles("ada2")
    nobody = profiles("nobody")
    result = nobody.run("boxes")
    assert (result.code, result.out) == (1, "")
    assert result.err == "boxtui: not logged in: run boxtui login --email ADDRESS\n"
    assert nobody.run("logout").code == 0

    ada.ok("--server", server_url, "signup", "--email", "ada2@example.org", "--name", "Ada")
    for args, message in [
        (("send", "No such box", "hi"), "no box named 'No such box'"),
        (("events", "00000000-0000-4000-8000-000000000000"), "the server refused (403"),
        (("download", "00000000-0000-4000-8000-000000000000"), "the server refused (404"),
        (("upload", "No such box", str(tmp_path / "missing")), "no box named"),
        (("join", "https://example.org/not-a-link"), "bad invitation link"),
        (("saved", "get", "00000000-0000-4000-8000-000000000000"), "no saved file"),
    ]:
        result = ada.run(*args)
        assert result.code == 1, (args, result)
        assert result.err.startswith(f"boxtui: {message}") and result.err.count("\n") == 1, result.err
        assert "Traceback" not in result.err
    ada.ok("create-box", "Mine")
    result = ada.run("upload", "Mine", str(tmp_path / "missing.txt"))
    assert (result.code, result.err.count("\n")) == (1, 1) and "cannot read" in result.err

    wrong = ada.run("boxes", password=False)
    assert wrong.code == 1 and "BOXTUI_PASSWORD" in wrong.err

    for args in [("send",), ("frobnicate",), ("access", "Mine"), ("access", "Mine", "mode", "secret"), ("create-box",)]:
        result = ada.run(*args)
        assert result.code == 2, (args, result)
        assert "usage: boxtui" in result.err and "Traceback" not in result.err

    ada.ok("logout")
    assert ada.run("boxes").code == 1


def test_code_login_asks_for_the_mailed_code(server_url, server_data_dir, profiles):
    ada = profiles("ada3")
    ada.ok("--server", server_url, "signup", "--email", "ada3@example.org", "--name", "Ada")
    box = ada.ok("create-box", "Notes").strip()
    ada.ok("send", box, "first note")
    phone = profiles("ada3-phone")
    phone.home.joinpath("keystore.json").write_bytes(ada.home.joinpath("keystore.json").read_bytes())
    before = latest_code(server_data_dir / "outbox", "ada3@example.org")
    process = phone.start("--server", server_url, "login", "--email", "ada3@example.org", "--code")
    deadline = time.monotonic() + 60
    while (code := latest_code(server_data_dir / "outbox", "ada3@example.org")) in (None, before):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.1)
    out, err = process.communicate(code + "\n", timeout=60)
    assert process.returncode == 0, err
    # No mailer: the CLI says where the code is (this server runs as this Unix user).
    assert err == f"boxtui: The code for ada3@example.org was written to {server_data_dir / 'outbox'}/ (valid for 10 minutes).\n"
    assert [e["text"] for e in events(phone, "Notes") if e["text"]] == ["first note"]
    wrong = phone.run("--server", server_url, "login", "--email", "ada3@example.org", "--code", "000000")
    assert wrong.code == 1 and wrong.err == "boxtui: wrong e-mail, password or code\n"


def test_forward_import_email_saved_put_rm_and_rotate(server_url, profiles, tmp_path):
    ada = profiles("ada4")
    ada.ok("--server", server_url, "signup", "--email", "ada4@example.org", "--name", "Ada")
    inbox = ada.ok("create-box", "Inbox").strip()
    archive = ada.ok("create-box", "Archive").strip()
    eml = tmp_path / "mail.eml"
    eml.write_bytes(
        b"From: Grace <grace@example.net>\nSubject: Hello\nContent-Type: multipart/mixed; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nBody text\n--B\nContent-Type: application/pdf\n"
        b'Content-Disposition: attachment; filename="a.pdf"\n\n%PDF-1\n--B--\n'
    )
    text_id, file_id = ada.ok("import-email", "Inbox", str(eml)).split()
    [copy_id] = ada.ok("forward", text_id, "Archive").split()
    copied = [e for e in events(ada, archive) if e["id"] == copy_id]
    assert copied[0]["text"] == "From: Grace <grace@example.net>\nSubject: Hello\n\nBody text"
    inbox_files = [e["file"]["name"] for e in events(ada, inbox) if e["file"]]
    assert inbox_files == ["a.pdf"] and file_id

    local = tmp_path / "notes.txt"
    local.write_text("kept privately")
    saved_id = ada.ok("saved", "put", str(local)).strip()
    assert ada.ok("saved", "ls").split("\t")[:3] == [saved_id, "14", "notes.txt"]
    ada.ok("saved", "rm", saved_id)
    assert ada.ok("saved", "ls") == ""

    ada.ok("access", "Inbox", "mode", "public")
    first = ada.ok("invite", "Inbox").strip()
    rotated = ada.ok("invite", "Inbox", "--rotate").strip()
    assert rotated != first and ada.ok("invite", inbox).strip() == rotated


def test_links_in_limited_boxes_say_who_may_use_them_and_removing_access_renews_them(server_url, profiles):
    ada, bob = profiles("ada5"), profiles("bob5")
    ada.ok("--server", server_url, "signup", "--email", "ada5@example.org", "--name", "Ada")
    bob.ok("--server", server_url, "signup", "--email", "bob5@example.org", "--name", "Bob")
    ada.ok("create-box", "Ops")
    limited = ada.run("invite", "Ops")
    assert limited.code == 0 and limited.out.startswith("boxtui://")
    assert "“Ops” is limited: only people its access rules name can join with this link" in limited.err
    assert "boxtui access Ops mode public" in limited.err
    old_link = limited.out.strip()
    added = ada.run("access", "Ops", "add", "--email", "bob5@example.org", "--email", "new5@example.org", "--auto-invite")
    assert added.code == 0
    assert added.err == "boxtui: new5@example.org has no account yet: their rule lets them join with the invitation link once they sign up\n"
    assert "Ops" in bob.ok("boxes")  # auto-invited: in at his next command
    [bob_rule] = [line.split("\t")[0] for line in ada.ok("access", "Ops", "list").splitlines() if "bob5@" in line]
    removed = ada.run("access", "Ops", "rm", bob_rule)
    assert removed.code == 0
    assert removed.err.splitlines() == [
        "boxtui: removed from the box: Bob",
        "boxtui: the invitation link was renewed, the old one no longer works: boxtui invite Ops",
    ]
    ada.ok("access", "Ops", "mode", "public")
    refused = bob.run("join", old_link)
    assert refused.code == 1 and "no longer valid" in refused.err
    assert bob.ok("join", ada.ok("invite", "Ops").strip()).strip()


def test_without_a_server_every_profile_uses_one_local_server_that_outlives_logout_and_restarts(profiles, local_server):
    solo, other = profiles("solo"), profiles("other")
    first = solo.run("signup", "--email", "solo@example.org", "--name", "Solo")
    assert first.code == 0, first.err
    assert first.err.startswith(f"boxtui: Started the local server at {local_server.url} (data in {local_server.data_dir})")
    assert solo.ok("create-box", "Alone").strip()
    # Another profile finds the same server without a flag, and says nothing about it.
    other.ok("signup", "--email", "other@example.org", "--name", "Other")

    status = solo.run("server", "status")
    fields = dict(line.split("\t", 1) for line in status.out.splitlines() if not line.startswith("note"))
    assert status.code == 0 and fields["url"] == local_server.url and fields["state"] == "running"
    assert fields["data"] == str(local_server.data_dir) and fields["owner"].endswith("(you)")
    assert "note\tsign-up needs no code" in status.out

    # Logout keeps the server: the next login goes back to it.
    solo.ok("logout")
    solo.ok("login", "--email", "solo@example.org")
    assert [line.split("\t")[2] for line in solo.ok("boxes").splitlines()] == ["Alone"]

    # Stopped, it comes back at the same address on the next command: the session still works.
    stopped = solo.run("server", "stop")
    assert stopped.code == 0 and "Stopped the local server" in stopped.err
    assert solo.run("server", "status").code == 3
    again = solo.run("boxes")
    assert again.code == 0 and again.err.startswith(f"boxtui: Started the local server at {local_server.url}")
    assert again.out.split("\t")[2] == "Alone"
    assert other.ok("boxes") == ""  # the other profile's session is still valid too

