"""Uploads and downloads in progress: one line each with a bar, the speed and the time left,
and a ✕ that cancels it.

A cancelled download writes nothing (the file is written only once complete and
decrypted); a cancelled upload leaves nothing on the server (PROTOCOL §10.3: a body cut
off mid-way stores neither a row nor a blob).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rich.filesize import decimal
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, ProgressBar, Static

from ..safe_text import one_line
from ..screens.feedback import call_on_app_thread

__all__ = ["ProgressCallback", "Transfer", "TransferCancelled", "TransfersArea", "transfer_stats"]

_ids = itertools.count(1)

T = TypeVar("T")
#: ``progress(done, total)``, as the messenger calls it.
ProgressCallback = Callable[[int, "int | None"], None]
#: Seconds of progress the speed is averaged over.
SPEED_WINDOW = 3.0


class TransferCancelled(Exception):
    """The user cancelled the transfer (its ✕, or the dialog it ran in)."""


def transfer_stats(done: int, total: int | None, speed: float | None, unit: str | None = None) -> str:
    """``"1.2 MB/s · 0:07 left"``: the speed and, when the size is known, the time left.
    With a ``unit`` (``"events"``) counts instead of bytes: ``"1,500 of 9,000 events · 0:07 left"``."""
    if unit is not None:
        text = f"{done:,} of {total:,} {unit}" if total else f"{done:,} {unit}"
        if not speed or speed <= 0 or not total:
            return text
    elif not speed or speed <= 0:
        return decimal(done) if done else ""
    else:
        text = f"{decimal(int(speed))}/s"
    if total:
        left = max(0, total - done) / speed
        minutes, seconds = divmod(int(left + 0.999), 60)
        hours, minutes = divmod(minutes, 60)
        clock = f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
        text += f" · {clock} left"
    return text


class Transfer(Horizontal):
    """One transfer: a label, a bar, its speed and time left, and ✕ to cancel.

    ``report`` is safe to call from any thread. ``job_task`` is what ✕ cancels.
    """

    DEFAULT_CSS = """
    Transfer { height: 1; }
    Transfer > Label { width: auto; max-width: 30%; text-wrap: nowrap; text-overflow: ellipsis; }
    Transfer > ProgressBar { width: 1fr; min-width: 8; padding: 0 1; }
    Transfer > ProgressBar > Bar { width: 1fr; }
    Transfer > .transfer-stats { width: auto; color: $text-muted; }
    Transfer > Button { min-width: 3; width: 3; margin-right: 1; }
    """

    def __init__(
        self, label: str, task: asyncio.Task | None = None, *, cancellable: bool = True, unit: str | None = None
    ) -> None:
        super().__init__(id=f"transfer-{next(_ids)}")
        self.label = label
        #: What ``done`` counts when not bytes (``"events"``).
        self.unit = unit
        self.job_task = task
        self.cancellable = cancellable and task is not None
        self.cancelled = False
        self._samples: deque[tuple[float, int]] = deque()
        self.done = 0
        self.total: int | None = None

    def compose(self) -> ComposeResult:
        if self.cancellable:  # first, so a narrow line never cuts it off
            yield Button("✕", id="transfer-cancel", tooltip="Cancel this transfer", compact=True)
        yield Label(one_line(self.label), markup=False)
        yield ProgressBar(total=None, show_eta=False, show_percentage=False)
        yield Static("starting…", classes="transfer-stats", markup=False)

    def report(self, done: int, total: int | None) -> None:
        """Progress callback for the messenger: bytes done out of ``total``."""
        call_on_app_thread(self, self._update, done, total)

    def _update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        self.done, self.total = done, total
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW:
            self._samples.popleft()
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        self.query_one(".transfer-stats", Static).update(transfer_stats(done, total, self.speed, self.unit))

    @property
    def speed(self) -> float | None:
        """Bytes per second over the last few seconds (None until it can be told)."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else None

    @property
    def percent(self) -> float | None:
        return self.query_one(ProgressBar).percentage

    @on(Button.Pressed, "#transfer-cancel")
    def cancel(self) -> None:
        if self.cancelled:
            return  # once: a second cancel would hit the clean-up
        if self.job_task is not None and not self.job_task.done():
            self.cancelled = True
            self.job_task.cancel()


class TransfersArea(Vertical):
    """Where running transfers show; hidden when there are none."""

    DEFAULT_CSS = """
    TransfersArea { height: auto; max-height: 6; display: none; }
    TransfersArea.-busy { display: block; }
    """

    async def run(
        self,
        label: str,
        job: Callable[[ProgressCallback], Awaitable[T]],
        *,
        cancellable: bool = True,
        unit: str | None = None,
    ) -> T:
        """Show a line for ``job(progress)`` while it runs; the line goes when it ends.

        ✕ cancels it: :class:`TransferCancelled` is raised here (and nothing was kept,
        unless the job keeps what it did: a backfill does). ``unit``: see :class:`Transfer`.
        """
        transfer = Transfer(label, asyncio.current_task(), cancellable=cancellable, unit=unit)
        await self.mount(transfer)
        self.add_class("-busy")
        try:
            return await job(transfer.report)
        except asyncio.CancelledError:
            if not transfer.cancelled:
                raise  # the screen is going away
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            raise TransferCancelled(label) from None
        finally:
            await transfer.remove()
            if not self.query(Transfer):
                self.remove_class("-busy")

    def cancel_all(self) -> int:
        """Cancel every transfer shown here; how many there were."""
        transfers = list(self.query(Transfer))
        for transfer in transfers:
            transfer.cancel()
        return len(transfers)
