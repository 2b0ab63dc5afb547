"""The server's data directory and its file modes: 0700 folders, 0600 files.

The data directory holds the database (and its WAL), the blobs, and the outbox of
login codes: nothing in it is for another local user. New files are created with
these modes (``boxtui serve`` also sets the umask to 077); :func:`restrict_tree` brings
an existing tree to them, once at start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from boxtui.server.settings import ServerSettings

DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_tree(root: Path) -> int:
    """chmod ``root`` and everything under it (symlinks are left alone); returns how many changed."""
    changed = 0
    for directory, dirnames, filenames in os.walk(root):
        for name, wanted in [(directory, DIR_MODE), *((os.path.join(directory, f), FILE_MODE) for f in filenames)]:
            try:
                mode = os.lstat(name).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(mode):
                continue
            if stat.S_IMODE(mode) != wanted:
                os.chmod(name, wanted)
                changed += 1
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(directory, d))]
    return changed


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """``os.open`` with mode 0600 whatever the umask (the mode is set again after)."""
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def prepare_data_dir(settings: ServerSettings) -> None:
    """The data dir and its blob dir exist, 0700, with every file in them 0600.

    Existing installations are brought to these modes at each start (a walk of the
    tree); SQLite's database file is created 0600 before SQLite opens it, so its WAL
    and SHM files, which SQLite creates with the database's mode, are 0600 too.
    """
    for directory in (settings.data_dir, settings.blob_dir) if not settings.blob_store else (settings.data_dir,):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    restrict_tree(settings.data_dir)
    if not settings.database_url:
        database = settings.data_dir / "boxtui.db"
        os.close(open_private(database, os.O_WRONLY | os.O_CREAT))
