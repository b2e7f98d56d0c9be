"""The renderers, at a fixed width, fed token by token through a fake clock.

A small terminal emulator (`Term`) replays what the live renderer writes, so the tests can check
what a user's scrollback ends up holding: every committed line exactly once, nothing left of the
live region, the cursor visible.
"""

from __future__ import annotations

import html
import io
import random
import re
import signal
from collections.abc import Iterator

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.markdown import Markdown

from mlchat.types import Finished, ReasoningDelta, StreamEvent, TextDelta, Usage
from mlchat.ui.blocks import Blocks
from mlchat.ui.console import make_console, wants_plain
from mlchat.ui.markdown import MarkdownRenderer
from mlchat.ui.render import NullRenderer, PlainRenderer, make_renderer
from mlchat.ui.thoughts import thought_for
from tests.conftest import invoke
from tests.emulator import Emulator, Reply

WIDTH = 60
PAD = " " * WIDTH  # the background line above and below a code block


def code(line: str) -> str:
    """A line of a code block as rich draws it: one cell of padding each side, full width."""
    return (" " + line).ljust(WIDTH)


# --- A terminal, a clock, a token stream ---------------------------------------------------------

_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")
_OSC = re.compile(r"\x1b\].*?(?:\x07|\x1b\\)", re.S)


