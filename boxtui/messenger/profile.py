"""A user's profile on this machine: configuration, saved session, key store, caches.

Everything lives under one home folder when ``BOXTUI_HOME`` is set (or a ``home`` is
passed): handy for scripts, tests and several accounts on one machine. Otherwise the
platform's folders are used (platformdirs): config in the user config dir, session and
key store in the user data dir, the cache in the user cache dir, downloads in the
user's download folder. (The host's local server is not part of a profile: see
:mod:`boxtui.messenger.embedded`.)

Files holding secrets (``session.json``) are written atomically with mode 0600. The
server of the last login is kept in ``last-server.json`` after a logout, so the next
login goes back to the same server.
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from boxtui.core.files import write_private_atomic

__all__ = ["Profile", "ProfileConfig", "SavedSession", "ProfileError", "HOME_ENV"]

HOME_ENV = "BOXTUI_HOME"
APP_NAME = "boxtui"


class ProfileError(Exception):
    """The profile's files cannot be read or written (message fit for a user)."""


#: How a box may notify (``[notifications]`` in ``config.toml``).
NOTIFY_LEVELS = ("all", "mentions", "none")


@dataclass
class ProfileConfig:
    """``config.toml``: what the user chose."""

    server_url: str | None = None
    theme: str | None = None
    #: Where the app last saved a download (its save dialog starts there).
    download_dir: str | None = None
    #: binding id → key(s), e.g. ``{"send": "ctrl+s"}``
    keymap: dict[str, str] = field(default_factory=dict)
    #: box id → how it notifies: "all", "mentions" or "none" (absent: "all")
    notifications: dict[str, str] = field(default_factory=dict)

    def to_toml(self) -> str:
        lines = []
        if self.server_url:
            lines.append(f"server_url = {_toml_str(self.server_url)}")
        if self.theme:
            lines.append(f"theme = {_toml_str(self.theme)}")
        if self.download_dir:
            lines.append(f"download_dir = {_toml_str(self.download_dir)}")
        if self.keymap:
            lines.append("")
            lines.append("[keymap]")
            lines.extend(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in sorted(self.keymap.items()))
        if self.notifications:
            lines.append("")
            lines.append("[notifications]")
            lines.extend(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in sorted(self.notifications.items()))
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, source: Path) -> ProfileConfig:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{source} is not valid TOML: {exc}") from None
        server_url = data.get("server_url")
        theme = data.get("theme")
        keymap = data.get("keymap", {})
        if server_url is not None and not isinstance(server_url, str):
            raise ProfileError(f"{source}: server_url must be a string")
        if theme is not None and not isinstance(theme, str):
            raise ProfileError(f"{source}: theme must be a string")
        download_dir = data.get("download_dir")
        if download_dir is not None and not isinstance(download_dir, str):
            raise ProfileError(f"{source}: download_dir must be a string")
        if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
            raise ProfileError(f"{source}: [keymap] maps binding ids to key strings")
        notifications = data.get("notifications", {})
        if not isinstance(notifications, dict) or not all(v in NOTIFY_LEVELS for v in notifications.values()):
            raise ProfileError(f'{source}: [notifications] maps box ids to "all", "mentions" or "none"')
        return cls(
            server_url=server_url or None,
            theme=theme or None,
            download_dir=download_dir or None,
            keymap=dict(keymap),
            notifications=dict(notifications),
        )


