"""`Spinner`: a small sign of waiting on stderr, from the moment a request is sent until the first
content or reasoning arrives: a turning mark and the seconds elapsed, redrawn in place on one line
and erased when it stops. Only on a terminal that can redraw (never in a pipe, never with
TERM=dumb or without TERM), and only after the first 0.3 s. Imports the standard library only.

    spinner = Spinner.for_terminal(rt.err, env=rt.env, tty=rt.stderr_tty)
    spinner.start()        # a thread draws every 0.1 s; the main thread stays on the network
    ...
    spinner.stop()         # idempotent; the line is cleared before anything else is drawn
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import IO

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
INTERVAL = 0.1


class Spinner:
    def __init__(
        self,
        out: IO[str] | None,
        *,
        label: str = "waiting for the model",
        clock: Callable[[], float] = time.monotonic,
        interval: float = INTERVAL,
    ) -> None:
        self._out = out  # None: a spinner that draws nothing (a pipe)
        self._label = label
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._drawn = False

    @classmethod
    def for_terminal(cls, out: IO[str], *, env: Mapping[str, str], tty: bool) -> Spinner:
        # An unknown terminal (no TERM) is not trusted to redraw a line either.
        return cls(out if tty and env.get("TERM", "") not in ("", "dumb") else None)

    def start(self) -> None:
        if self._out is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="mlchat-spinner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        began = self._clock()
        frame = 0
        # A short first wait: a fast reply never shows the spinner at all.
        while not self._stop.wait(self._interval * (3 if frame == 0 else 1)):
            seconds = int(self._clock() - began)
            text = f"\r{FRAMES[frame % len(FRAMES)]} {self._label} · {seconds} s\x1b[K"
            with self._lock:
                if self._stop.is_set():
                    return
                self._write(text)
                self._drawn = True
            frame += 1

    def _write(self, text: str) -> None:
        assert self._out is not None
        try:
            self._out.write(text)
            self._out.flush()
        except (OSError, ValueError):  # a terminal that went away: nothing more to draw
            self._stop.set()

    def clear(self) -> None:
        """Erase the line for something else to be written (`Runtime.note`); the next tick
        draws it again below."""
        with self._lock:
            if self._drawn:
                self._drawn = False
                self._write("\r\x1b[K")

    def stop(self) -> None:
        """Stop drawing and erase the line; safe to call more than once, and from `finally`."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=1.0)
        self.clear()
