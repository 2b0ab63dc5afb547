"""Uploads and downloads in progress, one progress bar each."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from ..safe_text import one_line
from ..screens.feedback import call_on_app_thread

_ids = itertools.count(1)

T = TypeVar("T")
#: ``progress(done, total)``, as the messenger calls it.
ProgressCallback = Callable[[int, "int | None"], None]


class Transfer(Horizontal):
    """One transfer: a label and a bar. ``report`` is safe to call from any thread."""

    DEFAULT_CSS = """
    Transfer { height: 1; }
    Transfer > Label { width: 1fr; }
    Transfer > ProgressBar { width: auto; }
    """

    def __init__(self, label: str) -> None:
        super().__init__(id=f"transfer-{next(_ids)}")
        self.label = label

    def compose(self) -> ComposeResult:
        yield Label(one_line(self.label), markup=False)
        yield ProgressBar(total=None, show_eta=False)

    def report(self, done: int, total: int | None) -> None:
        """Progress callback for the messenger: bytes done out of ``total``."""
        call_on_app_thread(self, self._update, done, total)

    def _update(self, done: int, total: int | None) -> None:
        self.query_one(ProgressBar).update(total=total or None, progress=done)

    @property
    def percent(self) -> float | None:
        return self.query_one(ProgressBar).percentage


class TransfersArea(Vertical):
    """Where running transfers show; hidden when there are none."""

    DEFAULT_CSS = """
    TransfersArea { height: auto; max-height: 6; display: none; }
    TransfersArea.-busy { display: block; }
    """

    async def run(self, label: str, job: Callable[[ProgressCallback], Awaitable[T]]) -> T:
        """Show a bar labelled ``label`` while ``job(progress)`` runs; the bar goes when it ends."""
        transfer = Transfer(label)
        await self.mount(transfer)
        self.add_class("-busy")
        try:
            return await job(transfer.report)
        finally:
            await transfer.remove()
            if not self.query(Transfer):
                self.remove_class("-busy")
