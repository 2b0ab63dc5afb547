"""A path field that completes with Tab, as a shell does: files and folders, ``~`` too.

One match completes (a folder gets its ``/``); several complete their common prefix
and are listed under the field (:class:`PathInput.Candidates`); none says so. Hidden
entries are offered only once the name typed starts with a dot. Tab with nothing to
complete moves on to the next field, as Tab does elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, Static

__all__ = ["Completion", "PathCandidates", "PathInput", "complete_path", "shown_name"]

#: Candidates listed under the field at most.
SHOWN_CANDIDATES = 40


@dataclass
class Completion:
    """The field's new value, the candidates to list, and a line to show when there are none."""

    value: str
    candidates: list[str] = field(default_factory=list)
    note: str = ""


def shown_name(name: str) -> str:
    """A file name as it can be shown: control characters escaped (never sent to the terminal)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)


def complete_path(text: str, *, folders_only: bool = False, cwd: Path | None = None) -> Completion:
    """Complete the last component of ``text`` (``~`` expanded for the look-up, kept in the value)."""
    if text in ("~", "~/") or (text.startswith("~") and "/" not in text):
        if text == "~":
            return Completion("~/")
        expanded = os.path.expanduser(text)
        if expanded != text:  # ~user: complete as that user's home
            return Completion(text + "/")
    expanded = os.path.expanduser(text)
    head, sep, prefix = expanded.rpartition("/")
    folder_text = head + sep
    folder = Path(folder_text or ".")
    if not folder.is_absolute():
        folder = (cwd or Path.cwd()) / folder
    shown_head = text[: len(text) - len(prefix)]
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        return Completion(text, note=f"cannot list {folder_text or '.'}: {exc.strerror or exc}")
    names: list[str] = []
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        if entry.name.startswith(".") and not prefix.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if folders_only and not is_dir:
            continue
        names.append(entry.name + ("/" if is_dir else ""))
    names.sort(key=lambda n: (n.lower(), n))
    if not names:
        what = "folder" if folders_only else "file or folder"
        where = folder_text or "this folder"
        if prefix:
            return Completion(text, note=f"no {what} in {shown_name(where)} starts with “{shown_name(prefix)}”")
        return Completion(text, note=f"no {what} in {shown_name(where)}")
    if len(names) == 1:
        return Completion(shown_head + names[0])
    common = os.path.commonprefix(names)
    return Completion(shown_head + common if len(common) > len(prefix) else text, candidates=names)


class PathCandidates(Static):
    """The list under a :class:`PathInput`: candidates, or why there are none."""

    DEFAULT_CSS = """
    PathCandidates { height: auto; max-height: 4; color: $text-muted; }
    """

    def show(self, completion: Completion | None) -> None:
        if completion is None:
            self.update("")
            return
        if completion.candidates:
            names = [shown_name(n) for n in completion.candidates[:SHOWN_CANDIDATES]]
            more = len(completion.candidates) - len(names)
            self.update(Text("  ".join(names) + (f"  … {more} more" if more > 0 else "")))
        else:
            self.update(Text(completion.note))


class PathInput(Input):
    """An :class:`Input` for a local path; Tab completes it."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="path.complete")]

    class Completed(Message):
        """Tab was pressed: what it completed and what to list."""

        def __init__(self, path_input: PathInput, completion: Completion) -> None:
            super().__init__()
            self.path_input = path_input
            self.completion = completion

        @property
        def control(self) -> PathInput:
            return self.path_input

    def __init__(self, *args: object, folders_only: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.folders_only = folders_only

    def action_complete(self) -> None:
        if not self.value:
            self.screen.focus_next()
            return
        completion = complete_path(self.value, folders_only=self.folders_only)
        if completion.value == self.value and not completion.candidates and not completion.note:
            self.screen.focus_next()  # already complete: Tab moves on
        self.value = completion.value
        self.cursor_position = len(self.value)
        self.post_message(self.Completed(self, completion))
