"""Everything that draws a reply: plain text for pipes, Markdown on a terminal. The home of rich,
imported lazily so that commands which draw nothing never load it.

Renderers consume the same stream events as every other layer (`feed`), and `finish` leaves the
cursor at the start of a fresh line whether the reply completed or was cut short.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Literal, Protocol

from mlchat.types import ReasoningDelta, StreamEvent, TextDelta

if TYPE_CHECKING:
    from rich.console import Console

ReasoningMode = Literal["auto", "hide", "show"]


class Renderer(Protocol):
    def feed(self, ev: StreamEvent) -> None: ...

    def finish(self) -> None: ...


class NullRenderer:
    """Draws nothing: for `--json`, where the whole reply is printed at the end."""

    def feed(self, ev: StreamEvent) -> None:
        pass

    def finish(self) -> None:
        pass


def wants_plain(env: Mapping[str, str], stdout_tty: bool, plain: bool) -> bool:
    """Raw text unless stdout is a terminal that can show more (`--plain`, TERM=dumb)."""
    return plain or not stdout_tty or env.get("TERM", "") == "dumb"


def make_console(
    file: IO[str], env: Mapping[str, str], *, tty: bool, width: int | None = None
) -> Console:
    from rich.console import Console

    no_color = bool(env.get("NO_COLOR"))
    force = bool(env.get("FORCE_COLOR"))
    return Console(
        file=file,
        force_terminal=tty or force,
        no_color=no_color,
        color_system=None if (no_color or not (tty or force)) else "auto",
        width=width,
        highlight=False,
        _environ=dict(env),
    )


class PlainRenderer:
    """Writes text deltas as they arrive, flushed each time, with no escape codes. The reply
    ends with exactly one newline. Reasoning goes to `reasoning_out` (stderr) or nowhere."""

    def __init__(self, out: IO[str], reasoning_out: IO[str] | None = None) -> None:
        self._out = out
        self._reasoning_out = reasoning_out
        self._last = ""
        self._in_reasoning = False

    def feed(self, ev: StreamEvent) -> None:
        if isinstance(ev, TextDelta) and ev.text:
            if self._in_reasoning:
                self._end_reasoning()
            # Remember the last character before writing: a Ctrl-C that lands right after the
            # write must still let finish() end the line.
            self._last = ev.text[-1]
            self._out.write(ev.text)
            self._out.flush()
        elif isinstance(ev, ReasoningDelta) and self._reasoning_out is not None and ev.text:
            self._in_reasoning = True
            self._reasoning_out.write(ev.text)
            self._reasoning_out.flush()

    def _end_reasoning(self) -> None:
        assert self._reasoning_out is not None
        self._reasoning_out.write("\n\n")
        self._reasoning_out.flush()
        self._in_reasoning = False

    def finish(self) -> None:
        if self._in_reasoning:
            self._end_reasoning()
        if self._last and self._last != "\n":
            self._out.write("\n")
            self._last = "\n"
        self._out.flush()


class MarkdownRenderer:
    """Renders Markdown block by block: a block is committed (rendered once, into the normal
    scrollback) when a blank line outside a code fence ends it; the unfinished rest is rendered
    when the reply ends. Reasoning streams dimmed on the stderr console."""

    def __init__(self, console: Console, reasoning: Console | None = None) -> None:
        self._console = console
        self._reasoning = reasoning
        self._pending: list[str] = []  # completed lines of the current block
        self._partial = ""  # the line being received
        self._fence: str | None = None
        self._in_reasoning = False

    def feed(self, ev: StreamEvent) -> None:
        if isinstance(ev, ReasoningDelta) and self._reasoning is not None and ev.text:
            self._in_reasoning = True
            self._reasoning.print(ev.text, style="dim italic", end="", soft_wrap=True)
            self._reasoning.file.flush()
            return
        if not isinstance(ev, TextDelta) or not ev.text:
            return
        if self._in_reasoning:
            self._end_reasoning()
        lines = (self._partial + ev.text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        stripped = line.strip()
        marker = stripped[:3]
        if self._fence is None and marker in ("```", "~~~"):
            self._fence = marker
        elif self._fence is not None and stripped.startswith(self._fence):
            self._fence = None
        if not stripped and self._fence is None:
            self._commit()
        else:
            self._pending.append(line)

    def _commit(self) -> None:
        if any(line.strip() for line in self._pending):
            from rich.markdown import Markdown

            self._console.print(Markdown("\n".join(self._pending)))
            self._console.file.flush()
        self._pending = []

    def _end_reasoning(self) -> None:
        assert self._reasoning is not None
        self._reasoning.print("\n")
        self._in_reasoning = False

    def finish(self) -> None:
        if self._in_reasoning:
            self._end_reasoning()
        if self._partial:
            self._pending.append(self._partial)
            self._partial = ""
        self._commit()


def make_renderer(
    *,
    out: IO[str],
    err: IO[str],
    env: Mapping[str, str],
    stdout_tty: bool,
    stderr_tty: bool,
    plain: bool = False,
    reasoning: ReasoningMode = "auto",
) -> Renderer:
    show_reasoning = reasoning == "show" or (reasoning == "auto" and stdout_tty and stderr_tty)
    if wants_plain(env, stdout_tty, plain):
        return PlainRenderer(out, err if show_reasoning else None)
    reasoning_console = make_console(err, env, tty=stderr_tty) if show_reasoning else None
    return MarkdownRenderer(make_console(out, env, tty=True), reasoning_console)
