"""Server settings: flags, ``BOXTUI_*`` environment variables, or a TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("boxtui")) / "server"


class ServerSettings(BaseSettings):
    """Everything ``boxtui serve`` can be told. Pass one to ``create_app``."""

    model_config = SettingsConfigDict(env_prefix="BOXTUI_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8642
    data_dir: Path = Field(default_factory=default_data_dir)
    #: SQLAlchemy async URL; empty means SQLite at ``data_dir/boxtui.db``.
    database_url: str = ""
    #: ``redis://…`` to fan realtime events out across several server processes (else
    #: PostgreSQL's LISTEN/NOTIFY on PostgreSQL, or the supervisor's bus for ``--workers``).
    redis_url: str = ""
    #: Where encrypted file bytes live: empty for the data dir's ``blobs/`` folder, or
    #: ``s3://BUCKET/PREFIX`` for an S3-compatible object store shared by several machines.
    blob_store: str = ""
    #: The S3 endpoint (e.g. ``http://127.0.0.1:9000`` for MinIO); empty: ``AWS_ENDPOINT_URL_S3``,
    #: ``AWS_ENDPOINT_URL``, else AWS itself (``https://s3.<region>.amazonaws.com``).
    s3_endpoint_url: str = ""
    #: Empty: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, else ``us-east-1``.
    s3_region: str = ""
    #: Empty: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``.
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    s3_session_token: SecretStr = SecretStr("")
    #: ``path`` (``ENDPOINT/BUCKET/KEY``) or ``virtual`` (``BUCKET.ENDPOINT/KEY``); empty:
    #: path-style with a custom endpoint, virtual-hosted on AWS.
    s3_addressing_style: Literal["", "path", "virtual"] = ""
    #: Size of the parts of a multipart upload; an upload in flight holds at most two in memory.
    s3_part_bytes: int = Field(default=8 << 20, ge=5 << 20, le=512 << 20)
    #: Server processes on this machine (``boxtui serve --workers N``) sharing one port.
    workers: int = Field(default=1, ge=1, le=64)
    max_upload_bytes: int = 132_120_576
    quota_bytes: int = 1 << 30
    #: Largest JSON body accepted on non-upload routes.
    max_json_bytes: int = 1 << 20
    email_ingest: bool = True
    token_ttl_seconds: int = 30 * 24 * 3600
    code_ttl_seconds: int = 600
    code_max_attempts: int = 5
    #: More than this many failed logins for one e-mail from one client address in the window → 429.
    login_max_failures: int = 10
    #: More than this many failed logins from one client address, whatever the e-mails, in the window → 429.
    login_max_failures_per_address: int = 20
    login_failure_window_seconds: int = 900
    #: Signup must carry a code from ``POST /auth/code``, proving the e-mail is the caller's.
    signup_requires_code: bool = False
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "boxtui@localhost"
    smtp_starttls: bool = False
    #: Comma-separated addresses (or ``*``) whose ``X-Forwarded-For``/``-Proto`` are believed.
    #: Empty (the default): none, the peer address is the client.
    forwarded_allow_ips: str = ""
    #: Cookies marked ``Secure``: None = when the request came over HTTPS (directly, or
    #: through a trusted proxy that says so), True/False = always/never.
    secure_cookies: bool | None = None
    #: HTTPS served directly by ``boxtui serve`` (else put a TLS proxy in front).
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    #: The request line and headers must arrive within this many seconds (else 408).
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    #: A request body may pause at most this long between two bytes (else the connection closes).
    body_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    #: An upload (file or e-mail) must arrive whole within this many seconds (else 408).
    upload_timeout_seconds: float = Field(default=3600.0, gt=0)
    #: A blob with no row is removed once older than this; must exceed the upload timeout.
    blob_sweep_grace_seconds: float = Field(default=7200.0, gt=0)
    #: How often the orphan-blob sweep runs (also once at start).
    blob_sweep_interval_seconds: float = Field(default=3600.0, gt=0)
    #: An idle kept-alive connection is closed after this long.
    keep_alive_timeout_seconds: float = Field(default=5.0, gt=0)
    ws_ping_seconds: float = 30.0
    #: Realtime sockets one identity may hold in one server process; past it, close 4429.
    ws_max_per_identity: int = Field(default=20, ge=1)
    #: Messages a realtime socket may fall behind by (its client not reading) before it
    #: is closed with 1013; its client reconnects and catches up (PROTOCOL §10.10).
    ws_queue_frames: int = Field(default=1000, ge=1)
    #: How often one query re-checks the sessions of all open sockets (logout closes at once anyway).
    ws_session_check_seconds: float = Field(default=60.0, gt=0)
    #: Answer ``msg.text`` posts and event pages without the framework stack
    #: (:mod:`boxtui.server.fastpath`); the answers are the same either way.
    fast_path: bool = True
    #: How long an ``Idempotency-Key`` and its response are kept (PROTOCOL §10.12).
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    #: Argon2id cost for password hashes (tests lower it).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    config_file: Path | None = None
    #: The blob store built from these settings (``files.service.blob_store``): runtime state, not a setting.
    _blob_store: Any = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = init_settings.init_kwargs.get("config_file")  # type: ignore[attr-defined]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @model_validator(mode="after")
    def _sweep_after_uploads(self) -> ServerSettings:
        # An upload in flight (of this or another process sharing the blob store) has
        # placed its blob at most upload_timeout_seconds ago: the sweep must wait longer.
        if self.blob_sweep_grace_seconds <= self.upload_timeout_seconds + 60:
            raise ValueError("blob_sweep_grace_seconds must exceed upload_timeout_seconds by more than 60 s")
        return self

    @model_validator(mode="after")
    def _known_blob_store(self) -> ServerSettings:
        if self.blob_store and not self.blob_store.startswith("s3://"):
            raise ValueError("blob_store must be empty (the data dir) or s3://BUCKET/PREFIX")
        if self.blob_store and not self.blob_store[len("s3://"):].split("/", 1)[0]:
            raise ValueError("blob_store s3://BUCKET/PREFIX needs a bucket name")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'boxtui.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"
