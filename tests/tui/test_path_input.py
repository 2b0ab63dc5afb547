"""Path completion as a shell does it (the upload, import and save dialogs' Tab)."""

from __future__ import annotations

import os

import pytest

from boxtui.tui.widgets.path_input import complete_path, shown_name
from boxtui.tui.widgets.transfers import transfer_stats


@pytest.fixture
def tree(tmp_path, monkeypatch):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("a")
    (tmp_path / "q3 report.bin").write_bytes(b"x")
    (tmp_path / "q4 report.bin").write_bytes(b"x")
    (tmp_path / ".hidden").write_text("h")
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_one_match_completes_and_a_folder_gets_its_slash(tree):
    assert complete_path(f"{tree}/no").value == f"{tree}/notes/"
    assert complete_path(f"{tree}/notes/").value == f"{tree}/notes/a.txt"
    assert complete_path("no", cwd=tree).value == "notes/"  # relative to the current folder


def test_several_matches_complete_their_common_prefix_and_are_listed(tree):
    completion = complete_path(f"{tree}/q")
    assert completion.value == f"{tree}/q"  # "q3 " and "q4 " share only "q"
    assert completion.candidates == ["q3 report.bin", "q4 report.bin"]
    everything = complete_path(f"{tree}/")
    assert everything.candidates == ["notes/", "q3 report.bin", "q4 report.bin"]  # no hidden file unless asked
    assert complete_path(f"{tree}/.h").value == f"{tree}/.hidden"


def test_tilde_is_completed_and_kept(tree):
    assert complete_path("~").value == "~/"
    assert complete_path("~/no").value == "~/notes/"
    assert complete_path("~/notes/").value == "~/notes/a.txt"


def test_folders_only_and_what_is_said_when_nothing_matches(tree):
    assert complete_path(f"{tree}/", folders_only=True).value == f"{tree}/notes/"
    assert complete_path(f"{tree}/zz").note == f"no file or folder in {tree}/ starts with “zz”"
    assert complete_path(f"{tree}/nope/x").note == f"cannot list {tree}/nope/: No such file or directory"
    assert complete_path(f"{tree}/q3 report.bin/x").note == f"cannot list {tree}/q3 report.bin/: Not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_folder_is_said(tree):
    locked = tree / "locked"
    locked.mkdir(mode=0o000)
    assert complete_path(f"{locked}/").note == f"cannot list {locked}/: Permission denied"


def test_hostile_names_are_listed_escaped_and_completed_as_they_are(tree):
    (tree / "box").mkdir()
    for name in ("\x1b[31mred", "[b]bold[-b].txt", "line\nbreak"):
        (tree / "box" / name).write_text("x")
    completion = complete_path(f"{tree}/box/")
    assert [shown_name(n) for n in completion.candidates] == ["\\x1b[31mred", "[b]bold[-b].txt", "line\\nbreak"]
    assert complete_path(f"{tree}/box/\x1b").value == f"{tree}/box/\x1b[31mred"  # the real name: the path works


def test_transfer_stats_show_speed_and_time_left():
    assert transfer_stats(0, 100, None) == ""
    assert transfer_stats(1_000, None, None) == "1.0 kB"
    assert transfer_stats(2_000_000, 10_000_000, 1_000_000) == "1.0 MB/s · 0:08 left"
    assert transfer_stats(0, 4_000_000_000, 1_000_000) == "1.0 MB/s · 1:06:40 left"
    assert transfer_stats(5, None, 250.0) == "250 bytes/s"
