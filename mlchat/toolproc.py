"""Running one tool process: its environment, its process group, its output in bounded memory.

The model decides when a tool runs and with what input, so the process is treated as untrusted:

- Environment: only a short list of neutral variables (`BASE_ENV`: PATH, HOME, the locale, ...)
  plus the ones the tools file names in `pass_env`; never the API key (`MODELSLAB_API_KEY`), and
  never any variable whose value holds a secret mlchat knows (the key from the config file too).
- Process group: the tool runs in a session of its own, so Ctrl-C at the terminal does not reach
  it and anything it leaves behind (`sleep 300 &`) can be found. The result is taken when the tool
  itself exits, even while a background child still holds its stdout; then the whole group is
  killed. A timeout or Ctrl-C kills the group too.
- Output: stdout is read up to a cap and then no further (the pipe is closed, so a tool that goes
  on writing gets SIGPIPE); stderr keeps its first bytes and discards the rest. Memory stays
  bounded whatever the tool prints.

Written with `selectors` rather than `subprocess.run`, because `communicate()` holds all output
in memory and waits for end-of-file on the pipes, which a background child delays forever.
POSIX only (on Linux a pidfd tells the exit at once; elsewhere it is polled every 20 ms). Imports
the standard library.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Collection, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass

KEY_ENV = "MODELSLAB_API_KEY"
BASE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
)
_CHUNK = 64 * 1024
_POLL = 0.02  # seconds between exit checks where there is no pidfd
_DRAIN = 0.2  # seconds spent reading what is left in the pipes once the tool has exited


def environment(
    source: Mapping[str, str], pass_env: Iterable[str], secrets: Collection[str]
) -> dict[str, str]:
    """The variables of `source` a tool gets: `BASE_ENV` and `pass_env` (names, or prefixes
    ending in `*`), without the key and without any variable whose value holds a secret."""
    patterns = (*BASE_ENV, *pass_env)
    exact = {p for p in patterns if not p.endswith("*")}
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
    known = [s for s in secrets if s]
    key = source.get(KEY_ENV, "").strip()
    if key:
        known.append(key)
    env: dict[str, str] = {}
    for name, value in source.items():
        if name == KEY_ENV or not (name in exact or (prefixes and name.startswith(prefixes))):
            continue
        if any(_holds(value, s) for s in known):
            continue
        env[name] = value
    return env


def _holds(value: str, secret: str) -> bool:
    # A long secret is found anywhere in the value ("Bearer KEY"); a short one only whole, or
    # every value would risk matching.
    return secret in value if len(secret) >= 8 else value.strip() == secret


@dataclass(frozen=True, slots=True)
class Outcome:
    returncode: int | None  # None: timed out
    stdout: bytes
    stdout_cut: bool  # the tool wrote more than the cap: the rest was never read
    stderr: bytes


def run(
    argv: tuple[str, ...],
    stdin: bytes,
    *,
    env: Mapping[str, str],
    cwd: str | None,
    timeout: float,
    out_cap: int,
    err_cap: int,
) -> Outcome:
    """Run `argv` with `stdin` as its input; OSError when it cannot start."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    try:
        return _Exchange(proc, stdin, out_cap, err_cap).run(timeout)
    finally:
        end(proc)


