"""Reading the terminal: a bracketed paste arrives whole, in order, as one ``Paste`` event.

Textual 8.2.8's ``XTermParser`` reads the escape sequences *inside* a bracketed paste
as if they were typed: an ESC in the pasted text (a coloured build log) starts a
"sequence" whose characters leave the paste and come back later as key presses,
ahead of the rest of the paste, in whatever widget has focus — the text arrives
reordered, ``^`` stands for each ESC, and a newline in it becomes an Enter press.

:class:`PasteSafeParser` cuts every paste out of the input stream before Textual's
parser sees it and hands it on as one :class:`textual.events.Paste` with the exact
text pasted (escapes included). What to keep of that text is the text field's
decision (:func:`boxtui.tui.safe_text.clean_paste`). :class:`PasteSafeDriver` is
Textual's Linux driver reading through this parser.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Iterable

from textual import constants, events
from textual._loop import loop_last
from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import (
    BRACKETED_PASTE_END,
    BRACKETED_PASTE_START,
    XTermParser,
)
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

__all__ = ["PasteSafeDriver", "PasteSafeParser"]


def _held_back(data: str, marker: str, *, shortest: int) -> int:
    """Length of the longest end of ``data`` that could be the start of ``marker``
    (at least ``shortest`` characters), to keep until the next read completes it."""
    for size in range(min(len(marker) - 1, len(data)), shortest - 1, -1):
        if marker.startswith(data[-size:]):
            return size
    return 0


class PasteSafeParser(XTermParser):
    """``XTermParser`` that never parses what is inside a bracketed paste.

    The paste markers may be split across reads: the end of a read that could begin a
    marker is held back until the next read (or, for the opener, until the Escape-key
    delay has passed, when it goes on to the key parser as it would have).
    """

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._pasted: list[str] | None = None  # inside a paste: the text so far
        self._held = ""
        self._held_at = 0.0

    def feed(self, data: str) -> Iterable[Message]:
        if not data:  # end of input
            held, self._held = self._held, ""
            if held and self._pasted is None:
                yield from super().feed(held)
            yield from super().feed(data)
            return
        data, self._held = self._held + data, ""
        while data:
            if self._pasted is None:
                start = data.find(BRACKETED_PASTE_START)
                if start == -1:
                    keep = _held_back(data, BRACKETED_PASTE_START, shortest=1)
                    data, self._held = data[: len(data) - keep], data[len(data) - keep :]
                    if self._held:
                        self._held_at = get_time()
                    if data:
                        yield from super().feed(data)
                    return
                if start:
                    yield from super().feed(data[:start])
                self._pasted = []
                data = data[start + len(BRACKETED_PASTE_START) :]
            else:
                end = data.find(BRACKETED_PASTE_END)
                if end == -1:
                    keep = _held_back(data, BRACKETED_PASTE_END, shortest=1)
                    self._pasted.append(data[: len(data) - keep])
                    self._held = data[len(data) - keep :]
                    return
                self._pasted.append(data[:end])
                text = "".join(self._pasted).replace("\x00", "")
                self._pasted = None
                yield events.Paste(text)
                data = data[end + len(BRACKETED_PASTE_END) :]

    def tick(self) -> Iterable[Message]:
        if self._held and self._pasted is None and get_time() - self._held_at >= constants.ESCAPE_DELAY:
            # Not a paste after all (an Escape press, or a key sequence cut short): on
            # to the key parser, which has already waited as long as it would have.
            held, self._held = self._held, ""
            yield from super().feed(held)
            if self._timeout_time is not None:  # the key parser waits for the rest of a sequence
                self._timeout_time = get_time()
        yield from super().tick()


class PasteSafeDriver(LinuxDriver):
    """Textual's Linux/macOS driver, reading the terminal through :class:`PasteSafeParser`."""

    def run_input_thread(self) -> None:
        # LinuxDriver.run_input_thread of Textual 8.2.8 (pinned), with the parser swapped.
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        EVENT_READ = selectors.EVENT_READ
        parser = PasteSafeParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decode = getincrementaldecoder("utf-8")().decode
        read = os.read

        def process_selector_events(selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for last, (_selector_key, mask) in loop_last(selector_events):
                if mask & EVENT_READ:
                    unicode_data = decode(read(fileno, 1024 * 4), final=final and last)
                    if not unicode_data:
                        break
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(0.1))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
