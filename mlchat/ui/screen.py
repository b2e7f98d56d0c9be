"""The live region of a console (`Screen`), and the guard that keeps a redraw whole
(`interrupts_deferred`). Imports rich lazily.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlchat.ui.lines import Line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.segment import Segment


class Screen:
    """The live region of one console: drawn below everything committed, erased before anything
    else is written. At most one line less than the terminal's height, so every line of it can be
    reached and erased; when the terminal narrowed since the last draw, the lines it re-wrapped
    are counted too. The cursor is hidden while the region is up."""

    def __init__(self, console: Console, live: bool) -> None:
        self.console = console
        self.live = live
        self._widths: list[int] = []  # cell width of each line on screen
        self._width = 0  # the terminal's width when they were drawn
        self._cursor_hidden = False

    def _erase(self) -> list[Segment]:
        """What clears the live region's rows, from its last to its first, leaving the cursor at
        the start of the first. (Row by row: tmux pushes a screen cleared from its top-left
        corner with one "erase below" into its scrollback.)"""
        from rich.segment import ControlType, Segment

        if not self._widths:
            return []
        width = self.console.width
        if width < self._width:  # the terminal re-wrapped the lines that no longer fit
            rows = sum(max(1, -(-w // width)) for w in self._widths)
        else:
            rows = len(self._widths)
        codes = "\r\x1b[2K" + "\x1b[1A\x1b[2K" * (rows - 1)
        return [Segment(codes, None, [(ControlType.ERASE_IN_LINE, 2)])]

    def max_rows(self) -> int:
        return max(1, self.console.height - 1)

    def update(self, committed: list[Line], tail: list[Line]) -> None:
        """Erase the live region, write `committed` into the scrollback, then draw the last lines
        of `tail` as the new live region: one write."""
        from rich.control import Control
        from rich.segment import Segment

        segments = self._erase()
        newline = Segment.line()
        for line in committed:
            segments.extend(line)
            segments.append(newline)
        tail = tail[-self.max_rows() :] if self.live else []
        if tail and not self._cursor_hidden:
            segments.append(Control.show_cursor(False).segment)
            self._cursor_hidden = True  # before the write: showing it again is always safe
        for i, line in enumerate(tail):
            if i:
                segments.append(newline)
            segments.extend(line)
        self._write(segments)
        self._widths = [Segment.get_line_length(line) for line in tail]
        self._width = self.console.width

    def close(self) -> None:
        """Erase the live region and show the cursor again."""
        from rich.control import Control

        segments = self._erase()
        if self._cursor_hidden:
            segments.append(Control.show_cursor(True).segment)
        self._write(segments)
        self._widths = []
        self._cursor_hidden = False

    def _write(self, segments: list[Segment]) -> None:
        from rich.segment import Segments

        if segments:
            self.console.print(Segments(segments), end="", crop=False)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C during the block waits until it is done (a redraw takes milliseconds), then
    interrupts as usual: a redraw cut in half would leave what the terminal shows and what the
    renderer believes it shows apart, and `finish` could not clean up."""
    caught: list[int] = []
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if caught:
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt
        elif previous == signal.SIG_DFL:
            raise KeyboardInterrupt