def end(proc: subprocess.Popen[bytes]) -> None:
    """Kill the tool's process group (the tool and whatever it started), reap the tool, close
    the pipes. The group is killed before the tool is reaped, so its id cannot have been reused."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(OSError):
        proc.kill()  # a tool that left its own group
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()


class _Exchange:
    def __init__(self, proc: subprocess.Popen[bytes], data: bytes, out_cap: int, err_cap: int):
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.data = memoryview(data)
        self.out = bytearray()
        self.err = bytearray()
        self.out_cap = out_cap
        self.err_cap = err_cap
        self.cut = False
        self.sel = selectors.DefaultSelector()
        self.pidfd: int | None = None
        self.in_fd = proc.stdin.fileno()
        self.out_fd = proc.stdout.fileno()
        self.err_fd = proc.stderr.fileno()
        for fd in (self.in_fd, self.out_fd, self.err_fd):
            os.set_blocking(fd, False)

    def run(self, timeout: float) -> Outcome:
        try:
            with suppress(AttributeError, OSError):
                self.pidfd = os.pidfd_open(self.proc.pid)
                self.sel.register(self.pidfd, selectors.EVENT_READ)
            self.sel.register(self.out_fd, selectors.EVENT_READ)
            self.sel.register(self.err_fd, selectors.EVENT_READ)
            if self.data:
                self.sel.register(self.in_fd, selectors.EVENT_WRITE)
            else:
                self._close_stdin()
            status = self._loop(time.monotonic() + timeout)
            if status is not None:
                self._drain()
            return Outcome(status, bytes(self.out), self.cut, bytes(self.err))
        finally:
            self.sel.close()
            if self.pidfd is not None:
                os.close(self.pidfd)

    def _loop(self, deadline: float) -> int | None:
        """The tool's exit status, or None at the deadline."""
        while True:
            status = self._exited()
            if status is not None:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            wait = left if self.pidfd is not None else min(left, _POLL)
            for key, _ in self.sel.select(wait):
                self._ready(key.fd)

    def _exited(self) -> int | None:
        """The exit status once the tool has exited, without reaping it (WNOWAIT)."""
        info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None or info.si_pid == 0:
            return None
        if info.si_code == os.CLD_EXITED:
            return info.si_status
        return -info.si_status  # killed by a signal, as subprocess reports it

    def _ready(self, fd: int) -> None:
        if fd == self.in_fd:
            self._write()
        elif fd == self.out_fd:
            self._read_out()
        elif fd == self.err_fd:
            self._read_err()
        # the pidfd: the loop sees the exit on its next check

    def _write(self) -> None:
        try:
            sent = os.write(self.in_fd, self.data[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the tool closed its stdin or exited: it did not want the rest
            self._close_stdin()
            return
        self.data = self.data[sent:]
        if not self.data:
            self._close_stdin()

    def _close_stdin(self) -> None:
        with suppress(KeyError, ValueError):
            self.sel.unregister(self.in_fd)
        assert self.proc.stdin is not None
        with suppress(OSError):
            self.proc.stdin.close()

    def _read_out(self) -> bool:
        """Read one chunk of stdout; False when there is nothing more to read now."""
        chunk = self._read(self.out_fd)
        if chunk is None:
            return False
        room = self.out_cap - len(self.out)
        self.out += chunk[: max(room, 0)]
        if len(chunk) > room:
            # Past the cap: read no more. Closing the pipe makes further writes fail (SIGPIPE).
            self.cut = True
            self._stop(self.out_fd)
            return False
        return True

    def _read_err(self) -> bool:
        chunk = self._read(self.err_fd)
        if chunk is None:
            return False
        room = self.err_cap - len(self.err)
        if room > 0:
            self.err += chunk[:room]
        return True

    def _read(self, fd: int) -> bytes | None:
        """A chunk, or None at end of file (the pipe is then closed) or when none is waiting."""
        if fd not in self.sel.get_map():
            return None
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return None
        except OSError:
            chunk = b""
        if not chunk:
            self._stop(fd)
            return None
        return chunk

    def _stop(self, fd: int) -> None:
        with suppress(KeyError, ValueError):
            self.sel.unregister(fd)
        pipe = self.proc.stdout if fd == self.out_fd else self.proc.stderr
        assert pipe is not None
        with suppress(OSError):
            pipe.close()

    def _drain(self) -> None:
        """What the tool wrote before it exited is still in the pipes: read it, but only what is
        there now (a background child may keep writing) and only for a moment."""
        until = time.monotonic() + _DRAIN
        while time.monotonic() < until:
            more_out = self._read_out()
            more_err = self._read_err()
            if not (more_out or more_err):
                return
