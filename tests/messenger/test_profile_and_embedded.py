"""The profile's files and the host's local server (real ``boxtui serve`` processes, on a
free port block: never 8642)."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from boxtui.messenger.embedded import (
    DEFAULT_ADDRESS,
    LocalServer,
    choose_server,
    ensure_local_server,
    find_local_server,
    local_server_status,
    server_info,
    stop_local_server,
)
from boxtui.messenger.errors import LocalServerError
from boxtui.messenger.profile import Profile, ProfileError, SavedSession
from tests.conftest import LOCAL_SERVER_ENV


def test_home_env_puts_every_file_under_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BOXTUI_HOME", str(tmp_path / "home"))
    profile = Profile.load()
    assert profile.home == tmp_path / "home"
    for path in (profile.config_path, profile.session_path, profile.keystore_path, profile.cache_dir,
                 profile.downloads_dir, profile.last_server_path):  # fmt: skip
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last-server.json", "session.json"]  # no temp file left
    profile.session_path.write_text("{not json")
    assert Profile.load(tmp_path).session is None
    profile.clear_session()
    profile.clear_session()  # twice is fine
    assert not profile.session_path.exists()


def test_choose_server_order(tmp_path, local_server):
    profile = Profile.load(tmp_path)
    profile.server_url = "https://configured.example"
    assert choose_server(profile, "https://flag.example/", local=local_server) == "https://flag.example"
    assert choose_server(profile, local=local_server) == "https://configured.example"
    profile.server_url = None
    profile.save_session(SavedSession("t", "c", {"id": "x"}, "https://session.example", 2, ""))
    assert choose_server(profile, local=local_server) == "https://session.example"


def test_logout_keeps_the_server_of_the_last_login(tmp_path, local_server):
    """After a logout the next login goes back to the same server, not to a local one."""
    profile = Profile.load(tmp_path)
    profile.save_session(SavedSession("t", "c", {"id": "x"}, "https://box.example.org", 2, ""))
    profile.clear_session()
    again = Profile.load(tmp_path)
    assert again.session is None and again.last_server_url == "https://box.example.org"
    assert choose_server(again, local=local_server) == "https://box.example.org"
    assert not local_server.state_path.exists()  # no local server was started for it


def test_the_default_address_is_8642_and_an_env_var_moves_it(monkeypatch, tmp_path):
    monkeypatch.delenv(LOCAL_SERVER_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    default = LocalServer.default()
    assert default.url == "http://127.0.0.1:8642" == f"http://{DEFAULT_ADDRESS}"
    assert default.data_dir == tmp_path / "boxtui" / "server"  # the user's data dir, whatever the profile
    assert default.candidate_urls()[:2] == ["http://127.0.0.1:8642", "http://127.0.0.1:8643"]
    monkeypatch.setenv(LOCAL_SERVER_ENV, "http://127.0.0.1:9000/")
    assert LocalServer.default().url == "http://127.0.0.1:9000"
    for bad in ("8642", "0.0.0.0:8642", "example.org:8642", "127.0.0.1:99999", "127.0.0.1:x"):
        monkeypatch.setenv(LOCAL_SERVER_ENV, bad)
        with pytest.raises(LocalServerError, match="loopback host:port"):
            LocalServer.default()


@pytest.mark.e2e
def test_one_local_server_is_started_found_by_every_profile_and_keeps_its_port(tmp_path, local_server):
    ada, bob = Profile.load(tmp_path / "ada"), Profile.load(tmp_path / "bob")
    assert choose_server(ada, start=False, local=local_server) is None
    url = choose_server(ada, local=local_server)
    assert url == local_server.url and url.started and url.data_dir == local_server.data_dir
    assert "Started the local server at" in url.announcement()
    assert server_info(url)["service"] == "boxtui"
    assert (local_server.data_dir / "boxtui.db").exists()
    again = choose_server(bob, local=local_server)  # another profile: found, not started
    assert again == url and not again.started and again.pid == url.pid and again.announcement() == ""
    status = local_server_status(local_server)
    assert status.running and status.pid == url.pid and status.mine and "(you)" in status.owner
    assert stop_local_server(local_server)
    assert find_local_server(local_server) is None
    with pytest.raises(ProcessLookupError):
        os.kill(url.pid, 0)
    assert not stop_local_server(local_server)
    assert not local_server_status(local_server).running
    restarted = ensure_local_server(local_server)
    assert restarted.started and restarted == url  # same address: links and sessions stay valid


@pytest.mark.e2e
def test_a_session_brings_its_own_server_back_but_never_starts_an_empty_one_for_someone_else(tmp_path, local_server):
    mine = Profile.load(tmp_path / "mine")
    url = ensure_local_server(local_server)
    mine.save_session(SavedSession("t", "c", {"id": "x"}, str(url), 2, ""))
    stop_local_server(local_server)
    back = choose_server(mine, local=local_server)
    assert back == url and back.started
    stop_local_server(local_server)
    # Another Unix user (another data dir) whose session is on that server, while it is down:
    theirs = LocalServer(local_server.host, local_server.port, tmp_path / "other-user")
    guest = Profile.load(tmp_path / "guest")
    guest.save_session(SavedSession("t", "c", {"id": "y"}, str(url), 2, ""))
    with pytest.raises(LocalServerError, match="is not running, and it is not yours"):
        choose_server(guest, local=theirs)
    assert not theirs.data_dir.exists() and find_local_server(theirs) is None


class _OtherProgram(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.e2e
def test_a_port_held_by_another_program_is_said_skipped_and_remembered(tmp_path, local_server):
    blocker = http.server.ThreadingHTTPServer((local_server.host, local_server.port), _OtherProgram)
    threading.Thread(target=blocker.serve_forever, daemon=True).start()
    try:
        url = ensure_local_server(local_server)
        assert url.started and url == f"http://127.0.0.1:{local_server.port + 1}"
        assert f"127.0.0.1:{local_server.port} is held by another program (not a boxtui server)" in url.announcement()
        # Another Unix user finds it on the fallback port, starting nothing.
        other = LocalServer(local_server.host, local_server.port, tmp_path / "other-user")
        found = ensure_local_server(other)
        assert found == url and not found.started and not other.data_dir.exists()
        stop_local_server(local_server)
    finally:
        blocker.shutdown()
        blocker.server_close()
    # The default port is free again, but the server comes back where it was remembered.
    restarted = ensure_local_server(local_server)
    assert restarted.started and restarted == url


@pytest.mark.e2e
def test_sessions_follow_the_server_when_another_program_takes_its_port(tmp_path, local_server):
    url = ensure_local_server(local_server)  # on the default port
    owner, guest = Profile.load(tmp_path / "owner"), Profile.load(tmp_path / "guest")
    for profile in (owner, guest):
        profile.save_session(SavedSession("t", "c", {"id": "x"}, str(url), 2, ""))
    stop_local_server(local_server)
    blocker = http.server.ThreadingHTTPServer((local_server.host, local_server.port), _OtherProgram)
    threading.Thread(target=blocker.serve_forever, daemon=True).start()
    try:
        moved = choose_server(owner, local=local_server)  # its owner: started on the next port
        assert moved.started and moved == f"http://127.0.0.1:{local_server.port + 1}"
        assert "is held by another program" in moved.announcement()
        assert Profile.load(tmp_path / "owner").session.server_url == moved
        other_user = LocalServer(local_server.host, local_server.port, tmp_path / "other-user")
        found = choose_server(guest, local=other_user)  # someone else: finds it there, says so
        assert found == moved and not found.started
        assert found.announcement() == f"The local server is no longer at {url}: it now answers at {moved}."
        assert Profile.load(tmp_path / "guest").session.server_url == moved
    finally:
        blocker.shutdown()
        blocker.server_close()


@pytest.mark.e2e
def test_a_stale_or_damaged_state_file_is_ignored_and_kills_nothing(tmp_path, local_server):
    local_server.home.mkdir(parents=True)
    local_server.state_path.write_text(json.dumps({"url": local_server.url, "pid": os.getpid(), "data_dir": "x"}))
    assert find_local_server(local_server) is None
    assert not stop_local_server(local_server)  # our own pid is not a boxtui server: not killed
    local_server.state_path.write_text("{not json")
    url = ensure_local_server(local_server)
    assert url.started and json.loads(local_server.state_path.read_text())["pid"] == url.pid


@pytest.mark.e2e
def test_two_users_starting_at_once_get_one_server(tmp_path, local_server):
    """Two Unix users (two data dirs) run boxtui at the same moment: one server, both use it."""
    script = (
        "import json, sys; from pathlib import Path; from boxtui.messenger.embedded import LocalServer, ensure_local_server;"
        "d = LocalServer.default(); u = ensure_local_server(LocalServer(d.host, d.port, Path(sys.argv[1])));"
        "print(json.dumps([str(u), u.started]))"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / name)], stdout=subprocess.PIPE, text=True)
        for name in ("first", "second")
    ]
    results = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    assert results[0][0] == results[1][0] == local_server.url  # else the fixture stops what runs
    assert sorted(started for _, started in results) == [False, True]
    winner = "first" if results[0][1] else "second"
    assert stop_local_server(LocalServer(local_server.host, local_server.port, tmp_path / winner))
    assert find_local_server(local_server) is None


@pytest.mark.e2e
def test_a_private_server_never_adopts_another_boxtui_server(tmp_path, local_server):
    """A throwaway server (tests, scripts, benchmarks) is only ever the one it started:
    another boxtui server answering at its port or the next ones (another test's, with
    other limits) is not it."""
    other = ensure_local_server(local_server)  # both are stopped by the fixture
    squatter = LocalServer(local_server.host, local_server.port, tmp_path / "throwaway", only_own=True)
    assert squatter.candidate_urls() == [local_server.url]
    assert find_local_server(squatter) is None  # a boxtui server answers there, but not its own
    mine = ensure_local_server(squatter)
    assert mine.started and mine != other and mine.data_dir == squatter.data_dir
    assert find_local_server(squatter) == mine  # found again by its record
    assert server_info(mine)["service"] == "boxtui"
    neighbour = LocalServer(local_server.host, local_server.port - 1, tmp_path / "neighbour", only_own=True)
    assert find_local_server(neighbour) is None  # the fallback range is not looked at
    # Its record names a port where another boxtui server now answers, its own process gone:
    neighbour.home.mkdir(parents=True)
    neighbour.state_path.write_text(json.dumps({"url": str(other), "pid": 2**22 + 1, "data_dir": str(neighbour.data_dir)}))
    assert find_local_server(neighbour) is None
