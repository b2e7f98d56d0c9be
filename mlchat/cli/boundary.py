"""The one error boundary: every failure becomes one line on stderr and a documented exit code.

`mlchat: error: <message>` plus an optional `hint:` line; a traceback only with --debug. Ctrl-C
exits 130, SIGTERM 143 and SIGHUP 129 (see mlchat/signals.py); a reader that closes the pipe early
(`| head -1`) ends us quietly with 141; a stdout that cannot be written (`> /dev/full`) is one
error line and exit 1, never a traceback or an "Exception ignored" at shutdown.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import typer

from mlchat import signals
from mlchat.errors import EXIT_INTERNAL, MlchatError
from mlchat.runtime import Runtime
from mlchat.ui import errors as ui_errors

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _stdout_broken(rt: Runtime) -> bool:
    """Whether stdout is what failed: data we wrote is still waiting and cannot be flushed."""
    try:
        rt.out.flush()
    except (OSError, ValueError):
        return True
    return False


def _settle_stdout(rt: Runtime) -> None:
    """If stdout broke on the way to another error (a terminal hung up, a reader went away),
    let nothing fail again at interpreter shutdown."""
    if _stdout_broken(rt):
        _silence_stdout()


def report(rt: Runtime, error: MlchatError) -> None:
    ui_errors.report(rt.err, rt.scrub, error)


@contextmanager
def boundary(rt: Runtime) -> Iterator[None]:
    try:
        yield
    except typer.Exit:
        raise
    except MlchatError as error:
        _debug_traceback(rt)
        _settle_stdout(rt)
        with suppress(OSError, ValueError):
            report(rt, error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt as exc:  # Ctrl-C, and SIGTERM / SIGHUP as signals.Terminated
        _settle_stdout(rt)
        with suppress(OSError, ValueError):
            rt.end_interrupted_line(exc)
        _write(rt, f"mlchat: {signals.describe(exc)}\n")
        raise typer.Exit(signals.exit_code(exc)) from None
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            _silence_stdout()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        _debug_traceback(rt)
        if exc.filename is None and _stdout_broken(rt):
            # Disk full, I/O error: the reader still gets a reason, and the interpreter's final
            # flush must not fail again with "Exception ignored".
            _silence_stdout()
            _write(rt, f"mlchat: error: cannot write to stdout: {exc.strerror or exc}\n")
            raise typer.Exit(EXIT_INTERNAL) from None
        where = f" ({exc.filename})" if exc.filename else ""
        _write(rt, f"mlchat: error: {exc.strerror or exc}{where}\n")
        raise typer.Exit(EXIT_INTERNAL) from None
    except Exception as exc:  # the last line of defence: a bug, reported in one line
        _debug_traceback(rt)
        _write(
            rt,
            f"mlchat: internal error: {type(exc).__name__}: {exc}\n"
            "hint: run again with --debug for the traceback, and report it\n",
        )
        raise typer.Exit(EXIT_INTERNAL) from None


def _debug_traceback(rt: Runtime) -> None:
    if rt.debug:
        _write(rt, traceback.format_exc())


def _write(rt: Runtime, text: str) -> None:
    """A message or a traceback on stderr: either may quote the network (an exception's text),
    so it is sanitised like every other message."""
    from mlchat.text import escape_controls

    with suppress(OSError, ValueError):
        rt.err.write(rt.scrub(escape_controls(text)))
        rt.err.flush()
