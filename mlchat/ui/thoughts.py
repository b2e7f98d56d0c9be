"""Reasoning on the stderr console (`Thoughts`): a dim live window, or in full, then one line
("thought for 12 s"). Imports rich lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mlchat.text import StreamEscaper
from mlchat.ui.blocks import PIECE
from mlchat.ui.lines import render_lines
from mlchat.ui.screen import Screen

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.segment import Segment

Clock = Callable[[], float]

THOUGHT_LINES = 6
"""Lines of reasoning in the live window (fewer on a short terminal)."""
_THOUGHT_CHARS = 4096  # enough text to fill the window on any sane width; bounds each redraw


def thought_for(seconds: float) -> str:
    """The one-line summary of a reasoning phase."""
    if seconds < 10:
        return f"thought for {seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"thought for {whole} s"
    return f"thought for {whole // 60} min {whole % 60} s"


class Thoughts:
    """Reasoning, on the stderr console, dim and behind a bar. By default a small live window of
    its last lines under "thinking…", replaced by one summary line when the answer starts; `full`:
    every line kept (paragraphs committed as they end), then the summary line. On a console that
    cannot redraw (a file), the text as it came, then the summary line."""

    def __init__(self, screen: Screen, clock: Clock, *, full: bool) -> None:
        self._screen = screen
        self._clock = clock
        self._full = full
        self._parts: list[str] = []  # text not yet committed (or written)
        self._start: float | None = None
        self._at_line_start = True
        self._escape = StreamEscaper(True)

    @property
    def active(self) -> bool:
        return self._start is not None

    def feed(self, text: str) -> None:
        if self._start is None:
            self._start = self._clock()
        self._parts.append(self._escape(text))

    def close(self) -> None:
        self._screen.close()

    def draw(self, *, final: bool = False) -> None:
        from rich.text import Text

        console = self._screen.console
        text = "".join(self._parts)
        if not self._screen.live:
            self._parts = []
            if text:
                console.print(Text(text, style="dim italic"), end="", soft_wrap=True)
                self._at_line_start = text.endswith("\n")
            return
        if self._full:
            done, newline, rest = text.rpartition("\n")
            if final:
                done, newline, rest = text, "\n", ""
            elif len(rest) > PIECE:
                # A line that never ends is committed at a space (else anywhere), as a wrap:
                # the tail redrawn on every refresh stays short.
                cut = text.rfind(" ", len(text) - len(rest), len(text) - PIECE // 2)
                end = cut if cut >= 0 else len(text) - PIECE // 2
                done, newline, rest = text[:end], "\n", text[end + (cut >= 0) :]
            self._parts = [rest]
            dim = "dim italic"
            committed = render_lines(console, Indented(Text(done, style=dim))) if newline else []
            tail = render_lines(console, Indented(Text(rest, style=dim))) if rest else []
            self._screen.update(committed, tail)
            return
        # The window: the last few lines of the most recent text; older text is let go.
        recent = text[-_THOUGHT_CHARS:]
        self._parts = [recent]
        cut = recent.find("\n") if len(recent) == _THOUGHT_CHARS else -1
        body = recent[cut + 1 :].strip("\n")
        rows = max(1, min(THOUGHT_LINES, self._screen.max_rows() - 1))
        elapsed = self._clock() - (self._start or 0.0)
        header = Text(f"thinking… {elapsed:.0f} s", style="dim")
        lines = render_lines(console, Indented(Text(body, style="dim italic")))
        self._screen.update([], [*render_lines(console, header), *lines[-rows:]])

    def end(self) -> None:
        """The reasoning is over: summarise it in one line, then a blank line."""
        from rich.text import Text

        if self._start is None:
            return
        elapsed = self._clock() - self._start
        self._parts.append(self._escape.flush())
        if self._full or not self._screen.live:
            self.draw(final=True)
            if not self._at_line_start:
                self._screen.console.print()
        summary = Text(thought_for(elapsed), style="dim")
        self._screen.update([*render_lines(self._screen.console, summary), []], [])
        self._start = None
        self._parts = []
        self._at_line_start = True


class Indented:
    """A renderable drawn two cells in, behind a dim bar: reasoning set apart from the answer."""

    def __init__(self, inner: RenderableType) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: Any) -> Iterable[Segment]:
        from rich.segment import Segment
        from rich.style import Style

        bar = Segment("│ ", Style(dim=True))
        newline = Segment.line()
        lines = console.render_lines(
            self.inner, options.update(width=options.max_width - 2), pad=False
        )
        for line in lines:
            yield bar
            yield from line
            yield newline
