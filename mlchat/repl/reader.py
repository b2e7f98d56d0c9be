"""Where the REPL's input comes from: the `LineReader` seam, the plain reader for pipes and
files, and the choice between it and the prompt_toolkit reader (prompt.py, imported only when a
person is at a terminal, so a piped chat never loads prompt_toolkit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from mlchat.errors import UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.repl.complete import Candidate


class LineReader(Protocol):
    """Where the REPL's input comes from.

    `read` returns one message or command (possibly many lines), or None at the end of input
    (Ctrl-D, EOF). It raises KeyboardInterrupt when the user abandons the line (Ctrl-C).
    `default` pre-fills the input, for /edit. `interactive` is False when nobody is typing
    (stdin is a pipe or a file): Ctrl-C then ends the session instead of returning to a prompt.
    """

    interactive: bool

    def read(self, default: str = "") -> str | None: ...

    def replying(self) -> AbstractContextManager[None]:
        """Held while a reply streams: what the reader needs to keep keys typed ahead."""
        ...


class PlainReader:
    """One message per line from a stream (a pipe, a file): no prompt, no editing, no escapes.
    Blank lines are skipped; slash commands work as on a terminal."""

    def __init__(self, stream: IO[bytes] | IO[str], *, interactive: bool = False) -> None:
        self._stream = stream
        self.interactive = interactive
        self._lines = 0

    def read(self, default: str = "") -> str | None:
        if self._lines == 0:
            self._refuse_binary()
        while True:
            raw: bytes | str = self._stream.readline()
            if not raw:
                return None
            self._lines += 1
            line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            if "\x00" in line:  # `chat < /bin/ls`: every line would be a paid request
                raise UsageError(
                    f"stdin looks binary (line {self._lines} contains NUL bytes); "
                    "it was not sent, and the chat stops here",
                    hint="a piped chat reads text: one message per line",
                )
            line = line.rstrip("\r\n")
            if line.strip():
                return line

    def _refuse_binary(self) -> None:
        """As `ask` does for its stdin: a stream whose first bytes are not text is refused before
        its first line is sent. Looks without reading (a pipe's buffer, as far as it is filled)."""
        from mlchat.prompt_input import SAMPLE, binary_reason

        peek = getattr(self._stream, "peek", None)
        sample = peek(SAMPLE)[:SAMPLE] if callable(peek) else b""
        reason = binary_reason(sample) if isinstance(sample, bytes) else None
        if reason is not None:
            raise UsageError(
                f"stdin looks binary ({reason}); nothing was sent",
                hint="a piped chat reads text: one message per line",
            )

    def replying(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


def default_reader(
    rt: Runtime,
    history: Path | None,
    toolbar: Callable[[], str],
    complete: Callable[[str], list[Candidate]],
    *,
    vi: bool = False,
) -> LineReader:
    """prompt_toolkit when a person is at a terminal (`vi`: its vi keys); plain lines
    otherwise."""
    if rt.stdin_tty and (rt.stdout_tty or rt.stderr_tty):
        from mlchat.history import HistoryFile
        from mlchat.repl.prompt import PromptReader

        return PromptReader(
            history=HistoryFile(history, warn=rt.warn) if history is not None else None,
            toolbar=toolbar,
            complete=complete,
            vi=vi,
        )
    assert rt.stdin is not None
    return PlainReader(rt.stdin, interactive=bool(rt.stdin_tty))