class Term:
    """Enough of a VT100 to replay the renderer's output: text with auto-wrap, CR, LF (as CR+LF,
    like a tty's ONLCR), cursor up, erase in line and below, cursor visibility; SGR is ignored.
    A narrower terminal re-wraps its lines, as most terminals do. `transcript` is the scrollback
    followed by the screen, without trailing blanks."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.scrollback: list[str] = []
        # Each row: its cells (a wide character is followed by "") and whether the terminal
        # wrapped into it (rather than the program writing a newline).
        self.rows: list[tuple[list[str], bool]] = [([], False) for _ in range(height)]
        self.row = self.col = 0
        self.wrap_next = False
        self.cursor_visible = True
        self.most_up = 0  # the most rows the cursor went up in one go (between two texts)
        self.up_run = 0

    def write(self, data: str) -> None:
        i = 0
        while i < len(data):
            ch = data[i]
            if ch == "\x1b":
                m = _CSI.match(data, i)
                if m is None:
                    osc = _OSC.match(data, i)
                    assert osc is not None, f"unexpected escape {data[i : i + 12]!r}"
                    i = osc.end()
                    continue
                self._csi(m[1], m[2])
                i = m.end()
                continue
            i += 1
            if ch != "\r":
                self.up_run = 0
            if ch in "\r\n":
                self.col, self.wrap_next = 0, False
                if ch == "\n":
                    self._linefeed()
            else:
                assert ch >= " " and ch != "\x7f", f"control character {ch!r} reached the terminal"
                self._put(ch)

    def _csi(self, params: str, final: str) -> None:
        if final == "A":
            n = int(params or 1)
            self.up_run += n
            self.most_up = max(self.most_up, self.up_run)
            self.row, self.wrap_next = max(0, self.row - n), False
        elif final == "K":
            cells, cont = self.rows[self.row]
            self.rows[self.row] = (cells[: self.col] if params in ("", "0") else [], cont)
        elif final == "J" and params in ("", "0"):
            cells, cont = self.rows[self.row]
            self.rows[self.row] = (cells[: self.col], cont)
            for r in range(self.row + 1, self.height):
                self.rows[r] = ([], False)
        elif final in "hl" and params == "?25":
            self.cursor_visible = final == "h"
        elif final != "m":
            raise AssertionError(f"unexpected control sequence {params}{final}")

    def _linefeed(self, wrapped: bool = False) -> None:
        if self.row == self.height - 1:
            self.scrollback.append("".join(self.rows.pop(0)[0]).rstrip())
            self.rows.append(([], wrapped))
        else:
            self.row += 1
            self.rows[self.row] = (self.rows[self.row][0], wrapped)

    def _put(self, ch: str) -> None:
        w = cell_len(ch)
        if self.wrap_next or self.col + w > self.width:
            self.col, self.wrap_next = 0, False
            self._linefeed(wrapped=True)
            self.rows[self.row] = ([], True)
        cells = self.rows[self.row][0]
        cells.extend(" " * (self.col - len(cells)))
        cells[self.col : self.col + w] = [ch] + [""] * (w - 1)
        self.col += w
        if self.col >= self.width:
            self.col, self.wrap_next = self.width - 1, True

    def resize(self, width: int) -> None:
        """Re-wrap every logical line of the screen at `width`; the cursor stays after the same
        cell; rows that no longer fit go to the scrollback."""
        logical: list[list[str]] = []
        at = (0, 0)
        for r, (cells, wrapped) in enumerate(self.rows):
            if not (wrapped and logical):
                logical.append([])
            if r == self.row:
                at = (len(logical) - 1, len(logical[-1]) + self.col + self.wrap_next)
            logical[-1].extend(cells)
        rows: list[tuple[list[str], bool]] = []
        cursor = (0, 0)
        for index, cells in enumerate(logical):
            for k in range(max(1, -(-len(cells) // width))):
                if index == at[0] and k * width <= at[1] <= (k + 1) * width:
                    cursor = (len(rows), at[1] - k * width)
                rows.append((cells[k * width : (k + 1) * width], k > 0))
        while len(rows) > self.height and len(rows) - 1 > cursor[0] and not rows[-1][0]:
            rows.pop()
        while len(rows) > self.height:
            self.scrollback.append("".join(rows.pop(0)[0]).rstrip())
            cursor = (cursor[0] - 1, cursor[1])
        rows += [([], False) for _ in range(self.height - len(rows))]
        self.rows, self.width = rows, width
        self.row, self.col = cursor
        self.wrap_next = self.col >= width
        self.col = min(self.col, width - 1)

    @property
    def transcript(self) -> str:
        lines = self.scrollback + ["".join(cells).rstrip() for cells, _ in self.rows]
        while lines and not lines[-1]:
            lines.pop()
        return "".join(line + "\n" for line in lines)

    @property
    def at_line_start(self) -> bool:
        return self.col == 0 and not self.wrap_next


class Screen(io.StringIO):
    """A file that a Term also reads."""

    def __init__(self, term: Term) -> None:
        super().__init__()
        self.term = term

    def write(self, s: str) -> int:
        self.term.write(s)
        return super().write(s)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chunks(text: str, seed: int = 1, most: int = 4) -> Iterator[str]:
    """`text` in pieces of 1 to `most` characters: splits land everywhere, inside fences and
    markers and between CR and LF."""
    rnd = random.Random(seed)
    i = 0
    while i < len(text):
        n = rnd.randint(1, most)
        yield text[i : i + n]
        i += n


def console(file: io.StringIO, *, live: bool, width: int = WIDTH, height: int = 24) -> Console:
    return Console(
        file=file,
        width=width,
        height=height,
        color_system=None,
        force_terminal=live,
        legacy_windows=False,
        _environ={},
    )


def stream(
    text: str, *, live: bool = False, width: int = WIDTH, height: int = 24, step: float = 0.03
) -> tuple[str, Term, MarkdownRenderer]:
    """Feed `text` in small pieces, the clock moving `step` s between two, then finish."""
    term = Term(width, height)
    out = Screen(term)
    clock = Clock()
    renderer = MarkdownRenderer(console(out, live=live, width=width, height=height), clock=clock)
    for piece in chunks(text):
        clock.now += step
        renderer.feed(TextDelta(piece))
    renderer.finish()
    return out.getvalue(), term, renderer


def one_shot(text: str, width: int = WIDTH) -> str:
    """The whole text rendered at once by rich, lines without trailing blanks."""
    out = io.StringIO()
    console(out, live=False, width=width).print(Markdown(text))
    return stripped(out.getvalue())


def as_seen(text: str) -> str:
    """Lines as a terminal shows them: no trailing blanks, no blank lines at the end."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(line + "\n" for line in lines)


def stripped(text: str) -> str:
    """`as_seen`, without blank lines at the start either (rich starts a document with one when
    its first block is a list or a table; the renderer does not)."""
    return as_seen(text).lstrip("\n")


