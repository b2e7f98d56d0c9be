"""Every benchmark in one run: start-up and help, send first (request on the wire, first token on
screen), chat time per turn, streaming cost, peak memory, attaching a 10 MB tree, and the
renderer benchmark (bench/render.py) when the checkout has it. Prints one table of figures, each
with its floor measured in the same run, the ratio, the target and pass/FAIL.

    python bench/run.py            # the full run: a few minutes at most
    python bench/run.py --quick    # fewer repetitions: well under a minute, noisier
    python bench/run.py --json     # one JSON document on stdout instead of the table

Progress goes to stderr. Exit status 1 when a target is missed, 2 when a benchmark could not run.
Run it with the virtual environment's own python (`.venv/bin/python bench/run.py`).

Imports: bench.common and the benchmark modules beside it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import attach
import common as c
import memory
import send
import startup
import stream
import turns

GROUPS: dict[str, Callable[[bool], list[c.Row]]] = {
    "start-up": startup.measure,
    "send first": send.measure,
    "chat turns": turns.measure,
    "streaming": stream.measure,
    "memory": memory.measure,
    "attachments": attach.measure,
}


def render_bench(quick: bool) -> tuple[str, int] | None:
    """Output and exit status of bench/render.py (owned by the renderer), if it exists."""
    script = c.BENCH / "render.py"
    if not script.exists():
        return None
    c.progress("renderer: bench/render.py" + (" --quick" if quick else ""))
    argv = [c.PYTHON, str(script), *(["--quick"] if quick else [])]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=c.ROOT,
        env={**os.environ, "PYTHONPATH": str(c.ROOT)},
    )
    return (proc.stdout + proc.stderr if proc.returncode else proc.stdout).rstrip(), proc.returncode


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"python {platform.python_version()} ({c.PYTHON}), {os.cpu_count()} CPUs, "
        f"load average {load}"
    )


def busy(load_before: float) -> bool:
    """Whether other work competed for the CPUs: a 1-minute load average above the CPU count at
    the start or at the end of the run."""
    return max(load_before, os.getloadavg()[0]) > (os.cpu_count() or 1)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    as_json = "--json" in argv
    started = time.perf_counter()
    before = machine()
    load_before = os.getloadavg()[0]
    rows: list[c.Row] = []
    broken = False
    for name, measure in GROUPS.items():
        try:
            rows += measure(quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            broken = True
            c.progress(f"{name} failed:\n{traceback.format_exc()}")
            rows.append(c.Row(name, None, "", note=f"could not run: {exc}"))
    broken = broken or any(r.value is None and r.note.startswith("could not run") for r in rows)
    rendered = render_bench(quick)
    elapsed = time.perf_counter() - started
    missed = any(r.passed is False for r in rows)
    if as_json:
        doc = {
            "quick": quick,
            "machine": before,
            "seconds": round(elapsed, 1),
            "rows": [r.to_json() for r in rows],
            "busy": busy(load_before),
            "render": None if rendered is None else {"output": rendered[0], "exit": rendered[1]},
        }
        print(json.dumps(doc, indent=2))
    else:
        print(f"mlchat benchmarks{' (--quick)' if quick else ''}: {before}")
        print("medians; each floor measured in the same run")
        if busy(load_before):
            print(
                "warning: the machine was busy (load average above its CPU count): wall-clock"
                " figures are inflated; compare the CPU times in the notes, or rerun when idle"
            )
        print()
        print(c.table(rows))
        print()
        if rendered is None:
            print("renderer: bench/render.py not in this checkout, skipped")
        else:
            print(f"renderer (bench/render.py, exit {rendered[1]}):\n{rendered[0]}")
        print(f"\n{elapsed:.0f} s; at the end: {machine()}")
    if broken or (rendered is not None and rendered[1] not in (0, 1)):
        return 2
    return 1 if missed or (rendered is not None and rendered[1] == 1) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
