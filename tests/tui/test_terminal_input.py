"""The terminal parser (``PasteSafeParser``): a bracketed paste arrives as one ``Paste``
event with the exact text pasted, escape sequences and line breaks included, however
the terminal's reads cut it; keys around it stay keys."""

from __future__ import annotations

import time

from textual import events

from boxtui.tui.terminal_input import PasteSafeParser

START, END = "\x1b[200~", "\x1b[201~"
LOG = "\x1b[1;32m===\x1b[0m 3 passed\r\n\x1b[31mFAILED\x1b[0m x\tq\n"


def parse(chunks: list[str], *, wait: bool = False) -> list[events.Event]:
    parser = PasteSafeParser()
    found: list[events.Event] = []
    for chunk in chunks:
        found += list(parser.feed(chunk))
    if wait:
        time.sleep(0.2)  # past the Escape-key delay: whatever was held back is a key after all
        found += list(parser.tick())
    found += list(parser.feed(""))
    return found


def described(found: list[events.Event]) -> list[str]:
    return [f"paste:{e.text!r}" if isinstance(e, events.Paste) else f"key:{e.key}" for e in found if isinstance(e, (events.Paste, events.Key))]


def test_a_coloured_paste_is_one_event_with_the_exact_text() -> None:
    assert described(parse(["a" + START + LOG + END + "b"])) == ["key:a", f"paste:{LOG!r}", "key:b"]


def test_a_paste_cut_anywhere_across_reads_is_still_one_event() -> None:
    data = "x" + START + LOG + END + "y"
    for cut in range(1, len(data)):
        for second_cut in (cut + 1, cut + 7):
            chunks = [chunk for chunk in (data[:cut], data[cut:second_cut], data[second_cut:]) if chunk]
            assert described(parse(chunks)) == ["key:x", f"paste:{LOG!r}", "key:y"], chunks


def test_an_escape_press_and_arrow_keys_are_keys() -> None:
    assert described(parse(["\x1b"], wait=True)) == ["key:escape"]
    assert described(parse(["\x1b[A", "\x1b[B"])) == ["key:up", "key:down"]
