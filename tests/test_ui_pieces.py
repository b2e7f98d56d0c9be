"""A block or a line that never ends is still committed in bounded pieces (ui/blocks.py), so the
streaming renderer's cost stays linear in the reply's length whatever its shape: what waits in
the tail (redrawn on every refresh) never grows past about two PIECEs, nothing is lost or doubled,
and each piece still renders as what it continues (a table keeps its header, a fence its code, a
nested list stays a list)."""

from __future__ import annotations

import io
import os
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from mlchat.types import TextDelta
from mlchat.ui.blocks import HELD, PIECE, TABLE_PIECE, TABLE_ROWS, Blocks
from mlchat.ui.markdown import CPU_SHARE, MAX_INTERVAL, REFRESH_INTERVAL, MarkdownRenderer
from mlchat.ui.screen import Screen as UIScreen
from mlchat.ui.thoughts import Thoughts
from tests.test_ui_render import Clock, Screen, Term, as_seen, console, one_shot, stripped

WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet,",
    "consectetur",
    "adipiscing",
    "elit;",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]


def words(n: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n:
        w = rnd.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def pieces(text: str, seed: int = 1, most: int = 300) -> Iterator[str]:
    rnd = random.Random(seed)
    i = 0
    while i < len(text):
        n = rnd.randint(1, most)
        yield text[i : i + n]
        i += n


def stream(
    text: str, *, live: bool = False, width: int = 60, height: int = 24
) -> tuple[str, Term, MarkdownRenderer]:
    """`text` through the renderer in random pieces, a refresh due every other one."""
    term = Term(width, height)
    out = Screen(term)
    clock = Clock()
    renderer = MarkdownRenderer(console(out, live=live, width=width, height=height), clock=clock)
    for piece in pieces(text):
        clock.now += 0.05
        renderer.feed(TextDelta(piece))
    renderer.finish()
    return out.getvalue(), term, renderer


def run(text: str, *, whole: bool = False) -> tuple[Blocks, int]:
    """Feed `text` (in random pieces, or at once), and return the Blocks with the largest tail
    (in characters) seen after any feed."""
    blocks = Blocks()
    most = 0
    for piece in [text] if whole else pieces(text):
        blocks.feed(piece)
        _, tail = blocks.tail()
        most = max(most, sum(len(line) + 1 for line in tail))
    blocks.finish()
    return blocks, most


@pytest.mark.parametrize("whole", [False, True])
def test_one_line_that_never_ends_is_cut_at_spaces(whole: bool) -> None:
    text = words(20 * PIECE)
    blocks, most = run(text, whole=whole)
    assert most <= 2 * PIECE
    kinds = {kind for kind, _ in blocks.out}
    assert kinds == {"md", "item"} and blocks.out[0][0] == "md"
    assert all(len(piece) <= PIECE + 1 for _, piece in blocks.out)
    # Every cut is at a space, which the line break (a soft break: rendered as a space) replaces.
    assert " ".join(piece for _, piece in blocks.out).replace("\n", " ") == text


def test_a_line_without_spaces_is_cut_at_piece() -> None:
    text = "x" * (3 * PIECE + 5)
    blocks, most = run(text)
    assert most <= 2 * PIECE
    assert "".join(piece.replace("\n", "") for _, piece in blocks.out) == text


def test_a_cut_line_never_starts_a_block_of_its_own() -> None:
    # Spaces followed by markers everywhere: a cut there would start a list, a heading or a quote.
    text = " - # > 1. ```".join(words(PIECE // 3, seed) for seed in range(12))
    blocks, _ = run(text)
    assert len(blocks.out) > 2
    for _, piece in blocks.out:
        for line in piece.split("\n")[1:]:
            assert line[:1].isalpha()
    assert " ".join(piece for _, piece in blocks.out).replace("\n", " ") == text


def test_a_paragraph_of_many_lines_is_committed_in_pieces() -> None:
    lines = [words(70, seed) for seed in range(2000)]
    blocks, most = run("\n".join(lines) + "\n")
    assert most <= 2 * PIECE
    assert len(blocks.out) > 10
    assert all(len(piece) <= PIECE + 100 for _, piece in blocks.out)
    assert "\n".join(piece for _, piece in blocks.out).split("\n") == lines


def test_a_table_that_never_ends_repeats_its_header() -> None:
    header = ["| n | square | note |", "|---|-------:|:----|"]
    rows = [f"| {i} | {i * i} | {words(20, i)} |" for i in range(3000)]
    blocks, most = run("\n".join(header + rows) + "\n")
    assert most <= 2 * PIECE  # the tail holds only the header and the last rows
    assert len(blocks.out) > 4
    seen: list[str] = []
    for _, piece in blocks.out:
        assert len(piece) <= TABLE_PIECE
        lines = piece.split("\n")
        assert lines[:2] == header
        seen += lines[2:]
    assert seen == rows
    # Each piece is drawn as a table, its rows under the header.
    out, _, _ = stream("\n".join(header + rows[:1000]) + "\n")
    assert len(re.findall(r"^ n +square +note$", out, re.M)) > 1
    for i in (0, 499, 999):
        assert re.search(rf"^ {i} +{i * i} ", out, re.M)


def test_a_table_longer_than_a_piece_is_still_one_table() -> None:
    text = "| n | square |\n|---|---:|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(600))
    assert PIECE < len(text) < TABLE_PIECE
    out, _, _ = stream(text)
    assert stripped(out) == one_shot(text)


def test_a_code_line_that_never_ends_streams_as_code() -> None:
    line = "x = [" + ", ".join(str(i) for i in range(10000)) + "]"
    blocks, most = run(f"```python\n{line}\n```\nafter\n")
    assert most <= 2 * PIECE
    assert blocks.out[0] == ("open", "python")
    code = [text for kind, text in blocks.out if kind == "code"]
    assert len(code) > 2 and all(len(c) <= PIECE for c in code)
    assert "".join(code) == line
    assert blocks.out[-2:] == [("close", ""), ("md", "after")]


def test_blank_lines_held_in_a_fence_are_bounded() -> None:
    blocks = Blocks()
    blocks.feed("```\n" + "\n" * (10 * HELD))
    _, tail = blocks.tail()
    assert len(tail) <= HELD
    blocks.feed("x\n```\n")
    blocks.finish()
    assert [kind for kind, _ in blocks.out].count("code") == 10 * HELD + 1


def test_a_nested_list_that_never_ends_stays_a_list() -> None:
    items = [f"    - sub item {i}: {words(40, i)}" for i in range(1500)]
    text = "- topic\n" + "\n".join(items) + "\n- next topic\n"
    blocks, most = run(text)
    assert most <= 2 * PIECE
    assert len(blocks.out) > 5
    for _, piece in blocks.out[1:-1]:
        first = piece.split("\n")[0]
        assert first.startswith("- sub item")  # never 4 spaces in: that would be indented code
    assert blocks.out[-1] == ("item", "- next topic")
    shown = "\n".join(piece for _, piece in blocks.out)
    assert [int(n) for n in re.findall(r"sub item (\d+)", shown)] == list(range(1500))
    out, _, _ = stream("- topic\n" + "\n".join(items[:300]) + "\n")
    assert "sub item 299" in out and "    - sub" not in out


def test_a_fence_inside_a_list_that_never_ends_is_closed_and_reopened() -> None:
    code = [f"  echo {i} {words(30, i)}" for i in range(1500)]
    text = "- step:\n  ```sh\n" + "\n".join(code) + "\n  ```\n- done\n"
    blocks, most = run(text)
    assert most <= 2 * PIECE
    assert len(blocks.out) > 5
    for _, piece in blocks.out[:-1]:
        lines = piece.split("\n")
        fences = [line for line in lines if line.strip().startswith("```")]
        assert len(fences) % 2 == 0
    for _, piece in blocks.out[1:-1]:
        assert piece.startswith("```sh\n")
    shown = "\n".join(piece for _, piece in blocks.out)
    assert [int(n) for n in re.findall(r"echo (\d+)", shown)] == list(range(1500))
    out, _, _ = stream("- step:\n  ```sh\n" + "\n".join(code[:300]) + "\n  ```\n")
    assert "```" not in out and "echo 299" in out


def test_long_replies_keep_the_scrollback_exact_on_a_terminal() -> None:
    text = words(3 * PIECE) + "\n\n" + "| a | b |\n|---|---|\n"
    text += "".join(f"| {i} | {words(30, i)} |\n" for i in range(500))
    committed, _, _ = stream(text, width=60, height=12)
    _, term, renderer = stream(text, live=True, width=60, height=12)
    assert renderer.refreshes > 1
    assert term.transcript == as_seen(committed)


def test_a_long_table_is_drawn_live_as_its_header_and_last_rows() -> None:
    header = ["| n | square |", "|---|---:|"]
    rows = [f"| {i} | {i * i} |" for i in range(100)]
    blocks = Blocks()
    blocks.feed("\n".join(header + rows) + "\n| 100 | 1")
    _, tail = blocks.tail(40)
    assert tail == header + rows[-TABLE_ROWS:] + ["| 100 | 1"]
    _, tail = blocks.tail(2)  # a screen shorter still
    assert tail == header + rows[-2:] + ["| 100 | 1"]
    blocks.finish()
    assert blocks.out == [("md", "\n".join([*header, *rows, "| 100 | 1"]))]


# -- any shape: random Markdown-ish text, randomly chunked ---------------------------------------

_FRAGMENTS = [
    "word ",
    "**bold** ",
    "`code` ",
    "\n",
    "\n\n",
    "- ",
    "    ",
    "  ",
    "1. ",
    "# ",
    "> ",
    "| a | b |",
    "|---|---|",
    "```",
    "~~~",
    "\t",
    "\r\n",
    "x" * 500,
    ("lorem " * 200),
]
_THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
_EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "3000")) if _THOROUGH else 15


@settings(max_examples=_EXAMPLES, deadline=None, database=None)
@given(
    parts=st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=60),
    repeat=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_any_shape_keeps_the_tail_bounded(parts: list[str], repeat: int, seed: int) -> None:
    text = "".join(parts) * repeat
    while len(text) < 3 * PIECE:  # long enough for pieces to be cut
        text += text
    blocks = Blocks()
    rnd = random.Random(seed)
    i = 0
    while i < len(text):
        n = rnd.choice((1, 7, 300, 5000))
        blocks.feed(text[i : i + n])
        i += n
        _, tail = blocks.tail()
        assert sum(len(line) + 1 for line in tail) <= 2 * PIECE + 2 * HELD + 16
    blocks.finish()
    # Nothing lost: every non-blank character arrives in some piece, in order.
    shown = "".join(piece for _, piece in blocks.out)
    kept = iter(shown)
    assert all(ch in kept for ch in text if not ch.isspace() and ch not in "`~|-")


def test_reasoning_in_full_that_never_ends_a_line_is_committed_in_pieces() -> None:
    term = Term(60, 12)
    clock = Clock()
    thoughts = Thoughts(
        UIScreen(console(Screen(term), live=True, width=60, height=12), True), clock, full=True
    )
    text = " ".join(f"t{i}" for i in range(20000))
    for piece in pieces(text):
        clock.now += 0.1
        thoughts.feed(piece)
        thoughts.draw()
        assert sum(len(p) for p in thoughts._parts) <= PIECE
    thoughts.end()
    thoughts.close()
    *lines, summary = term.transcript.splitlines()
    assert summary.startswith("thought for ")
    assert [w for line in lines for w in line.removeprefix("│ ").split()] == text.split()


def test_a_costly_redraw_spaces_out_the_next() -> None:
    clock = Clock()

    class Costly(Console):
        def render(self, *args: Any, **kwargs: Any) -> Any:
            clock.now += 0.02  # rendering costs 20 ms
            return super().render(*args, **kwargs)

    con = Costly(file=io.StringIO(), width=60, height=24, force_terminal=True, _environ={})
    renderer = MarkdownRenderer(con, clock=clock)
    for i in range(300):
        clock.now += 0.01
        renderer.feed(TextDelta(f"w{i} "))
    # 3 s of stream and more: every 1/12 s would be over 36 redraws; 50 x 20 ms apart, a few.
    elapsed = clock.now - 100
    assert 2 <= renderer.refreshes <= elapsed / min(MAX_INTERVAL, CPU_SHARE * 0.02) + 2
    assert elapsed / renderer.refreshes > 10 * REFRESH_INTERVAL
    renderer.finish()


def test_a_long_crlf_line_cut_at_piece_leaves_no_blank_line() -> None:
    blocks, _ = run("x" * PIECE + "\r\n" + "y\r\n", whole=True)
    assert blocks.out == [("md", "x" * PIECE), ("item", "y")]  # continued: no blank line
