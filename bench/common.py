"""Shared machinery of the benchmarks: running children and measuring them, medians, the table.

Every figure is measured on a child process: wall time around `Popen` and `os.wait4`, CPU time
(user + system) from its rusage, the moment the first byte arrives on its stdout, the CPU it
spent streaming (its CPU clock read as its output arrives), and peak RSS (through a go-between,
see `_LAUNCHER`). Pseudo-terminal runs use the `pty` module.

Children run the checkout's `mlchat` (PYTHONPATH points at the repository root) with the
interpreter that runs the bench (`sys.executable`: the venv's own python, never a version-manager
shim, which adds ~80 ms to every start), in an isolated HOME and XDG directories so no real config
file or key is read.

Imports: the standard library and `tests.emulator` (the repository root goes on sys.path).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import random
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.emulator import Emulator  # noqa: E402 - needs the root on sys.path first
from tests.emulator import Reply as Reply  # noqa: E402 - re-exported for the benchmarks

PYTHON = sys.executable
FAKE_KEY = "ml-bench-0123456789abcdef"

# The console script pip writes for `mlchat` (see pyproject's [project.scripts]); running our own
# copy measures exactly what a user's `mlchat` runs, against this checkout, installed or not.
ENTRY_SCRIPT = """\
import sys
from mlchat.__main__ import main
if __name__ == '__main__':
    sys.exit(main())
"""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a figure, its floor from the same run, and the verdict."""

    figure: str
    value: float | None
    unit: str  # "ms", "s", "MB", "x"
    floor: float | None = None
    floor_name: str = ""
    target: str = ""
    passed: bool | None = None  # None: no target, or not measured
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ratio"] = self.ratio
        return doc


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g} {unit}"


def table(rows: Sequence[Row]) -> str:
    header = ("figure", "mlchat", "floor", "ratio", "target", "result")
    lines: list[tuple[str, ...]] = [header]
    for r in rows:
        floor = f"{fmt(r.floor, r.unit)} ({r.floor_name})" if r.floor is not None else ""
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        verdict = {True: "pass", False: "FAIL", None: ""}[r.passed]
        if r.value is None and r.note:
            verdict = "ERROR" if r.note.startswith("could not run") else "skipped"
        lines.append((r.figure, fmt(r.value, r.unit), floor, ratio, r.target, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def progress(text: str) -> None:
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


def script_main(measure: Callable[[bool], list[Row]], argv: Sequence[str] | None = None) -> int:
    """`python bench/<figure>.py [--quick] [--json]`: run one group of figures on its own."""
    args = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in args
    rows = measure(quick)
    if "--json" in args:
        print(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        print(table(rows))
    return 1 if any(r.passed is False for r in rows) else 0


# --------------------------------------------------------------------------------------------
# The environment children run in
# --------------------------------------------------------------------------------------------


class Sandbox:
    """A temporary HOME/XDG tree, the console-script copy, and the environment for children."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mlchat-bench-")
        self.path = Path(self._tmp.name)
        self.entry = self.path / "mlchat"
        self.entry.write_text(ENTRY_SCRIPT)
        self.floor = BENCH / "floor_httpx.py"

    def env(self, base_url: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MODELSLAB_", "MLCHAT_", "PYTHON", "XDG_"))
            and k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")
            and not k.lower().endswith("_proxy")  # the emulator is on 127.0.0.1
        }
        env["PYTHONPATH"] = str(ROOT)
        env["HOME"] = str(self.path / "home")
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            env[var] = str(self.path / "xdg" / var.lower())
        if base_url is not None:
            env["MODELSLAB_BASE_URL"] = base_url
            env["MODELSLAB_API_KEY"] = FAKE_KEY
        env.update(extra)
        return env

    def mlchat(self, *args: str) -> list[str]:
        return [PYTHON, str(self.entry), *args]

    def has_command(self, name: str) -> bool:
        """Whether this checkout's mlchat has the command `name` (its `--help` succeeds)."""
        return run(self.mlchat(name, "--help"), self.env()).returncode == 0

    def floor_httpx(self, base_url: str, prompt: str) -> list[str]:
        return [PYTHON, str(self.floor), base_url, prompt]

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


# --------------------------------------------------------------------------------------------
# Running one child
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    returncode: int
    wall: float  # seconds, Popen to reaped
    cpu: float  # seconds, user + system of the child
    maxrss_mb: float | None  # peak resident set size of the child (only with peak_rss=True)
    first_byte: float | None  # seconds from Popen to the first byte on stdout
    stdout: bytes
    stderr: bytes = b""
    # CPU seconds the child spent between the first and the last read that brought output: the
    # streaming alone, without start-up and exit (None where the clock cannot be read).
    stream_cpu: float | None = None
    started: float = 0.0  # time.perf_counter() just before the spawn
    # perf_counter() when `marker` (if given) first appeared in the output; None if it never did
    marker_at: float | None = None

    def check(self) -> Run:
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.argv[1:3])}... exited {self.returncode}: "
                f"{self.stderr.decode(errors='replace')[-500:]}"
            )
        return self


