"""The profile's files and the embedded local server (a real ``boxtui serve`` process)."""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from boxtui.messenger.embedded import (
    choose_server,
    ensure_local_server,
    local_server_running,
    stop_local_server,
)
from boxtui.messenger.profile import Profile, ProfileError, SavedSession


def test_home_env_puts_every_file_under_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BOXTUI_HOME", str(tmp_path / "home"))
    profile = Profile.load()
    assert profile.home == tmp_path / "home"
    for path in (profile.config_path, profile.session_path, profile.keystore_path, profile.cache_dir,
                 profile.downloads_dir, profile.server_data_dir, profile.local_server_state_path):  # fmt: skip
        assert path.is_relative_to(tmp_path / "home")
    assert Profile.load(tmp_path / "other").home == tmp_path / "other"  # an explicit home wins


def test_platform_dirs_without_home(monkeypatch):
    monkeypatch.delenv("BOXTUI_HOME", raising=False)
    profile = Profile.load()
    assert profile.home is None and profile.keystore_path.name == "keystore.json"
    assert "boxtui" in str(profile.config_path) and "boxtui" in str(profile.data_dir)


def test_config_round_trip_and_errors(tmp_path):
    profile = Profile.load(tmp_path)
    assert profile.server_url is None
    profile.server_url = "https://box.example.org/"
    profile.config.theme = "nord"
    profile.config.keymap = {"composer.send": "ctrl+s", 'odd "id"': "f2"}
    profile.save_config()
    again = Profile.load(tmp_path)
    assert again.server_url == "https://box.example.org"
    assert again.config.theme == "nord" and again.config.keymap == profile.config.keymap
    profile.config_path.write_text("server_url = [")
    with pytest.raises(ProfileError, match="not valid TOML"):
        Profile.load(tmp_path)
    profile.config_path.write_text("server_url = 3")
    with pytest.raises(ProfileError, match="server_url"):
        Profile.load(tmp_path)


def test_session_is_private_and_damage_means_logged_out(tmp_path):
    profile = Profile.load(tmp_path)
    session = SavedSession("tok", "csrf", {"id": "x", "display_name": "Ada"}, "http://127.0.0.1:1", 2, "2030-01-01T00:00:00.000000Z")
    profile.save_session(session)
    assert stat.S_IMODE(profile.session_path.stat().st_mode) == 0o600
    assert Profile.load(tmp_path).session == session
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]  # no temp file left
    profile.session_path.write_text("{not json")
    assert Profile.load(tmp_path).session is None
    profile.clear_session()
    profile.clear_session()  # twice is fine
    assert not profile.session_path.exists()


def test_choose_server_order(tmp_path):
    profile = Profile.load(tmp_path)
    profile.server_url = "https://configured.example"
    assert choose_server(profile, "https://flag.example/") == "https://flag.example"
    assert choose_server(profile) == "https://configured.example"
    profile.server_url = None
    profile.save_session(SavedSession("t", "c", {"id": "x"}, "https://session.example", 2, ""))
    assert choose_server(profile) == "https://session.example"


@pytest.mark.e2e
def test_local_server_starts_once_is_reused_and_keeps_its_port(tmp_path):
    profile = Profile.load(tmp_path)
    assert choose_server(profile, start=False) is None
    try:
        url = ensure_local_server(profile)
        assert url.started and url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert (profile.server_data_dir / "boxtui.db").exists()
        again = ensure_local_server(profile)
        assert again == url and not again.started and again.pid == url.pid
        assert local_server_running(profile) == url
        assert choose_server(profile) == url
    finally:
        assert stop_local_server(profile)
    assert local_server_running(profile) is None
    with pytest.raises(ProcessLookupError):
        os.kill(url.pid, 0)
    assert not stop_local_server(profile)
    try:
        restarted = ensure_local_server(profile)
        assert restarted.started and restarted == url  # same port: links and sessions stay valid
    finally:
        stop_local_server(profile)
