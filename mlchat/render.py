"""Everything that draws a reply: raw text for pipes, Markdown on a terminal. The home of rich (and
of pygments, which rich brings for its Syntax), imported lazily so that commands which draw
nothing never load them. Imports mlchat.types and mlchat.sanitize.

Renderers consume the same stream events as every other layer (`feed`), and `finish` leaves the
cursor visible at the start of a fresh line, with no live region left, whether the reply completed
or was cut short (Ctrl-C between two feeds). A renderer draws one reply; make one per reply on a
long-lived console.

Streaming Markdown at a cost linear in the reply's length (`MarkdownRenderer`):

- `Blocks` cuts the growing text into finished pieces: a block ends at a blank line outside a code
  fence; a top-level fence is streamed line by line. Each finished piece is rendered once, with
  rich, into the normal scrollback.
- Only the unfinished tail is live: `_Screen` draws it below the committed text, at most one line
  less than the terminal's height (its last lines when taller), and erases it before anything else
  is written, so nothing reaches the scrollback twice.
- Refreshes are throttled: one at most every `REFRESH_INTERVAL`, measured from the end of the
  previous one (measured from its start, a slow render would make the throttle fire on every feed).
- `_Code` highlights a streamed fence batch by batch, each line in the context of the lines before
  it, so that a docstring or a comment spanning lines keeps its colour.
- `_Thoughts` shows reasoning on the stderr console: dimmed in a small live window that becomes one
  line ("thought for 12 s") when the answer starts, or in full (`--show-reasoning`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from mlchat.mdblocks import Blocks
from mlchat.sanitize import escape_controls
from mlchat.types import ReasoningDelta, StreamEvent, TextDelta

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.segment import Segment
    from rich.syntax import SyntaxTheme

ReasoningMode = Literal["auto", "hide", "show"]
Clock = Callable[[], float]
Line = list["Segment"]

REFRESH_INTERVAL = 1 / 12
"""Seconds from the end of one refresh to the next: about 12 redraws a second at most."""
CODE_THEME = "monokai"
"""rich Markdown's own code theme, so streamed code looks exactly like a one-shot render."""
THOUGHT_LINES = 6
"""Lines of reasoning in the live window (fewer on a short terminal)."""
_THOUGHT_CHARS = 4096  # enough text to fill the window on any sane width; bounds each redraw


class Renderer(Protocol):
    def feed(self, ev: StreamEvent) -> None: ...

    def finish(self) -> None: ...


class NullRenderer:
    """Draws nothing: for `--json`, where the whole reply is printed at the end."""

    def feed(self, ev: StreamEvent) -> None:
        pass

    def finish(self) -> None:
        pass


def _forced(env: Mapping[str, str]) -> bool:
    return bool(env.get("FORCE_COLOR"))


def wants_plain(env: Mapping[str, str], stdout_tty: bool, plain: bool) -> bool:
    """Raw text for `--plain`, and unless FORCE_COLOR asks for colour, when stdout is not a
    terminal or is a dumb one (TERM=dumb)."""
    if plain:
        return True
    return not _forced(env) and (not stdout_tty or env.get("TERM", "") == "dumb")


def can_redraw(env: Mapping[str, str], tty: bool) -> bool:
    """Whether a live region may be drawn: a real terminal that understands cursor movement."""
    return tty and env.get("TERM", "") != "dumb"


def make_console(
    file: IO[str],
    env: Mapping[str, str],
    *,
    tty: bool,
    width: int | None = None,
    height: int | None = None,
) -> Console:
    """A console for `file`. NO_COLOR (non-empty) removes colour but keeps bold, italic, dim and
    the layout; FORCE_COLOR (non-empty) styles output that is not a terminal."""
    from rich.console import Console

    styled = tty or _forced(env)
    return Console(
        file=file,
        force_terminal=styled,
        no_color=bool(env.get("NO_COLOR")),
        color_system="auto" if styled else None,
        width=width,
        height=height,
        highlight=False,
        _environ=dict(env),
    )


class _Escaper:
    """`escape_controls` across chunk boundaries: a CR at the end of a chunk waits for the next
    one, in case it is the first half of a CRLF."""

    def __init__(self, active: bool) -> None:
        self._active = active
        self._cr = False

    def __call__(self, text: str) -> str:
        if not self._active:
            return text
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r")
        return escape_controls(text[:-1] if self._cr else text)

    def flush(self) -> str:
        was, self._cr = self._cr, False
        return escape_controls("\r") if was else ""


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
        self._escape = _Escaper(escape)
        self._reasoning_escape = _Escaper(reasoning_escape)
        self._last = ""
        self._in_reasoning = False

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


