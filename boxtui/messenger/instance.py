"""One app per profile, said plainly: the first ``boxtui`` app on a profile holds
``<data dir>/app.lock`` (``flock``, released by the kernel when that process ends, even
on ``kill -9``); a second app still opens — both read, search and send — and is told
which process holds it. Nothing depends on the lock for safety: the outbox claims each
message for one sender (docs/local-store.md), so two apps never send one twice.

Kept to the standard library: the app takes the lock before its first frame.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

__all__ = ["AppLock"]


class AppLock:
    """The profile's app lock: :attr:`held` by this process, or :attr:`holder` (a pid) has it."""

    def __init__(self, path: Path, fd: int | None, holder: int | None) -> None:
        self.path = path
        self._fd = fd
        #: The pid of the app that holds the lock, when this one does not (None if unknown).
        self.holder = holder

    @property
    def held(self) -> bool:
        return self._fd is not None

    @classmethod
    def acquire(cls, data_dir: Path) -> AppLock:
        """Take the lock if no other app holds it; never waits, never raises for a
        folder it cannot write (then nothing is held and no one is named)."""
        path = Path(data_dir) / "app.lock"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return cls(path, None, None)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            return cls(path, None, holder)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd, None)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
