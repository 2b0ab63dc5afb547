"""Writing downloaded files: safe names, never replacing an existing file."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from .errors import MessengerError

__all__ = ["safe_file_name", "write_new_file"]


_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_file_name(name: str) -> str:
    """A file name from someone else, made safe to create in a folder."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", name).strip()
    if cleaned in ("", ".", ".."):
        return "download"
    return cleaned[:255]


def write_new_file(dest: Path, suggested_name: str, data: bytes) -> Path:
    """Write ``data`` to a new file and return its path; never replaces a file.

    ``dest`` is a folder (the file is named after ``suggested_name``) or a file path.
    When the name is taken, ``name (1).ext``, ``name (2).ext``… The data goes to a
    temporary file first and is linked under the final name only when complete.
    """
    if dest.is_dir():
        target = dest / safe_file_name(suggested_name)
    else:
        target = dest
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".boxtui-", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(tmp, 0o644 & ~_umask())
            stem, suffix = _split_name(target.name)
            for n in range(10_000):
                candidate = target if n == 0 else target.with_name(f"{stem} ({n}){suffix}")
                try:
                    os.link(tmp, candidate)
                except FileExistsError:
                    continue
                return candidate
            raise MessengerError(f"too many files named like {target.name} in {target.parent}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    except OSError as exc:
        raise MessengerError(f"cannot write to {target.parent}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _split_name(name: str) -> tuple[str, str]:
    """``("report", ".pdf")``; ``("archive", ".tar.gz")``; ``(".bashrc", "")``."""
    if name.startswith(".") and name.count(".") == 1:
        return name, ""
    for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
        if name.lower().endswith(double) and len(name) > len(double):
            return name[: -len(double)], name[-len(double) :]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")