def _toml_str(value: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


@dataclass
class SavedSession:
    """``session.json``: a login kept between runs (the bearer token is a secret)."""

    token: str
    csrf_token: str
    identity: dict[str, Any]
    server_url: str
    acr: int
    expires_at: str

    @property
    def identity_id(self) -> str:
        return str(self.identity.get("id", ""))

    def to_json(self) -> str:
        return json.dumps(
            {
                "token": self.token,
                "csrf_token": self.csrf_token,
                "identity": self.identity,
                "server_url": self.server_url,
                "acr": self.acr,
                "expires_at": self.expires_at,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> SavedSession | None:
        """The session, or None when the file is not one (treated as logged out)."""
        try:
            data = json.loads(text)
            session = cls(
                token=data["token"],
                csrf_token=data.get("csrf_token", ""),
                identity=data["identity"],
                server_url=data["server_url"],
                acr=int(data.get("acr", 1)),
                expires_at=data.get("expires_at", ""),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(session.token, str) or not isinstance(session.identity, dict):
            return None
        return session


class Profile:
    """All the files of one boxtui user on this machine; build it with :meth:`load`."""

    def __init__(
        self,
        *,
        home: Path | None,
        config_dir: Path,
        data_dir: Path,
        cache_dir: Path,
        downloads_dir: Path,
    ) -> None:
        self.home = home
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.downloads_dir = downloads_dir
        self.config = ProfileConfig()
        self.session: SavedSession | None = None
        #: The server of the last login, kept after a logout (None: never logged in).
        self.last_server_url: str | None = None

    def __repr__(self) -> str:
        return f"Profile(home={str(self.home) if self.home else None!r}, data_dir={str(self.data_dir)!r})"

    @classmethod
    def load(cls, home: Path | str | None = None) -> Profile:
        """The profile under ``home``, else ``$BOXTUI_HOME``, else the platform folders.

        Reads ``config.toml`` and ``session.json`` when they exist; a damaged session
        file counts as logged out, a damaged config is a :class:`ProfileError`.
        """
        if home is None and os.environ.get(HOME_ENV):
            home = os.environ[HOME_ENV]
        if home is not None:
            root = Path(home).expanduser().absolute()
            profile = cls(
                home=root,
                config_dir=root,
                data_dir=root,
                cache_dir=root / "cache",
                downloads_dir=root / "downloads",
            )
        else:
            profile = cls(
                home=None,
                config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
                data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
                cache_dir=Path(platformdirs.user_cache_dir(APP_NAME)),
                downloads_dir=Path(platformdirs.user_downloads_dir()),
            )
        profile._read()
        return profile

    # --- paths ------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def session_path(self) -> Path:
        return self.data_dir / "session.json"

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / "keystore.json"

    @property
    def last_server_path(self) -> Path:
        return self.data_dir / "last-server.json"

    # --- config -----------------------------------------------------------------

    @property
    def server_url(self) -> str | None:
        """The configured server (``config.toml``), or None for the embedded one."""
        return self.config.server_url

    @server_url.setter
    def server_url(self, value: str | None) -> None:
        self.config.server_url = value.rstrip("/") if value else None

    @property
    def download_folder(self) -> Path:
        """Where downloads go by default: the folder last chosen, else the downloads folder."""
        if self.config.download_dir:
            return Path(self.config.download_dir).expanduser()
        return self.downloads_dir

    def save_config(self) -> None:
        write_private_file(self.config_path, self.config.to_toml())

    # --- session ----------------------------------------------------------------

    def save_session(self, session: SavedSession) -> None:
        """Keep a login for the next run (atomic write, mode 0600)."""
        write_private_file(self.session_path, session.to_json())
        self.session = session
        self._remember_server(session.server_url)

    def clear_session(self) -> None:
        """Forget the login (the server it was on stays remembered)."""
        if self.session is not None:
            with contextlib.suppress(ProfileError):
                self._remember_server(self.session.server_url)
        with contextlib.suppress(FileNotFoundError):
            self.session_path.unlink()
        self.session = None

    def _remember_server(self, url: str) -> None:
        if url != self.last_server_url:
            write_private_file(self.last_server_path, json.dumps({"url": url}))
            self.last_server_url = url

    def _read(self) -> None:
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except OSError as exc:
            raise ProfileError(f"cannot read {self.config_path}: {exc.strerror}") from None
        if text is not None:
            self.config = ProfileConfig.from_toml(text, self.config_path)
        try:
            self.session = SavedSession.from_json(self.session_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            self.session = None
        try:
            url = json.loads(self.last_server_path.read_text(encoding="utf-8")).get("url")
        except (OSError, ValueError, AttributeError):
            url = None
        self.last_server_url = url if isinstance(url, str) and url else None


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, rename), mode 0600."""
    try:
        write_private_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot write {path}: {exc.strerror or exc}") from None
