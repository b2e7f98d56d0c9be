"""Code blocks in the chat's rendered replies show their numbers, dimmed at the right end of
their top line, counted as /copy N and /run N count them (mlchat/fences.py): in document order,
blocks in list items and quotes included. Nothing else of the rendering changes."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from mlchat.fences import fences
from mlchat.types import TextDelta
from mlchat.ui.markdown import MarkdownRenderer

DOC = (
    "Intro.\n\n```sh\nls -la\n```\n\n1. Step:\n\n   ```bash\n   make\n   ```\n2. Done.\n\n"
    "> ```\n> quoted\n> ```\n\nEnd:\n\n````python\nprint('```')\n````\n\n"
    "    indented, not a fence\n"
)
LABEL = re.compile(r" *\[(\d+)\] *$")


def render(text: str, *, numbered: bool, size: int, colour: bool = False) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=50,
        color_system="truecolor" if colour else None,
        force_terminal=colour,
        legacy_windows=False,
        _environ={},
    )
    renderer = MarkdownRenderer(console, live=False, numbered=numbered)
    for start in range(0, len(text), size):
        renderer.feed(TextDelta(text[start : start + size]))
    renderer.finish()
    return out.getvalue()


@pytest.mark.parametrize("size", [3, 1000])
def test_each_block_shows_its_number_and_nothing_else_changes(size: int) -> None:
    plain = [line.rstrip() for line in render(DOC, numbered=False, size=size).split("\n")]
    shown = [line.rstrip() for line in render(DOC, numbered=True, size=size).split("\n")]
    numbers = [int(m[1]) for line in shown if (m := LABEL.search(line))]
    assert numbers == list(range(1, len(fences(DOC)) + 1)) == [1, 2, 3, 4]
    assert [LABEL.sub("", line).rstrip() for line in shown] == plain


def test_the_number_is_dimmed_on_the_code_background() -> None:
    out = render("```sh\nls\n```\n", numbered=True, size=3, colour=True)
    top = out.split("\n")[0]
    assert "[1]" in top
    assert "\x1b[2;" in top.split("[1]")[0][-30:]  # dim, with the background colour


def test_a_reply_without_blocks_is_unchanged() -> None:
    text = "# Title\n\nSome `inline` code and a list:\n\n- a\n- b\n"
    assert render(text, numbered=True, size=5) == render(text, numbered=False, size=5)


def test_a_narrow_block_drops_the_number() -> None:
    from rich.style import Style

    from mlchat.ui.code import pad_line

    assert [s.text for s in pad_line(8, Style(), "[1]")] == ["    ", "[1]", " "]
    assert [s.text for s in pad_line(4, Style(), "[1]")] == ["    "]


def test_a_long_fence_in_a_list_keeps_one_number_across_its_pieces() -> None:
    # Past 8 KiB the renderer commits the list item in pieces, closing and reopening its fence
    # (ui/blocks.py): the pieces are one block, so each shows the same number.
    body = "\n".join(f"   line {i} " + "x" * 60 for i in range(400))
    text = f"1. Step:\n\n   ```bash\n{body}\n   ```\n2. Done.\n\n```sh\nls\n```\n\n- and\n\n"
    text += "  ```py\n  x\n  ```\n"
    shown = render(text, numbered=True, size=50)
    numbers = [int(n) for n in re.findall(r"\[(\d+)\] *$", shown, flags=re.M)]
    assert len(numbers) > 3 and set(numbers[:-2]) == {1}
    assert numbers[-2:] == [2, 3] and len(fences(text)) == 3