# --- Code highlighted line by line --------------------------------------------------------------


@cache
def _replay_class() -> type[Any]:
    """A pygments Lexer that hands rich's Syntax tokens lexed in advance (by `_Code`)."""
    from pygments.lexer import Lexer  # type: ignore[import-untyped]

    class Replay(Lexer):  # type: ignore[misc]
        def __init__(self, tokens: list[tuple[Any, str]]) -> None:
            super().__init__(stripnl=False, ensurenl=False)
            self.tokens = tokens

        def get_tokens(self, text: str, unfiltered: bool = False) -> Iterable[tuple[Any, str]]:
            return iter(self.tokens)

    return Replay


class _Code:
    """One fenced code block, rendered batch by batch of finished lines exactly as rich's Markdown
    renders a whole code block (Syntax, word-wrapped, one cell of padding, the Markdown theme),
    each line coloured in the context of the lines before it, at a cost bounded per batch: the
    last ~2 KB of the block (whole lines) is lexed again with the new lines through pygments'
    public `get_tokens`, and only the new lines' tokens are kept. So a string, docstring or comment
    opened up to a screenful or two earlier still colours as one.

    What no streaming renderer can match is a token a one-shot render recognises only thanks to
    lines that have not arrived yet (JavaScript's one-regex `/* ... */` comment, while still open);
    such a line is coloured as what it is so far. A construct open for more than the window is
    coloured from the window's start.
    """

    _WINDOW = 2048  # chars of earlier lines lexed again with each batch

    def __init__(self, console: Console, info: str) -> None:
        from rich.syntax import Syntax

        self._console = console
        self._theme: SyntaxTheme = Syntax.get_theme(CODE_THEME)
        # Exactly rich's CodeBlock: the info string's first word names the lexer; unknown: text.
        syntax = Syntax("", info.partition(" ")[0] or "text", tab_size=4)
        self._lexer: Any = syntax.lexer or syntax.default_lexer
        self._before = ""  # committed lines lexed again with the next ones
        self.lines = 0

    def pad(self) -> Line:
        """The blank line of background above and below the code."""
        from rich.segment import Segment

        width = self._console.width
        return [Segment(" " * width, self._theme.get_background_style())]

    def render(self, lines: list[str], *, commit: bool = True) -> list[Line]:
        """Finished lines (`commit`), or a preview of the unfinished ones that changes nothing."""
        lines = [line.expandtabs(4) for line in lines]
        text = "".join(line + "\n" for line in lines)
        before = self._before
        base = len(before)
        found, pos = [], 0
        for ttype, value in self._lexer.get_tokens(before + text):
            found.append((pos, ttype, value))
            pos += len(value)
        tokens = [
            (ttype, value[base - pos :] if pos < base else value)
            for pos, ttype, value in found
            if pos + len(value) > base
        ]
        if commit:
            self.lines += len(lines)
            kept = (before + text)[-self._WINDOW :]
            self._before = kept[kept.find("\n") + 1 :] if len(kept) == self._WINDOW else kept
        return self._syntax_lines("\n".join(lines), tokens)

    def _syntax_lines(self, code: str, tokens: list[tuple[Any, str]]) -> list[Line]:
        from rich.syntax import Syntax

        syntax = Syntax(
            code, _replay_class()(tokens), theme=self._theme, word_wrap=True, padding=(0, 1)
        )
        return _lines(self._console, syntax)


def _lines(console: Console, renderable: RenderableType) -> list[Line]:
    """`renderable` as the console would print it, cut into lines (without newlines), less the
    invisible spaces rich pads lines with: copied from the terminal, lines have no trailing
    blanks, and a narrower terminal re-wraps fewer of them."""
    from rich.segment import Segment

    return [
        _trim(line)
        for line in Segment.split_and_crop_lines(
            console.render(renderable, console.options),
            console.width,
            pad=False,
            include_new_lines=False,
        )
    ]


_SHOWS_BLANKS = ("bgcolor", "underline", "underline2", "reverse", "strike", "overline")


def _trim(line: Line) -> Line:
    while line:
        text, style, control = line[-1]
        if control or (style is not None and any(getattr(style, a) for a in _SHOWS_BLANKS)):
            break
        kept = text.rstrip(" ")
        if kept:
            line[-1] = line[-1]._replace(text=kept)
            break
        line.pop()
    return line


