"""SIGTERM and SIGHUP take the same path as Ctrl-C. Imports: the standard library only.

Inside `interrupts()`, SIGTERM and SIGHUP raise `Terminated`, a KeyboardInterrupt, so every
`finally` and context manager that already handles Ctrl-C runs for them too: the HTTP response is
closed, the partial reply is kept (shown, and saved by whoever saves turns), the renderer leaves the
cursor on a fresh line, prompt_toolkit restores the terminal. The error boundary then exits with
128 + the signal number (143 for SIGTERM, 129 for SIGHUP), as a shell reports a process killed by
that signal, so `timeout`, supervisors and scripts can tell them from Ctrl-C (130).

A signal that the parent ignores (`nohup` ignores SIGHUP) stays ignored. After the first signal the
default action is restored, so a second SIGTERM ends a cleanup that hangs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_SIGINT = 130
HANDLED = ("SIGTERM", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """A termination signal, delivered as an interrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(exc: BaseException) -> int:
    """The exit code for an interrupt: 128 + signal for a termination signal, else 130."""
    return exc.exit_code if isinstance(exc, Terminated) else EXIT_SIGINT


def describe(exc: BaseException) -> str:
    return f"interrupted by {exc.name}" if isinstance(exc, Terminated) else "interrupted"


@contextmanager
def interrupts() -> Iterator[None]:
    """Deliver SIGTERM and SIGHUP as `Terminated` while the block runs (main thread only: Python
    runs signal handlers there, and `signal.signal` refuses other threads)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = [getattr(signal, name) for name in HANDLED if hasattr(signal, name)]
    previous: dict[int, signal._HANDLER] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        for s in previous:
            signal.signal(s, signal.SIG_DFL)
        raise Terminated(signum)

    for signum in signums:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN:
            continue
        previous[signum] = current
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
