"""mlchat.text: what untrusted text becomes before it reaches a terminal (the one sanitiser) and
how it is cut to one line (the one clipper)."""

from __future__ import annotations

import json

import pytest

from mlchat.text import StreamEscaper, clip, escape_controls, first_line, json_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("", ""),
        ("plain text, ünïcödé, 漢字, 🎉", "plain text, ünïcödé, 漢字, 🎉"),
        ("keep\ttabs\nand newlines\n", "keep\ttabs\nand newlines\n"),
        ("\x1b[31mred\x1b[0m", "^[[31mred^[[0m"),
        ("\x1b]0;window title\x07", "^[]0;window title^G"),
        ("\x1b]52;c;cGF3bmVk\x1b\\", "^[]52;c;cGF3bmVk^[\\"),  # a clipboard write
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "^[]8;;http://x^[\\link^[]8;;^[\\"),
        ("\x00\x01\x08\x0b\x0c\x7f", "^@^A^H^K^L^?"),
        ("\x9b2J\x9d0;t\x9c", "<U+009B>2J<U+009D>0;t<U+009C>"),  # 8-bit CSI, OSC, ST
        ("crlf\r\nline", "crlf\nline"),
        ("lone\rcarriage return", "lone^Mcarriage return"),
        ("ends with\r", "ends with^M"),
        ("\r\r\n", "^M\n"),
    ],
)
def test_escape_controls(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown
    assert "\x1b" not in escape_controls(raw) and "\r" not in escape_controls(raw)


def test_clean_text_is_returned_as_is() -> None:
    text = "nothing to escape here\n" * 100
    assert escape_controls(text) is text


def test_every_control_character_is_made_visible() -> None:
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        if chr(code) in "\t\n":
            continue
        shown = escape_controls(chr(code))
        assert shown.isprintable() and len(shown) >= 2, (code, shown)


def test_bidi_controls_and_lone_surrogates_are_made_visible() -> None:
    # A right-to-left override would reorder what is shown (a stored name, a tool argument); a
    # lone surrogate cannot be encoded for any terminal at all.
    assert escape_controls("abc\u202edcba\u2066x") == "abc<U+202E>dcba<U+2066>x"
    assert escape_controls("bad \ud83d half") == "bad <U+D83D> half"
    assert escape_controls("a 🎉 pair") == "a 🎉 pair"


def test_keep_lets_chosen_characters_through() -> None:
    assert escape_controls("a\x02hit\x03\nb\x1b", keep="\n\x02\x03") == "a\x02hit\x03\nb^["
    assert escape_controls("tab\there", keep="") == "tab^Ihere"


def test_stream_escaper_joins_a_crlf_split_across_chunks() -> None:
    esc = StreamEscaper()
    assert esc("one\r") + esc("\ntwo\r") + esc.flush() == "one\ntwo^M"
    assert StreamEscaper(active=False)("\x1b[2J") == "\x1b[2J"


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("short", 10, "short"),
        ("  many\n  spaces\tand lines ", 40, "many spaces and lines"),
        ("abcdefghijkl", 6, "abcde…"),
        ("abcd efghijkl", 6, "abcd…"),  # no space left before the ellipsis
    ],
)
def test_clip(text: str, limit: int, shown: str) -> None:
    assert clip(text, limit) == shown
    assert len(clip(text, limit)) <= limit


def test_first_line_marks_the_lines_left_out() -> None:
    assert first_line("one line", 20) == "one line"
    assert first_line("first\nsecond", 20) == "first…"
    assert first_line("  \n", 20) == ""
    assert first_line("a long first line\nmore", 8) == "a long…"


def test_json_text_escapes_what_a_terminal_could_obey() -> None:
    value = {"k\u0085": ["\x1b[31m\x9b2J\u202e\u2066\x7f\ud800 é ✓"]}
    text = json_text(value, indent=2)
    assert json.loads(text) == value
    assert text == (
        '{\n  "k\\u0085": [\n    "\\u001b[31m\\u009b2J\\u202e\\u2066\\u007f\\ud800 é ✓"\n  ]\n}'
    )
    text.encode()  # a lone surrogate no longer fails to encode