# --- Exact output, token by token ----------------------------------------------------------------


def test_headings_and_lists() -> None:
    text = "# Plan\n\n## Steps\n\n1. Read the **brief**.\n2. Write `code`.\n   - nested *item*\n"
    text += "3. Ship it.\n\nDone.\n"
    out, _, _ = stream(text)
    assert out == (
        "                            Plan\n"
        "\n"
        "Steps\n"
        "\n"
        " 1 Read the brief.\n"
        " 2 Write code.\n"
        "    • nested item\n"
        " 3 Ship it.\n"
        "\n"
        "Done.\n"
    )


def test_table() -> None:
    text = "Costs:\n\n| Tool | Cost | Notes |\n|:-----|-----:|:-----:|\n| rich | 0 | draws |\n"
    text += "| httpx | 0 | talks |\n"
    out, _, _ = stream(text)
    assert out == (
        "Costs:\n"
        "\n"
        "\n"
        " Tool   Cost  Notes\n"
        " ──────────────────\n"
        " rich      0  draws\n"
        " httpx     0  talks\n"
        "\n"
    )


def test_nested_fences() -> None:
    text = "````markdown\nUse a fence:\n\n```python\nprint(1)\n```\n````\nafter\n"
    out, _, _ = stream(text)
    assert out.split("\n") == [
        PAD,
        code("Use a fence:"),
        code(""),
        code("```python"),
        code("print(1)"),
        code("```"),
        PAD,
        "",
        "after",
        "",
    ]


def test_fence_that_never_closes_ends_with_the_reply() -> None:
    out, _, _ = stream("Code:\n\n```python\ndef f():\n    return 1\n\n\n")
    assert out.split("\n") == ["Code:", "", PAD, code("def f():"), code("    return 1"), PAD, ""]


def test_wide_characters() -> None:
    text = "漢字のテキストと絵文字 🎉🎉 が混ざった段落は"
    text += "幅二のセルで折り返されるべきです。\n\n- 項目 🍣\n"
    out, _, _ = stream(text, width=40)
    assert out == (
        "漢字のテキストと絵文字 🎉🎉\n"
        "が混ざった段落は幅二のセルで折り返される\n"
        "べきです。\n"
        "\n"
        " • 項目 🍣\n"
    )


def test_empty_reply_draws_nothing() -> None:
    out, term, _ = stream("", live=True)
    assert out == "" and term.cursor_visible


@pytest.mark.parametrize("live", [False, True])
def test_preparing_draws_nothing_and_changes_nothing(live: bool) -> None:
    # Turn prepares the renderer while the model thinks; the reply is then drawn as without it.
    text = SAMPLES["mixed"]
    term = Term(WIDTH, 24)
    out = Screen(term)
    clock = Clock()
    renderer = MarkdownRenderer(console(out, live=live), clock=clock)
    renderer.prepare()
    assert out.getvalue() == ""
    for piece in chunks(text):
        clock.now += 0.03
        renderer.feed(TextDelta(piece))
    renderer.finish()
    assert out.getvalue() == stream(text, live=live)[0]


# --- Nothing lost, nothing twice -----------------------------------------------------------------

