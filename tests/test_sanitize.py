"""escape_controls: what a model's text becomes before it reaches a terminal."""

from __future__ import annotations

import pytest

from mlchat.sanitize import escape_controls


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
