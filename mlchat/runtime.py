"""The Runtime: everything a command needs from the process, gathered once and injectable.

The root callback builds one from the real process; tests pass their own through
`CliRunner.invoke(app, args, obj=Runtime(...))`, with an `httpx.MockTransport` or nothing (the
emulator). Imports the standard library and mlchat.text (pure); httpx types appear only under
TYPE_CHECKING.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx  # a type only, never imported at run time


def mask(key: str) -> str:
    """What may be shown of a key: its last 4 characters (nothing of a short one). The one rule
    every output follows: errors, --debug lines, `key status`, `config show`."""
    return "…" + key[-4:] if len(key) > 8 else "****"


def _ask_line(prompt: str) -> str:
    """One line typed at the terminal, the prompt on stderr (stdout is kept for the answer)."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


def _getpass(prompt: str) -> str:
    """Hidden input from the terminal (getpass talks to /dev/tty, not to our redirected streams)."""
    import getpass

    return getpass.getpass(prompt)


def _binary(stream: Any) -> IO[bytes]:
    """The byte stream under `stream`: its buffer, or (for a text-only stream some wrappers
    install) the same text encoded as UTF-8, so every reader of `Runtime.stdin` gets bytes."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    return io.BufferedReader(_EncodedText(stream))


class _EncodedText(io.RawIOBase):
    """A text stream read as UTF-8 bytes (undecodable input kept with surrogateescape)."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if not self._pending:
            self._pending = self._text.readline(8192).encode("utf-8", errors="surrogateescape")
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _page(text: str, secrets: Collection[str] = ()) -> None:
    """Show `text` in the user's pager ($PAGER, else less) on the terminal (stderr: stdout may be
    a pipe), or print it on stderr when there is none. The pager's environment holds no API key
    (neither MODELSLAB_API_KEY nor any variable whose value holds one of `secrets`, such as the
    one `api_key_env` names), and less runs in its secure mode (no shell escapes from model
    text)."""
    import shlex
    import shutil
    import subprocess

    known = [s for s in secrets if len(s) >= 8]  # as for tools: a short one would match anything
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "MODELSLAB_API_KEY" and not any(s in v for s in known)
    }
    env.setdefault("LESSSECURE", "1")
    try:
        argv = shlex.split(env.get("PAGER", "").strip() or "less")
    except ValueError:
        argv = ["less"]
    if argv and shutil.which(argv[0]):
        try:
            subprocess.run(argv, input=text.encode(), stdout=sys.stderr, env=env, check=False)
            return
        except OSError:
            pass
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Transient(Protocol):
    """Something drawn in place on stderr that a note must erase first."""

    def clear(self) -> None: ...


@dataclass
class Runtime:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin: IO[bytes] | None = None
    stdout: IO[str] | None = None
    stderr: IO[str] | None = None
    stdin_tty: bool | None = None
    stdout_tty: bool | None = None
    stderr_tty: bool | None = None
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    debug: bool = False
    # Reads a secret without echoing it; tests inject their own to drive the terminal path.
    read_secret: Callable[[str], str] = _getpass
    read_line: Callable[[str], str] = _ask_line
    # Shows a long text in a pager (the whole of a tool call's arguments); tests inject their own.
    # None: the user's pager (see `show_paged`).
    page: Callable[[str], None] | None = None
    # Values that must never reach any output (the API key); `scrub` masks them.
    secrets: set[str] = field(default_factory=set)
    # The line a Ctrl-C left (the terminal echoed ^C after the partial text) has been ended.
    interrupt_line_ended: bool = False

    def end_interrupted_line(self, exc: BaseException) -> None:
        """Before the first message after an interrupt, end the line the cursor may be on, once.
        Only stderr on a terminal has a cursor. When stdout is that terminal too, the renderer
        has already ended the reply's line. Otherwise the reply may be on the screen through a
        pipe (`| cat`) without its newline, and Ctrl-C echoed ^C after it; SIGTERM and SIGHUP
        echo nothing, so for them only a pipe needs it (a file does not: no stray blank line)."""
        import stat

        if self.interrupt_line_ended or not self.stderr_tty or self.stdout_tty:
            return
        if getattr(exc, "signum", None) is not None:  # signals.Terminated: SIGTERM, SIGHUP
            try:
                piped = stat.S_ISFIFO(os.fstat(self.out.fileno()).st_mode)
            except (OSError, ValueError, AttributeError):
                piped = False
            if not piped:
                return
        self.interrupt_line_ended = True
        self.err.write("\n")
        self.err.flush()

    # A line drawn in place on stderr (the waiting spinner), erased before any note is written.
    transient: Transient | None = None

    def bind(self) -> Runtime:
        """Fill what was not injected from the current process streams (which CliRunner may have
        replaced by the time the root callback runs)."""
        if self.stdin is None:
            self.stdin = _binary(sys.stdin)
        if self.stdout is None:
            self.stdout = sys.stdout
            # A terminal or locale that is not UTF-8 (PYTHONIOENCODING=ascii, a Latin-1 locale):
            # a character it cannot show becomes "?" instead of an internal error mid-reply.
            reconfigure = getattr(sys.stdout, "reconfigure", None)
            if callable(reconfigure) and getattr(sys.stdout, "errors", "") == "strict":
                reconfigure(errors="replace")
        if self.stderr is None:
            self.stderr = sys.stderr
        if self.stdin_tty is None:
            self.stdin_tty = _isatty(sys.stdin)
        if self.stdout_tty is None:
            self.stdout_tty = _isatty(self.stdout)
        if self.stderr_tty is None:
            self.stderr_tty = _isatty(self.stderr)
        return self

    @property
    def out(self) -> IO[str]:
        assert self.stdout is not None
        return self.stdout

    @property
    def err(self) -> IO[str]:
        assert self.stderr is not None
        return self.stderr

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, mask(secret))
        return text

    def discard_typeahead(self) -> int:
        """Before a question (tool approval, delete confirmation): throw away what was typed
        before it was shown, so that keys typed while a reply streamed cannot answer it. Returns
        how many bytes were waiting (0 when stdin is not a terminal)."""
        if not self.stdin_tty or self.stdin is None:
            return 0
        try:
            import fcntl
            import struct
            import termios
        except ImportError:  # Windows
            return 0
        try:
            fd = self.stdin.fileno()
            waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
            termios.tcflush(fd, termios.TCIFLUSH)
        except (AttributeError, ValueError, OSError, termios.error):
            return 0  # not a real terminal (an injected stream in tests)
        return int(waiting)

    def ask(self, prompt: str) -> str:
        """One answer typed after `prompt` was shown: type-ahead is discarded first. EOFError
        at end of input."""
        if self.discard_typeahead():
            self.note("mlchat: (keys typed before this question were ignored)")
        return self.read_line(prompt)

    def show_paged(self, text: str) -> None:
        """`text` in the injected pager, else the user's, which gets no variable holding a
        secret."""
        if self.page is not None:
            self.page(text)
        else:
            _page(text, self.secrets)

    def warn(self, text: str) -> None:
        self.note(f"mlchat: warning: {text}")

    def note(self, text: str) -> None:
        """One message on stderr, sanitised (it may quote the network or the store: a server's
        error, a model id, a file name) and scrubbed of secrets."""
        from mlchat.text import escape_controls

        if self.transient is not None:
            self.transient.clear()  # a note never lands in the middle of the spinner's line
        self.err.write(self.scrub(escape_controls(f"{text}\n")))
        self.err.flush()
