"""Untrusted text made safe to draw (``clean_text``) and pasted text made safe to insert
(``clean_paste``): what a hostile name, message or pasted build log turns into."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from boxtui.tui.safe_text import clean_name, clean_paste, clean_text, has_unsafe_characters, one_line

HOSTILE_NAME = "\x1b[31mBob\x1b[0m [b]bold[/b] \u202eevil\u202c zw\u200b\u200dend\x1b]0;pwned\x07"


def test_a_hostile_name_keeps_its_letters_and_loses_its_power() -> None:
    cleaned = clean_name(HOSTILE_NAME)
    assert cleaned == "Bob [b]bold[/b] \ufffdevil\ufffd zwend"  # markup stays literal text
    assert not has_unsafe_characters(cleaned)
    assert "\x1b" not in cleaned and "\x07" not in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "zw\u200dend",  # a joiner between letters
        "\u200dleading and trailing\u200d",
        "\u0915\u094d\u200d\u0937",  # Devanagari half form: terminals draw no ligature
        "B \ufffdevil\ufffd zw\u200dend: hello",
    ],
)
def test_a_joiner_between_letters_is_dropped_so_widths_match_the_terminal(text: str) -> None:
    """Rich measures "w‍e" as one cell, terminals (and tmux) draw two: kept, the joiner
    would push the rest of the row and its border one column out of place."""
    cleaned = clean_text(text)
    assert "\u200d" not in cleaned
    assert cell_len(cleaned) == sum(cell_len(char) for char in cleaned)


@pytest.mark.parametrize("emoji", ["\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u2764\ufe0f\u200d\U0001f525"])
def test_a_joiner_between_emoji_stays(emoji: str) -> None:
    assert clean_text(emoji) == emoji


def test_zero_width_and_bidi_controls_cannot_hide_or_reorder() -> None:
    assert clean_text("a\u200bb\u2060c\ufeffd") == "abcd"
    assert clean_text("paid \u202e0001\u202c") == "paid \ufffd0001\ufffd"
    assert clean_name("\u200b\u200b") == "(no name)"


def test_twenty_thousand_characters_on_one_line_are_cut_with_an_ellipsis() -> None:
    line = one_line("x" * 20_000 + "\x1b[2J", 40)
    assert len(line) == 40 and line.endswith("…")


def test_a_coloured_build_log_pastes_whole_and_in_order() -> None:
    log = "\x1b[1;32m===\x1b[0m 3 passed \x1b[33min\x1b[0m 0.1s\r\nline2 \x1b[31mred\x1b[0m end\x07\n"
    assert clean_paste(log, multiline=True) == "=== 3 passed in 0.1s\nline2 red end\u2407\n"
    assert clean_paste(log, multiline=False) == "=== 3 passed in 0.1s line2 red end\u2407"
