"""Server settings: flags win over ``BOXTUI_*`` variables, which win over the TOML file."""

from boxtui.server.settings import ServerSettings


def test_flags_then_environment_then_file(tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    config.write_text('port = 9123\nquota_bytes = 5\nemail_ingest = false\n')
    monkeypatch.setenv("BOXTUI_QUOTA_BYTES", "7")
    from_file = ServerSettings(config_file=config)
    assert (from_file.port, from_file.quota_bytes, from_file.email_ingest) == (9123, 7, False)
    assert ServerSettings(config_file=config, port=1).port == 1


def test_sqlite_in_the_data_dir_by_default(tmp_path):
    settings = ServerSettings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'boxtui.db'}"
    assert ServerSettings(data_dir=tmp_path, database_url="postgresql+asyncpg://x/y").resolved_database_url == "postgresql+asyncpg://x/y"