SAMPLES = {
    "mixed": (
        "# Title\n\nSome **bold** text and a list:\n\n- one\n- two\n\n| a | b |\n|---|---|\n"
        "| 1 | 2 |\n\n````markdown\n```python\nx = 1\n```\n````\n\n```python\ndef f():\n"
        '    """doc\n\n    string"""\n    return 1\n```\n\n---\n\n> quoted\n> text\n\nend'
    ),
    "paragraph then fence": "Here:\n```sh\nls -l\n```\nThat lists.\n",
    "crlf": "Line one\r\nline two\r\n\r\n```\r\ncode\r\n```\r\n",
    "tall paragraph": " ".join(f"word{i}" for i in range(150)) + "\n",
    "tall table": "| n | square |\n|---|---|\n"
    + "".join(f"| {i} | {i * i} |\n" for i in range(20)),
    "tall fence": "```python\n" + "".join(f"x_{i} = {i}\n" for i in range(40)) + "```\n",
    "wide": "漢字と絵文字 🎉 " * 30 + "\n\n" + "| 名前 | 🍣 |\n|---|---|\n| 寿司 | 🍣🍣 |\n",
    "tight list": "".join(
        f"- item {i} with enough words to wrap at narrow widths\n" for i in range(40)
    ),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_streamed_equals_one_shot(name: str) -> None:
    out, _, _ = stream(SAMPLES[name])
    assert stripped(out) == one_shot(SAMPLES[name])


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize(("width", "height"), [(60, 24), (60, 6), (23, 5)])
def test_live_scrollback_holds_every_line_once(name: str, width: int, height: int) -> None:
    committed, _, _ = stream(SAMPLES[name], width=width, height=height)
    out, term, renderer = stream(SAMPLES[name], live=True, width=width, height=height)
    assert renderer.refreshes > 1
    assert "\x1b[" in out  # it did draw a live tail
    assert term.transcript == as_seen(committed)
    assert term.cursor_visible and term.at_line_start
    # The live region never grew taller than the screen less one line.
    assert term.most_up <= height - 2


def test_loose_list_items_and_continuations_are_kept_together() -> None:
    text = "1. First\n\n   more about the first\n\n2. Second\n\n   - sub\n\nAfter.\n"
    blocks = Blocks()
    for piece in chunks(text):
        blocks.feed(piece)
    blocks.finish()
    assert blocks.out == [
        ("md", "1. First\n\n   more about the first"),
        ("md", "2. Second\n\n   - sub"),
        ("md", "After."),
    ]
    # What is drawn is exactly each block rendered on its own, a blank line between them.
    out, _, _ = stream(text)
    parts = [one_shot(block) for _, block in blocks.out]
    assert stripped(out) == "\n".join(parts)


def test_fence_inside_a_list_stays_with_it() -> None:
    text = "- step:\n  ```sh\n  make\n\n  make install\n  ```\n- next\n\n~~~\n```\n~~~\n"
    blocks = Blocks()
    for piece in chunks(text):
        blocks.feed(piece)
    blocks.finish()
    assert blocks.out == [
        ("md", "- step:\n  ```sh\n  make\n\n  make install\n  ```"),
        ("item", "- next"),
        ("open", ""),
        ("code", "```"),
        ("close", ""),
    ]


def test_a_tight_list_is_committed_item_by_item() -> None:
    text = "1. one\n   - sub\n     lazy\n2. two\ncontinued\n3) other list\n- bullets\n* * *\n"
    blocks = Blocks()
    for piece in chunks(text):
        blocks.feed(piece)
    blocks.finish()
    assert blocks.out == [
        ("md", "1. one\n   - sub\n     lazy"),
        # Another kind of list, or a rule, is not an item of this one: it stays in the block.
        ("item", "2. two\ncontinued\n3) other list\n- bullets\n* * *"),
    ]
    out, _, _ = stream("Intro:\n\n- a\n- b\n  - b1\n- c\n\nEnd.\n")
    assert out == "Intro:\n\n • a\n • b\n    • b1\n • c\n\nEnd.\n"


def test_not_a_fence_and_indented_code() -> None:
    blocks = Blocks()
    blocks.feed("``` not `a` fence\n\n    indented\n\n    code\n\ntext\n")
    blocks.finish()
    assert blocks.out == [
        ("md", "``` not `a` fence"),
        ("md", "    indented\n\n    code"),
        ("md", "text"),
    ]


def test_resize_mid_stream_leaves_no_duplicates() -> None:
    words = [f"w{i}" for i in range(300)]
    text = " ".join(words[:150]) + "\n\n" + " ".join(words[150:]) + "\n"
    term = Term(60, 10)
    out = Screen(term)
    con = console(out, live=True, height=10)
    clock = Clock()
    renderer = MarkdownRenderer(con, clock=clock)
    for i, piece in enumerate(chunks(text, most=3)):
        clock.now += 0.05
        if i == len(text) // 3:
            term.resize(45)
            con.width = 45
        renderer.feed(TextDelta(piece))
    renderer.finish()
    shown = term.transcript.split()
    assert shown == words  # each word once, in order: no stale copy of the live region survived


# --- Throttle ------------------------------------------------------------------------------------


def test_many_feeds_within_100ms_cause_at_most_two_refreshes() -> None:
    out = io.StringIO()
    clock = Clock()
    renderer = MarkdownRenderer(console(out, live=True), clock=clock)
    for i in range(50):
        clock.now += 0.002
        renderer.feed(TextDelta(f"w{i} "))
    assert renderer.refreshes <= 2
    assert renderer.refreshes >= 1  # the first words show at once
    renderer.finish()
    assert "w49" in out.getvalue()


def test_throttle_counts_from_the_end_of_a_slow_render() -> None:
    clock = Clock()

    class Slow(io.StringIO):
        def write(self, s: str) -> int:
            clock.now += 0.5  # drawing takes half a second
            return super().write(s)

    renderer = MarkdownRenderer(console(Slow(), live=True), clock=clock)
    for i in range(100):
        clock.now += 0.01
        renderer.feed(TextDelta(f"w{i} "))
    # Counted from the start of a render, every feed after a slow one would redraw.
    assert renderer.refreshes <= 1 + 100 * 0.01 / (1 / 12) + 1
    renderer.finish()


# --- Reasoning -----------------------------------------------------------------------------------


def reasoning_run(
    mode: str, *, reasoning_chars: int = 300
) -> tuple[Term, Term, io.StringIO, io.StringIO]:
    out_term, err_term = Term(WIDTH, 12), Term(WIDTH, 12)
    out, err = Screen(out_term), Screen(err_term)
    clock = Clock()
    renderer = make_renderer(
        out=out,
        err=err,
        env={"TERM": "xterm"},
        stdout_tty=True,
        stderr_tty=True,
        reasoning=mode,  # type: ignore[arg-type]
        clock=clock,
        console=console(out, live=True, height=12),
        err_console=console(err, live=True, height=12),
    )
    thought = " ".join(f"t{i}" for i in range(reasoning_chars // 4))
    pieces = list(chunks(thought, most=5))
    for piece in pieces:
        clock.now += 12.4 / len(pieces)
        renderer.feed(ReasoningDelta(piece))
    for piece in chunks("The **answer**.\n"):
        clock.now += 0.05
        renderer.feed(TextDelta(piece))
    renderer.feed(Usage(3, 4))
    renderer.feed(Finished("stop"))
    renderer.finish()
    return out_term, err_term, out, err


def test_reasoning_streams_dimmed_then_becomes_one_line() -> None:
    out_term, err_term, _, err = reasoning_run("auto")
    assert err_term.transcript == "thought for 12 s\n"
    assert "thinking…" in err.getvalue() and "│ t" in err.getvalue()  # shown while it streamed
    assert out_term.transcript == "The answer.\n"
    assert out_term.cursor_visible and err_term.cursor_visible


def test_reasoning_is_dim_and_the_answer_is_not() -> None:
    out, err = io.StringIO(), io.StringIO()
    clock = Clock()
    colours = {"color_system": "standard", "force_terminal": True, "width": WIDTH, "height": 12}
    renderer = MarkdownRenderer(
        Console(file=out, **colours),  # type: ignore[arg-type]
        Console(file=err, **colours),  # type: ignore[arg-type]
        clock=clock,
    )
    renderer.feed(ReasoningDelta("hmm"))
    clock.now += 3
    renderer.feed(TextDelta("Yes."))
    renderer.finish()
    assert "\x1b[2mthinking… 0 s\x1b[0m" in err.getvalue()
    assert "\x1b[2;3mhmm\x1b[0m" in err.getvalue()  # dim italic
    assert "\x1b[2mthought for 3.0 s\x1b[0m" in err.getvalue()
    assert "Yes." in out.getvalue() and "\x1b[2m" not in out.getvalue()


def test_show_reasoning_keeps_it_in_full() -> None:
    out_term, err_term, _, _ = reasoning_run("show", reasoning_chars=140)
    assert err_term.transcript == (
        "│ t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16\n"
        "│ t17 t18 t19 t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30\n"
        "│ t31 t32 t33 t34\n"
        "thought for 12 s\n"
    )
    assert out_term.transcript == "The answer.\n"


def test_hide_reasoning_shows_nothing_of_it() -> None:
    out_term, _, _, err = reasoning_run("hide")
    assert err.getvalue() == ""
    assert out_term.transcript == "The answer.\n"


def test_reasoning_never_reaches_a_piped_stdout() -> None:
    out, err = io.StringIO(), io.StringIO()
    for mode in ("auto", "show"):
        renderer = make_renderer(
            out=out,
            err=err,
            env={},
            stdout_tty=False,
            stderr_tty=True,
            reasoning=mode,
        )
        renderer.feed(ReasoningDelta("secret thoughts"))
        renderer.feed(TextDelta("answer"))
        renderer.finish()
    assert out.getvalue() == "answer\nanswer\n"
    assert err.getvalue() == "secret thoughts\n\n"  # only when asked for


@pytest.mark.parametrize(
    ("seconds", "line"),
    [(0.44, "thought for 0.4 s"), (12.4, "thought for 12 s"), (59.6, "thought for 1 min 0 s")],
)
def test_thought_for(seconds: float, line: str) -> None:
    assert thought_for(seconds) == line
    assert thought_for(125) == "thought for 2 min 5 s"


# --- Interrupt, reuse, escapes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "last"),
    [
        ("Some **bold", "Some"),
        ("| 1 |", " 1"),
        ("x = 1", " x ="),
        ('string"""', "     str"),
        ("> quoted", "▌ qu"),
    ],
)
def test_finish_after_ctrl_c_keeps_what_arrived_and_leaves_the_terminal_sane(
    at: str, last: str
) -> None:
    """Interrupted in a paragraph, a table, a nested fence, a streamed fence, a quote."""
    text = SAMPLES["mixed"]
    stop = text.index(at) + len(at) // 2
    term = Term(WIDTH, 8)
    out = Screen(term)
    clock = Clock()
    renderer = MarkdownRenderer(console(out, live=True, height=8), clock=clock)
    fed = ""
    with pytest.raises(KeyboardInterrupt):
        for piece in chunks(text):
            if len(fed) >= stop:
                raise KeyboardInterrupt  # as the caller's wait for the next event would
            clock.now += 0.03
            renderer.feed(TextDelta(piece))
            fed += piece
    renderer.finish()
    assert term.cursor_visible and term.at_line_start
    assert term.transcript == as_seen(stream(fed)[0])
    assert term.transcript.rstrip("\n").split("\n")[-1].startswith(last)  # up to the cut


@pytest.mark.parametrize("nth", [3, 8, 20])
def test_ctrl_c_during_a_redraw_waits_for_it_to_end(nth: int) -> None:
    """SIGINT while the renderer writes: the redraw completes, then KeyboardInterrupt comes out
    of `feed`, and `finish` leaves exactly what arrived."""
    term = Term(WIDTH, 8)
    writes = [0]

    class Interrupting(Screen):
        def write(self, s: str) -> int:
            writes[0] += 1
            if writes[0] == nth:
                signal.raise_signal(signal.SIGINT)
            return super().write(s)

    out = Interrupting(term)
    clock = Clock()
    renderer = MarkdownRenderer(console(out, live=True, height=8), clock=clock)
    fed = ""
    with pytest.raises(KeyboardInterrupt):
        for piece in chunks(SAMPLES["mixed"]):
            clock.now += 0.03
            fed += piece
            renderer.feed(TextDelta(piece))
    assert writes[0] == nth  # nothing was written after the interrupt
    renderer.finish()
    assert term.cursor_visible and term.at_line_start
    assert term.transcript == as_seen(stream(fed)[0])


def test_one_renderer_per_reply_on_a_long_lived_console() -> None:
    term = Term(WIDTH, 10)
    out = Screen(term)
    con = console(out, live=True, height=10)
    clock = Clock()
    for reply in ("First *reply*.\n\n- a\n- b", "```\ncode\n```", "Third."):
        renderer = MarkdownRenderer(con, clock=clock)
        for piece in chunks(reply):
            clock.now += 0.05
            renderer.feed(TextDelta(piece))
        renderer.finish()
        renderer.finish()  # a second finish is harmless
        out.write("> prompt\n")
    assert term.transcript.split("\n") == [
        "First reply.",
        "",
        " • a",
        " • b",
        "> prompt",
        "",
        " code",
        "",
        "> prompt",
        "Third.",
        "> prompt",
        "",
    ]
    assert term.cursor_visible


MODEL_ESCAPES = "\x1b[31mred\x1b[0m \x1b]0;pwned\x07 bell\x07 \x9b2J done\rover\n"


def test_model_escape_sequences_are_shown_not_obeyed() -> None:
    _, term, _ = stream(MODEL_ESCAPES, live=True)
    assert term.transcript == "^[[31mred^[[0m ^[]0;pwned^G bell^G <U+009B>2J done^Mover\n"
    plain = io.StringIO()
    renderer = PlainRenderer(plain, escape=True)
    for piece in chunks(MODEL_ESCAPES + "a\r\nb\r"):
        renderer.feed(TextDelta(piece))
    renderer.finish()
    assert plain.getvalue() == (
        "^[[31mred^[[0m ^[]0;pwned^G bell^G <U+009B>2J done^Mover\na\nb^M\n"
    )


def test_piped_text_is_exactly_the_models() -> None:
    out = io.StringIO()
    renderer = make_renderer(out=out, err=io.StringIO(), env={}, stdout_tty=False, stderr_tty=False)
    for piece in chunks(MODEL_ESCAPES):
        renderer.feed(TextDelta(piece))
    renderer.finish()
    assert out.getvalue() == MODEL_ESCAPES


# --- Modes ---------------------------------------------------------------------------------------


def run_renderer(env: dict[str, str], *, tty: bool, plain: bool = False) -> tuple[str, object]:
    out = io.StringIO()
    renderer = make_renderer(
        out=out, err=io.StringIO(), env=env, stdout_tty=tty, stderr_tty=tty, plain=plain
    )
    events: list[StreamEvent] = [TextDelta(p) for p in chunks("# Hi\n\nSome **bold** and `x`.\n")]
    for ev in events:
        renderer.feed(ev)
    renderer.finish()
    return out.getvalue(), renderer


def test_modes() -> None:
    raw = "# Hi\n\nSome **bold** and `x`.\n"
    term = {"TERM": "xterm-256color"}
    out, r = run_renderer(term, tty=True)
    assert isinstance(r, MarkdownRenderer) and "\x1b[1;36;40mx" in out  # bold cyan on black
    out, _ = run_renderer({**term, "NO_COLOR": "1"}, tty=True)
    assert "\x1b[1mbold\x1b[0m and \x1b[1mx\x1b[0m." in out  # bold stays, colour goes
    assert "**" not in out and "\x1b[1;4mHi" in out  # still Markdown
    for env, tty, plain in [
        (term, True, True),
        ({"TERM": "dumb"}, True, False),
        (term, False, False),
    ]:
        out, r = run_renderer(env, tty=tty, plain=plain)
        assert isinstance(r, PlainRenderer) and out == raw
    out, r = run_renderer({"FORCE_COLOR": "1", "TERM": "xterm-256color"}, tty=False)
    assert isinstance(r, MarkdownRenderer) and "\x1b[1m" in out
    assert "\x1b[?25l" not in out and "\x1b[J" not in out  # not a terminal: nothing redrawn
    assert wants_plain({"FORCE_COLOR": "1"}, False, True)
    assert not wants_plain({"FORCE_COLOR": "1", "TERM": "dumb"}, True, False)


def test_null_renderer_and_console_defaults() -> None:
    renderer = NullRenderer()
    renderer.feed(TextDelta("x"))
    renderer.finish()
    con = make_console(io.StringIO(), {"NO_COLOR": "1"}, tty=True, width=30, height=5)
    assert (con.width, con.height, con.no_color, con.is_terminal) == (30, 5, True, True)


# --- Code highlighting ---------------------------------------------------------------------------

HIGHLIGHTED = (
    "```python\n"
    "def f(x):\n"
    '    """A docstring\n'
    "    over three\n"
    '    lines."""\n'
    "    return x  # done\n"
    "```\n"
    "\n"
    "```c\n"
    "int main(void) {\n"
    "    /* a comment\n"
    "       over lines */\n"
    '    return printf("%d", 1);\n'
    "}\n"
    "```\n"
)


def cells(con: Console) -> list[list[tuple[str, str]]]:
    """What a colour terminal shows of a recording console: each line's characters with their
    colours, so tokens that are split or typed differently but look the same compare equal.
    (Read from the HTML export: rich caches a style's ANSI codes for the first colour system it
    meets, so ANSI text depends on what other tests drew before.)"""
    shown: list[list[tuple[str, str]]] = [[]]
    exported = con.export_html(inline_styles=True, code_format="{code}")
    for m in re.finditer(r'<span style="([^"]*)">(.*?)</span>|([^<]+)', exported, re.S):
        for ch in html.unescape(m[2] if m[1] is not None else m[3]):
            if ch == "\n":
                shown.append([])
            else:
                shown[-1].append((ch, m[1] or ""))
    return shown


@pytest.mark.parametrize("step", [0.2, 0.0])
def test_streamed_code_is_highlighted_as_a_one_shot_render(step: float) -> None:
    """Line by line (each feed a refresh: step 0.2) or all at the end, the lines of a fence are
    coloured in context: the docstring and the comment stay a string and a comment."""
    con = Console(file=io.StringIO(), width=WIDTH, color_system="truecolor", record=True)
    clock = Clock()
    renderer = MarkdownRenderer(con, clock=clock, live=False)
    for piece in chunks(HIGHLIGHTED):
        clock.now += step
        renderer.feed(TextDelta(piece))
    renderer.finish()
    whole = Console(file=io.StringIO(), width=WIDTH, color_system="truecolor", record=True)
    whole.print(Markdown(HIGHLIGHTED))
    shown = cells(con)
    assert shown == cells(whole)
    comment = [line for line in shown if "".join(ch for ch, _ in line).strip() == "over lines */"]
    assert comment and all("#959077" in style for ch, style in comment[0] if ch.strip())


# --- The CLI flags -------------------------------------------------------------------------------


def test_cli_reasoning_flags(env: dict[str, str], emulator: Emulator) -> None:
    reply = Reply.chat("The answer.", reasoning="deep secret thoughts", chunk_size=4)
    emulator.script(reply, reply, reply)
    tty = {"env": {**env, "TERM": "xterm"}, "stdout_tty": True, "stderr_tty": True}
    r = invoke(["ask", "--hide-reasoning", "hi"], **tty)  # type: ignore[arg-type]
    assert r.code == 0 and "secret" not in r.err + r.out and "The answer." in r.out
    r = invoke(["ask", "--show-reasoning", "hi"], **tty)  # type: ignore[arg-type]
    assert r.code == 0 and "deep secret thoughts" in r.err and "thought for" in r.err
    assert "secret" not in r.out
    r = invoke(["ask", "hi"], env=env, stdout_tty=False, stderr_tty=True)
    assert r.out == "The answer.\n" and "secret" not in r.err
    r = invoke(["ask", "--show-reasoning", "--hide-reasoning", "hi"], env=env)
    assert r.code == 2 and "exclude each other" in r.err


def test_a_table_on_a_narrow_terminal_wraps_its_cells_instead_of_cutting_them() -> None:
    table = (
        "| function | complexity |\n|---|---|\n"
        "| std::sort_with_a_long_name | O(n log n) on average |\n| std::stable_sort | O(n) |\n\n"
    )
    buf = io.StringIO()
    renderer = MarkdownRenderer(make_console(buf, {}, tty=True, width=30), None, live=False)
    renderer.feed(TextDelta(table))
    renderer.finish()
    shown = re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())
    assert "…" not in shown, shown
    assert all(cell_len(line) <= 30 for line in shown.splitlines())
    # every character of every cell is on the screen, in order, across the wrapped lines
    first_column = "".join(line[:14].strip() for line in shown.splitlines()[2:])
    assert "std::sort_with_a_long_name" in first_column and "std::stable_sort" in first_column
    assert "average" in shown
