"""The one error boundary: every failure becomes one line on stderr and a documented exit code.

`mlchat: error: <message>` plus an optional `hint:` line; a traceback only with --debug. Ctrl-C
exits 130; a reader that closes the pipe early (`| head -1`) ends us quietly.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import typer

from mlchat.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, MlchatError
from mlchat.runtime import Runtime

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def report(rt: Runtime, error: MlchatError) -> None:
    err = rt.err
    err.write(rt.scrub(f"mlchat: error: {error.message}\n"))
    if error.hint:
        err.write(rt.scrub(f"hint: {error.hint}\n"))
    err.flush()


@contextmanager
def boundary(rt: Runtime) -> Iterator[None]:
    try:
        yield
    except typer.Exit:
        raise
    except MlchatError as error:
        _debug_traceback(rt)
        with suppress(OSError, ValueError):
            report(rt, error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        _write(rt, "\nmlchat: interrupted\n")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            _silence_stdout()
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        _debug_traceback(rt)
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
    with suppress(OSError, ValueError):
        rt.err.write(rt.scrub(text))
        rt.err.flush()
