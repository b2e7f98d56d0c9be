"""Drawing one reply: the `Renderer` protocol, the plain renderer (raw text for pipes, `--plain`
and dumb terminals) and `make_renderer`, which picks the Markdown renderer on a terminal.
Imports mlchat.types, mlchat.text and the rest of mlchat.ui; rich only through them, lazily.

Renderers consume the same stream events as every other layer (`feed`), and `finish` leaves the
cursor visible at the start of a fresh line, with no live region left, whether the reply completed
or was cut short (Ctrl-C between two feeds). A renderer draws one reply; make one per reply on a
long-lived console.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Literal, Protocol

from mlchat.text import StreamEscaper
from mlchat.types import ReasoningDelta, StreamEvent, TextDelta
from mlchat.ui.console import can_redraw, make_console, wants_plain

if TYPE_CHECKING:
    from rich.console import Console

ReasoningMode = Literal["auto", "hide", "show"]
Clock = Callable[[], float]


class Renderer(Protocol):
    def prepare(self) -> None:
        """Get ready to draw (heavy imports, caches) without drawing anything: called while the
        request is answered, so that the first token is drawn at once."""

    def feed(self, ev: StreamEvent) -> None: ...

    def finish(self) -> None: ...


class NullRenderer:
    """Draws nothing: for `--json`, where the whole reply is printed at the end."""

    def prepare(self) -> None:
        pass

    def feed(self, ev: StreamEvent) -> None:
        pass

    def finish(self) -> None:
        pass


class PlainRenderer:
    """Writes text deltas as they arrive, flushed each time, with no styling. The reply ends with
    exactly one newline. Reasoning goes to `reasoning_out` (stderr) or nowhere. On a terminal
    (`escape=True`, e.g. `--plain` or TERM=dumb) control characters are shown escaped; in a pipe
    the text is exactly the model's."""

    def __init__(
        self,
        out: IO[str],
        reasoning_out: IO[str] | None = None,
        *,
        escape: bool = False,
        reasoning_escape: bool = False,
    ) -> None:
        self._out = out
        self._reasoning_out = reasoning_out
        self._escape = StreamEscaper(escape)
        self._reasoning_escape = StreamEscaper(reasoning_escape)
        self._last = ""
        self._in_reasoning = False

    def prepare(self) -> None:
        pass  # nothing to load

    def feed(self, ev: StreamEvent) -> None:
        if isinstance(ev, TextDelta) and ev.text:
            if self._in_reasoning:
                self._end_reasoning()
            self._write(self._escape(ev.text))
        elif isinstance(ev, ReasoningDelta) and self._reasoning_out is not None and ev.text:
            self._in_reasoning = True
            self._reasoning_out.write(self._reasoning_escape(ev.text))
            self._reasoning_out.flush()

    def _write(self, text: str) -> None:
        if text:
            # Noted first: a Ctrl-C during the flush must not cost the reply its final newline.
            self._last = text[-1]
            self._out.write(text)
            self._out.flush()

    def _end_reasoning(self) -> None:
        assert self._reasoning_out is not None
        self._reasoning_out.write(self._reasoning_escape.flush() + "\n\n")
        self._reasoning_out.flush()
        self._in_reasoning = False

    def finish(self) -> None:
        if self._in_reasoning:
            self._end_reasoning()
        self._write(self._escape.flush())
        if self._last and self._last != "\n":
            self._out.write("\n")
            self._last = "\n"
        self._out.flush()


def make_renderer(
    *,
    out: IO[str],
    err: IO[str],
    env: Mapping[str, str],
    stdout_tty: bool,
    stderr_tty: bool,
    plain: bool = False,
    reasoning: ReasoningMode = "auto",
    clock: Clock = time.monotonic,
    console: Console | None = None,
    err_console: Console | None = None,
    numbered: bool = False,
) -> Renderer:
    """The renderer for one reply. Reasoning is shown on stderr when asked (`show`), or by default
    when both stdout and stderr are terminals; never on stdout. `console`/`err_console` let a
    long-lived caller (the REPL) reuse its consoles."""
    show_reasoning = reasoning == "show" or (reasoning == "auto" and stdout_tty and stderr_tty)
    if wants_plain(env, stdout_tty, plain):
        return PlainRenderer(
            out,
            err if show_reasoning else None,
            escape=stdout_tty,
            reasoning_escape=stderr_tty,
        )
    reasoning_console = None
    if show_reasoning:
        reasoning_console = err_console or make_console(err, env, tty=stderr_tty)
    from mlchat.ui.links import hyperlinks_supported
    from mlchat.ui.markdown import MarkdownRenderer

    return MarkdownRenderer(
        console or make_console(out, env, tty=stdout_tty),
        reasoning_console,
        clock=clock,
        live=can_redraw(env, stdout_tty),
        reasoning_live=can_redraw(env, stderr_tty),
        full_reasoning=reasoning == "show",
        hyperlinks=hyperlinks_supported(env),
        numbered=numbered,
    )
