"""Writing private files safely: the key store, the session, the config."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_private_atomic"]


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, mode 0600, so that a crash leaves the old or the new.

    Temp file in the same folder (created 0600 by ``mkstemp``), fsync, rename, fsync
    of the folder. Raises ``OSError``; callers turn it into their own error.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
