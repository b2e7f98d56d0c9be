"""Time to first byte: from spawning `mlchat ask hi` (stdout on a pipe) to the first byte of
the reply on its stdout, against the local emulator answering at once; the floor is
bench/floor_httpx.py making the same streaming request in the same run.

Both pay for the interpreter, httpx, TLS set-up (httpx loads the CA bundle even for http://)
and one request; everything beyond that in mlchat is its own overhead (Typer, settings, its
modules). Medians over interleaved runs.

    python bench/ttfb.py [--quick] [--json]

Imports: bench.common.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

RATIO = 1.3


def measure(quick: bool) -> list[c.Row]:
    repeats = 7 if quick else 21
    c.progress(f"time to first byte: 2 commands x {repeats} runs")
    with c.Sandbox() as sb, c.emulator() as emu:
        env = sb.env(emu.base_url)
        runs = c.interleaved(
            {
                "mlchat": lambda: c.run(sb.mlchat("ask", "hi"), env).check(),
                "httpx": lambda: c.run(sb.floor_httpx(emu.base_url, "hi"), env).check(),
            },
            repeats,
        )
    for name, rs in runs.items():
        if any(r.stdout != b"echo: hi\n" for r in rs):
            raise RuntimeError(f"{name} printed {rs[0].stdout!r}, not the emulator's reply")
    ms = {name: 1000 * c.median([r.first_byte or 0.0 for r in rs]) for name, rs in runs.items()}
    value, floor = ms["mlchat"], ms["httpx"]
    return [
        c.Row(
            "first byte: mlchat ask (piped)",
            value,
            "ms",
            floor,
            "httpx script",
            f"<= {RATIO:g}x",
            value <= RATIO * floor,
            note="fastest runs: "
            + ", ".join(
                f"{name} {1000 * min(r.first_byte or 0.0 for r in rs):.0f} ms"
                for name, rs in runs.items()
            ),
        )
    ]


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