# Peak RSS needs a go-between. A child's ru_maxrss is the high-water mark of every memory image
# the process had, and a process spawned from the bench starts as a copy of the bench (Linux
# records the old image's high-water mark at exec): `python -c pass` spawned directly from a
# 100 MB bench reports 100 MB. So the child is forked from a fresh `python -S` (~8 MB), which
# reaps it with wait4 and writes back its exit code, CPU time and ru_maxrss. Figures below ~9 MB
# would be the go-between's, not the child's; mlchat's are well above.
_LAUNCHER = """\
import os, sys
fd = int(sys.argv[1])
os.set_inheritable(fd, False)
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
cpu = usage.ru_utime + usage.ru_stime
os.write(fd, f"{os.waitstatus_to_exitcode(status)} {cpu} {usage.ru_maxrss}".encode())
"""
# ru_maxrss is in kilobytes on Linux, bytes on macOS.
_RSS_UNIT = 1024 * 1024 if sys.platform == "darwin" else 1024


class _CpuClock:
    """Another process's CPU time, in nanosecond steps, while it runs (Linux: the clock id
    MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)), sampled each time its output is read."""

    def __init__(self, pid: int) -> None:
        self._clock = ((~pid) << 3) | 2
        self.first: float | None = None
        self.last: float | None = None

    def sample(self) -> None:
        try:
            now = time.clock_gettime(self._clock)
        except (OSError, OverflowError, ValueError):  # gone, or not Linux
            return
        if self.first is None:
            self.first = now
        self.last = now

    @property
    def spent(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        return self.last - self.first


class _Child:
    """Popen plus its reaping: exit code and CPU from wait4, or from the go-between."""

    def __init__(self, argv: Sequence[str], peak_rss: bool, **popen: Any) -> None:
        self.argv = list(argv)
        self._report: int | None = None
        if peak_rss:
            self._report, write = os.pipe()
            argv = [PYTHON, "-S", "-c", _LAUNCHER, str(write), *argv]
            popen["pass_fds"] = (write,)
        try:
            self.proc = subprocess.Popen(list(argv), **popen)
        finally:
            if peak_rss:
                os.close(write)

    def reap(self) -> tuple[int, float, float | None]:
        """Wait for the child: its exit code, CPU seconds and (if measured) peak RSS in MB."""
        _, status, usage = os.wait4(self.proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = code  # so Popen does not wait for it again
        if self._report is None:
            return code, usage.ru_utime + usage.ru_stime, None
        with os.fdopen(self._report, "rb") as report:
            fields = report.read().split()
        if len(fields) != 3:
            return code or 1, 0.0, None
        return int(fields[0]), float(fields[1]), int(fields[2]) / _RSS_UNIT


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: bytes | None = None,
    peak_rss: bool = False,
    marker: bytes | None = None,
) -> Run:
    """Run with stdout and stderr on pipes (as in `mlchat ask ... | less`). With `marker`, the
    moment it first appears on stdout is `Run.marker_at`."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        started = time.perf_counter()
        child = _Child(
            argv,
            peak_rss,
            stdin=inp if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=dict(env),
        )
        out = child.proc.stdout
        assert out is not None
        first: float | None = None
        chunks: list[bytes] = []
        clock = _CpuClock(child.proc.pid)
        seen = _Marker(marker)
        while data := os.read(out.fileno(), 65536):
            if first is None:
                first = time.perf_counter() - started
            seen.feed(data)
            clock.sample()
            chunks.append(data)
        out.close()
        code, cpu, rss = child.reap()
        wall = time.perf_counter() - started
        err.seek(0)
        stdout = b"".join(chunks)
        return Run(
            child.argv,
            code,
            wall,
            cpu,
            rss,
            first,
            stdout,
            err.read(),
            clock.spent,
            started,
            seen.at,
        )


def run_pty(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cols: int = 100,
    rows: int = 40,
    peak_rss: bool = False,
    marker: bytes | None = None,
) -> Run:
    """Run on a pseudo-terminal (stdin, stdout and stderr), as an interactive `mlchat ask`.
    With `marker`, the moment it first appears in the output is `Run.marker_at`."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    started = time.perf_counter()
    try:
        child = _Child(
            argv,
            peak_rss,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": env.get("TERM", "xterm-256color")},
            start_new_session=True,
        )
    finally:
        os.close(slave)
    first: float | None = None
    chunks: list[bytes] = []
    clock = _CpuClock(child.proc.pid)
    seen = _Marker(marker)
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave descriptor is closed, the child is gone
                break
            if not data:
                break
            if first is None:
                first = time.perf_counter() - started
            seen.feed(data)
            clock.sample()
            chunks.append(data)
    finally:
        os.close(master)
    code, cpu, rss = child.reap()
    wall = time.perf_counter() - started
    out = b"".join(chunks)
    return Run(child.argv, code, wall, cpu, rss, first, out, b"", clock.spent, started, seen.at)


class _Marker:
    """Notes the moment a byte string first appears in a stream read piece by piece."""

    def __init__(self, marker: bytes | None) -> None:
        self.marker = marker
        self.at: float | None = None
        self._tail = b""

    def feed(self, data: bytes) -> None:
        if self.marker is None or self.at is not None:
            return
        window = self._tail + data
        if self.marker in window:
            self.at = time.perf_counter()
        self._tail = window[-len(self.marker) :]


def interleaved(
    runners: Mapping[str, Callable[[], Run]], repeats: int, *, warmup: int = 1
) -> dict[str, list[Run]]:
    """Run each runner `repeats` times, alternating between them (A B A B ...), so that noise
    from other work on the machine falls on every figure alike. Warm-up runs are discarded
    (they fill the page cache and write .pyc files)."""
    results: dict[str, list[Run]] = {name: [] for name in runners}
    for n in range(warmup + repeats):
        for name, runner in runners.items():
            r = runner()
            if n >= warmup:
                results[name].append(r)
    return results


# --------------------------------------------------------------------------------------------
# Replies: realistic Markdown of a given number of tokens
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*\S+|\s+")
_VOCABULARY = (
    "the a of to and in that is for it with as on be this by are from at or an which can data "
    "function value request server stream token model reply client render terminal buffer line "
    "block cache parse error handle config option result return state update user time memory "
    "process output input thread queue socket retry timeout event list index string number"
)
_WORDS = _VOCABULARY.split()
# Code blocks; {x} and {y} are identifiers drawn from the vocabulary.
_CODE = [
    [
        "def {x}(event, {y}):",
        "    if event.kind == 'text':",
        "        {y}.append(event.text)",
        "    return len({y})",
    ],
    [
        "for {x} in stream.iter_lines():",
        "    name, _, {y} = {x}.partition(':')",
        "    if name == 'data':",
        "        yield json.loads({y})",
    ],
    [
        "{x} = {{key: sum(values) for key, values in {y}.items()}}",
        "for key in sorted({x}):",
        "    print(f'{{key:<12}} {{{x}[key]:>8}}')",
    ],
    [
        "class {X}:",
        "    def __init__(self, attempts=3, {y}=0.5):",
        "        self.attempts = attempts",
        "        self.{y} = {y}",
        "",
        "    def {x}(self, n):",
        "        return min(8.0, self.{y} * 2 ** n)",
    ],
]
UNIT = 1000  # tokens: every 1k tokens of a reply have the same shape


def count_tokens(text: str) -> int:
    """Tokens as the emulator streams them: one SSE delta per word with its leading space."""
    return len(_TOKEN.findall(text))


def markdown_reply(tokens: int, seed: int = 1) -> str:
    """Deterministic Markdown of about `tokens` deltas, in the proportions of a technical answer:
    headings, paragraphs with bold, italics and inline code, bullet and numbered lists, fenced
    Python code.

    The reply is made of units of ~1k tokens with the same shape (block kinds, lengths, markup)
    and different words, so a 16k-token reply is sixteen times the work of a 1k-token one for a
    linear renderer, and caches keyed on text (a line's width, say) do not make length cheaper."""
    blocks: list[str] = []
    total = 0
    unit = 0
    sections = 0
    while total < tokens:
        shape = random.Random(17)
        words = random.Random(seed * 100_003 + unit)
        unit_total = 0
        while unit_total < UNIT and total < tokens:
            block = _block(shape, words, heading=unit_total == 0, section=sections + 1)
            sections += block.startswith("## ")
            blocks.append(block)
            # The blank line between blocks rides on the next block's first delta.
            unit_total += count_tokens(block)
            total += count_tokens(block)
        unit += 1
    return "\n\n".join(blocks)


def _block(shape: random.Random, words: random.Random, *, heading: bool, section: int) -> str:
    """One Markdown block: its kind and lengths from `shape`, its words from `words`."""

    def sentence() -> str:
        text = [words.choice(_WORDS) for _ in range(shape.randint(6, 16))]
        i = shape.randrange(len(text))
        roll = shape.random()
        if roll < 0.25:
            text[i] = f"**{text[i]}**"
        elif roll < 0.45:
            text[i] = f"`{text[i]}()`"
        elif roll < 0.55:
            text[i] = f"*{text[i]}*"
        return " ".join(text).capitalize() + "."

    kind = shape.random()
    if heading or kind < 0.08:
        return f"## {section}. {' '.join(words.choice(_WORDS) for _ in range(3)).title()}"
    if kind < 0.55:
        return " ".join(sentence() for _ in range(shape.randint(2, 5)))
    if kind < 0.75:
        numbered = shape.random() < 0.4
        items = [sentence() for _ in range(shape.randint(3, 6))]
        return "\n".join(
            f"{f'{n}.' if numbered else '-'} {item}" for n, item in enumerate(items, start=1)
        )
    x, y = words.choice(_WORDS), words.choice(_WORDS)
    names = {"x": f"{x}_{y}", "X": x.title() + y.title(), "y": f"{y}s"}
    code = "\n".join(line.format(**names) for line in shape.choice(_CODE))
    return f"```python\n{code}\n```"
