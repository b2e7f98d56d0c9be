"""Chat time per turn: `mlchat chat` fed 510 questions on stdin (the plain line reader), against
bench/wire.py's server answering each at once with one short delta. The time of turn k is the
gap between the server receiving request k and request k + 1, the median over turns k - 5 to
k + 5 (and over the runs): all of mlchat's work for one turn (reading the line, saving the
question, building and sending the request with the whole conversation, streaming the reply,
saving it), none of its start-up. Flat means turn 500 costs no more than 1.5x turn 10.

    python bench/turns.py [--quick] [--json]

Imports: bench.common, bench.wire.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
import wire

AT = (10, 100, 500)
WINDOW = 5
TURNS = AT[-1] + WINDOW + 5
FLAT = 1.5


def measure(quick: bool) -> list[c.Row]:
    repeats = 1 if quick else 3
    lines = "".join(f"question {n}: what is {n} times {n + 1}?\n" for n in range(TURNS)).encode()
    gaps: dict[int, list[float]] = {k: [] for k in AT}
    c.progress(f"chat per turn: {TURNS} turns x {repeats}")
    with wire.WireServer() as server:
        for _ in range(repeats):
            with c.Sandbox() as sb:
                server.take()
                r = c.run(sb.mlchat("chat"), sb.env(server.base_url), stdin=lines)
                got = [a.arrived for a in server.take() if a.path.endswith("/chat/completions")]
                if r.returncode != 0 or len(got) != TURNS:
                    err = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
                    raise RuntimeError(f"chat: exit {r.returncode}, {len(got)} turns: {err[0]}")
                for k in AT:
                    window = range(k - WINDOW, k + WINDOW)
                    gaps[k] += [got[i] - got[i - 1] for i in window]
    ms = {k: 1000 * statistics.median(v) for k, v in gaps.items()}
    rows = []
    for k in AT:
        flat = k == AT[-1]
        rows.append(
            c.Row(
                f"chat: time per turn at turn {k}",
                ms[k],
                "ms",
                ms[AT[0]],
                f"turn {AT[0]}",
                f"flat: <= {FLAT:g}x" if flat else "",
                ms[k] <= FLAT * ms[AT[0]] if flat else None,
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
