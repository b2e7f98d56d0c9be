"""Streaming Markdown at a cost linear in the reply's length (`MarkdownRenderer`):

- `Blocks` (ui/blocks.py) cuts the growing text into finished pieces: a block ends at a blank
  line outside a code fence; a top-level fence is streamed line by line. Each finished piece is
  rendered once, with rich, into the normal scrollback.
- Only the unfinished tail is live: `Screen` (ui/screen.py) draws it below the committed text,
  at most one line less than the terminal's height (its last lines when taller), and erases it
  before anything else is written, so nothing reaches the scrollback twice.
- Refreshes are throttled: one at most every `REFRESH_INTERVAL`, measured from the end of the
  previous one (measured from its start, a slow render would make the throttle fire on every feed),
  and no sooner than `CPU_SHARE` times what the previous one spent rendering the tail (at most
  `MAX_INTERVAL`), so that a tail that is costly to draw (a long paragraph, a table) takes a
  bounded share of the CPU.
- `CodeBlock` (ui/code.py) highlights a streamed fence batch by batch, each line in the context
  of the lines before it, so that a docstring or a comment spanning lines keeps its colour.
- `Thoughts` (ui/thoughts.py) shows reasoning on the stderr console: dimmed in a small live
  window that becomes one line ("thought for 12 s") when the answer starts, or in full
  (`--show-reasoning`).

Imports mlchat.types and the rest of mlchat.ui; rich lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlchat.types import ReasoningDelta, StreamEvent, TextDelta
from mlchat.ui.blocks import Blocks
from mlchat.ui.code import CodeBlock, label_of
from mlchat.ui.lines import Line, markdown_lines
from mlchat.ui.screen import Screen, interrupts_deferred
from mlchat.ui.thoughts import Thoughts

if TYPE_CHECKING:
    from rich.console import Console

Clock = Callable[[], float]

REFRESH_INTERVAL = 1 / 12
"""Seconds from the end of one refresh to the next: about 12 redraws a second at most."""

CPU_SHARE = 50
"""The gap after a refresh is at least this many times what it spent rendering the tail:
rendering it again and again takes at most about 2% of the time."""

MAX_INTERVAL = 1.0
"""Seconds: however costly the last refresh, the next one is no further away than this."""


class MarkdownRenderer:
    """Streams Markdown on a console: finished blocks are committed once, rendered, into the
    scrollback; the unfinished tail is live-drawn (when `live`: a terminal that can redraw) and
    committed at `finish`. Reasoning goes to `reasoning` (the stderr console) or nowhere.
    `refreshes` counts redraws."""

    def __init__(
        self,
        console: Console,
        reasoning: Console | None = None,
        *,
        clock: Clock = time.monotonic,
        live: bool | None = None,
        reasoning_live: bool | None = None,
        full_reasoning: bool = False,
        interval: float = REFRESH_INTERVAL,
        hyperlinks: bool = False,
        numbered: bool = False,
    ) -> None:
        self._console = console
        # Each fenced code block shows its number (the chat's /copy N and /run N), counted as
        # mlchat/fences.py counts them: in document order, those in lists and quotes included.
        self._numbered = numbered
        self._hyperlinks = hyperlinks  # OSC 8 for links (ui/links.py); their targets show anyway
        self._clock = clock
        self._interval = interval
        self._screen = Screen(console, console.is_terminal if live is None else live)
        self._thoughts: Thoughts | None = None
        if reasoning is not None:
            can = reasoning.is_terminal if reasoning_live is None else reasoning_live
            self._thoughts = Thoughts(Screen(reasoning, can), clock, full=full_reasoning)
        self.refreshes = 0
        self._reset()

    def _reset(self) -> None:
        self._blocks = Blocks()
        self._code: CodeBlock | None = None
        self._fences = 0  # fenced code blocks committed so far
        self._started = False  # something of this reply is in the scrollback
        self._separate = False  # a blank line goes before the next block
        self._dirty = False
        self._last_end = -float("inf")
        self._gap = self._interval  # from the end of the last refresh to the next one

    def prepare(self) -> None:
        """Load rich's Markdown and its parser (about 50 ms of imports) by rendering a sample
        off screen: `console.render` draws nothing."""
        markdown_lines(self._console, "*Warm* `up`", hyperlinks=self._hyperlinks)

    def feed(self, ev: StreamEvent) -> None:
        thoughts = self._thoughts
        match ev:
            case TextDelta(text=text) if text:
                self._blocks.feed(text)
                self._dirty = True
                switch = thoughts is not None and thoughts.active  # the answer starts
            case ReasoningDelta(text=text) if text and thoughts is not None:
                switch = not thoughts.active  # reasoning starts (or resumes)
                thoughts.feed(text)
            case _:
                return
        if switch:
            self._last_end = -float("inf")  # the first words of a phase show at once
        if self._clock() - self._last_end < self._gap:
            return
        with interrupts_deferred():
            if switch and thoughts is not None:
                if isinstance(ev, TextDelta):
                    thoughts.end()
                else:
                    self._screen.update(self._pending(), [])  # the answer's tail makes way
            self._refresh()

    def _refresh(self) -> None:
        spent = 0.0  # time drawing what is redrawn next time too (not what is committed once)
        if self._thoughts is not None and self._thoughts.active:
            start = self._clock()
            self._thoughts.draw()
            spent = self._clock() - start
        elif self._dirty:
            pending = self._pending()
            start = self._clock()
            tail = self._tail() if self._screen.live else []
            spent = self._clock() - start
            self._screen.update(pending, tail)
            self._dirty = False
        else:
            return
        self.refreshes += 1
        self._last_end = self._clock()
        self._gap = min(MAX_INTERVAL, max(self._interval, CPU_SHARE * spent))

    def finish(self) -> None:
        with interrupts_deferred():
            try:
                if self._thoughts is not None and self._thoughts.active:
                    self._thoughts.end()
                self._blocks.finish()
                self._screen.update(self._pending(), [])
            finally:
                try:
                    self._screen.close()
                finally:
                    if self._thoughts is not None:
                        self._thoughts.close()
                    self._reset()

    def _pending(self) -> list[Line]:
        """Render what `Blocks` finished since the last call: each piece exactly once."""
        out: list[Line] = []
        code: list[str] = []
        reopened = set(self._blocks.reopened)
        for index, (kind, text) in enumerate([*self._blocks.out, ("", "")]):
            if index in reopened:
                self._fences -= 1  # its first fence is the last one, continued
            if kind != "code" and code:
                assert self._code is not None
                out.extend(self._code.render(code))
                code = []
            if kind in ("md", "item"):
                lines, separate, count = markdown_lines(
                    self._console, text, hyperlinks=self._hyperlinks, first_fence=self._first()
                )
                self._fences += count
                if lines:
                    out.extend(self._separated(lines, joined=kind == "item"))
                    self._separate = separate
                    self._started = True
            elif kind == "open":
                self._code = CodeBlock(self._console, text)
                self._fences += 1
                label = label_of(self._fences) if self._numbered else ""
                out.extend(self._separated([self._code.pad(label)]))
                self._started = True
            elif kind == "code":
                code.append(text)
            elif kind == "close":
                assert self._code is not None
                if not self._code.lines:  # rich shows an empty code block as one empty line
                    out.extend(self._code.render([""]))
                out.append(self._code.pad())
                self._code = None
                self._separate = True
        self._blocks.out = []
        self._blocks.reopened = []
        return out

    def _separated(self, lines: list[Line], *, joined: bool = False) -> list[Line]:
        """`lines` with the blank line rich puts between two blocks of one document, unless they
        continue the list before them (`joined`). rich starts a block whose inner elements end
        with a paragraph (a list, a table, a quote) with that blank line itself, even at the top
        of the document: there it is dropped."""
        from rich.segment import Segment

        if lines and not Segment.get_line_length(lines[0]):
            return lines if self._started and not joined else lines[1:]
        return [[], *lines] if self._separate and not joined else lines

    def _first(self, *, tail: bool = False) -> int | None:
        """The number of the next fenced block, when blocks are numbered (in the tail, that of
        the last one when the tail continues it)."""
        if not self._numbered:
            return None
        return self._fences + (0 if tail and self._blocks.reopening else 1)

    def _tail(self) -> list[Line]:
        kind, lines = self._blocks.tail(self._screen.max_rows())
        if not lines:
            return []
        if kind == "code":
            assert self._code is not None
            return self._code.render(lines, commit=False)
        rendered, _, _ = markdown_lines(
            self._console,
            "\n".join(lines),
            hyperlinks=self._hyperlinks,
            first_fence=self._first(tail=True),
        )
        return self._separated(rendered, joined=kind == "item") if rendered else []