def _markdown(console: Console, text: str) -> tuple[list[Line], bool]:
    """A block rendered as rich Markdown, and whether a blank line must separate it from the next
    one (rich puts none after a horizontal rule)."""
    from rich.markdown import Markdown

    md = Markdown(text, code_theme=CODE_THEME)
    if not md.parsed:
        return [], False
    return _lines(console, md), md.parsed[-1].type != "hr"


# --- The live region ----------------------------------------------------------------------------


class _Screen:
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
def _interrupts_deferred() -> Iterator[None]:
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


# --- Reasoning ----------------------------------------------------------------------------------


def thought_for(seconds: float) -> str:
    """The one-line summary of a reasoning phase."""
    if seconds < 10:
        return f"thought for {seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"thought for {whole} s"
    return f"thought for {whole // 60} min {whole % 60} s"


class _Thoughts:
    """Reasoning, on the stderr console, dim and behind a bar. By default a small live window of
    its last lines under "thinking…", replaced by one summary line when the answer starts; `full`:
    every line kept (paragraphs committed as they end), then the summary line. On a console that
    cannot redraw (a file), the text as it came, then the summary line."""

    def __init__(self, screen: _Screen, clock: Clock, *, full: bool) -> None:
        self._screen = screen
        self._clock = clock
        self._full = full
        self._parts: list[str] = []  # text not yet committed (or written)
        self._start: float | None = None
        self._at_line_start = True
        self._escape = _Escaper(True)

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
            self._parts = [rest]
            dim = "dim italic"
            committed = _lines(console, _Indented(Text(done, style=dim))) if newline else []
            tail = _lines(console, _Indented(Text(rest, style=dim))) if rest else []
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
        lines = _lines(console, _Indented(Text(body, style="dim italic")))
        self._screen.update([], [*_lines(console, header), *lines[-rows:]])

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
        self._screen.update([*_lines(self._screen.console, summary), []], [])
        self._start = None
        self._parts = []
        self._at_line_start = True


class _Indented:
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


# --- The Markdown renderer ----------------------------------------------------------------------


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
    ) -> None:
        self._console = console
        self._clock = clock
        self._interval = interval
        self._screen = _Screen(console, console.is_terminal if live is None else live)
        self._thoughts: _Thoughts | None = None
        if reasoning is not None:
            can = reasoning.is_terminal if reasoning_live is None else reasoning_live
            self._thoughts = _Thoughts(_Screen(reasoning, can), clock, full=full_reasoning)
        self.refreshes = 0
        self._reset()

    def _reset(self) -> None:
        self._blocks = Blocks()
        self._code: _Code | None = None
        self._started = False  # something of this reply is in the scrollback
        self._separate = False  # a blank line goes before the next block
        self._dirty = False
        self._last_end = -float("inf")

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
        if self._clock() - self._last_end < self._interval:
            return
        with _interrupts_deferred():
            if switch and thoughts is not None:
                if isinstance(ev, TextDelta):
                    thoughts.end()
                else:
                    self._screen.update(self._pending(), [])  # the answer's tail makes way
            self._refresh()

    def _refresh(self) -> None:
        if self._thoughts is not None and self._thoughts.active:
            self._thoughts.draw()
        elif self._dirty:
            self._screen.update(self._pending(), self._tail() if self._screen.live else [])
            self._dirty = False
        else:
            return
        self.refreshes += 1
        self._last_end = self._clock()

    def finish(self) -> None:
        with _interrupts_deferred():
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
        for kind, text in [*self._blocks.out, ("", "")]:
            if kind != "code" and code:
                assert self._code is not None
                out.extend(self._code.render(code))
                code = []
            if kind in ("md", "item"):
                lines, separate = _markdown(self._console, text)
                if lines:
                    out.extend(self._separated(lines, joined=kind == "item"))
                    self._separate = separate
                    self._started = True
            elif kind == "open":
                self._code = _Code(self._console, text)
                out.extend(self._separated([self._code.pad()]))
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

    def _tail(self) -> list[Line]:
        kind, lines = self._blocks.tail()
        if not lines:
            return []
        if kind == "code":
            assert self._code is not None
            return self._code.render(lines, commit=False)
        rendered, _ = _markdown(self._console, "\n".join(lines))
        return self._separated(rendered, joined=kind == "item") if rendered else []


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
    return MarkdownRenderer(
        console or make_console(out, env, tty=stdout_tty),
        reasoning_console,
        clock=clock,
        live=can_redraw(env, stdout_tty),
        reasoning_live=can_redraw(env, stderr_tty),
        full_reasoning=reasoning == "show",
    )
