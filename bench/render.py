"""Streaming Markdown: CPU per 1,000 tokens against the reply's length, ours and the naive way.

Feeds replies of 1k, 4k, 16k and 64k tokens of mixed Markdown (headings, paragraphs, lists, tables,
quotes, code fences) token by token through `MarkdownRenderer` on a 100x40 colour terminal console
writing to /dev/null, with live redraws on. Tokens "arrive" at --rate tokens per second on a
simulated clock that also advances by the CPU the renderer spends, as a wall clock would, so the
refresh throttle behaves as in real use. Then runs the naive approach (rich Live re-rendering the
whole Markdown on every token) on the same input at 1k and 4k; it is quadratic, so at 4k (and in
--quick) only every Nth of its renders is done and the CPU multiplied by N. Prints a table and
checks the targets: CPU per 1k tokens at 16k within 1.5x of the figure at 1k, and at least 1,000
tokens per second on one core.

Then the shape rows: one reply of 4 MiB (1 MiB with --quick) as ordinary Markdown (the sections
above, one after another), as one paragraph that never ends (no newline at all) and as one table
that never ends, each streamed the same way once. A block that never ends must still be committed
in pieces, so the paragraph and the table must each cost within 2x of the ordinary reply's CPU.
Exits 1 when a target is missed.

    python bench/render.py            # about four minutes
    python bench/render.py --quick    # about half a minute
    python bench/render.py --shapes   # only the shape rows (with --quick: at 1 MiB)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's mlchat

from rich.console import Console

from mlchat.types import TextDelta
from mlchat.ui.markdown import MarkdownRenderer

WIDTH, HEIGHT = 100, 40
_TOKEN = re.compile(r" ?[A-Za-z]{1,6}| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]|\n|[ \t]+")


def section(i: int) -> str:
    """One of several kinds of Markdown a model writes, varied by `i`."""
    kind = i % 6
    words = "the renderer commits each finished block once and redraws only the unfinished tail"
    sentence = f"Point {i}: {words}, so its cost per token stays flat however long the reply grows."
    if kind == 0:
        return f"## Section {i}\n\n{sentence} {sentence}\n{sentence}\n"
    if kind == 1:
        items = "\n".join(
            f"- item {i}.{k}: **bold** and `code` and {words[: 20 + k * 7]}" for k in range(6)
        )
        return f"{sentence}\n\n{items}\n"
    if kind == 2:
        body = "\n".join(
            f"    total_{k} = sum(x * {k} for x in range({i}))  # line {k}" for k in range(12)
        )
        head = f'def compute_{i}(values):\n    """Docstring\n    over lines."""'
        return f"```python\n{head}\n{body}\n    return total_0\n```\n"
    if kind == 3:
        rows = "\n".join(f"| row {k} | {i * k} | {words[: 12 + k]} |" for k in range(8))
        return f"| name | value | note |\n|------|------:|------|\n{rows}\n"
    if kind == 4:
        steps = "\n\n".join(f"{k}. Step {k}: {sentence}" for k in range(1, 5))
        return f"{steps}\n\n> A quote about point {i}: {words}.\n"
    commands = "\n".join(f"mlchat ask -m m{k} 'question {i}' | tee out{k}.md" for k in range(8))
    return f"```bash\n{commands}\n```\n"


def ordinary_text(size: int) -> str:
    """`size` characters of the sections above, one after another."""
    parts: list[str] = []
    total = i = 0
    while total < size:
        parts.append(section(i) + "\n")
        total += len(parts[-1])
        i += 1
    return "".join(parts)[:size]


def paragraph_text(size: int) -> str:
    """One paragraph of `size` characters without a single newline."""
    sentence = (
        "The renderer commits a block that never ends in pieces, **so** its cost stays flat. "
    )
    return (sentence * (size // len(sentence) + 1))[:size]


def table_text(size: int) -> str:
    """One table of about `size` characters that never ends."""
    rows = ["| name | value | note |", "|------|------:|------|"]
    total = i = 0
    while total < size:
        rows.append(f"| row {i} | {i * 7} | `code` and **bold** in row {i} |")
        total += len(rows[-1]) + 1
        i += 1
    return "\n".join(rows) + "\n"


SHAPES: dict[str, Callable[[int], str]] = {
    "ordinary Markdown": ordinary_text,
    "one paragraph": paragraph_text,
    "one table": table_text,
}


def reply_tokens(n: int) -> list[str]:
    tokens: list[str] = []
    i = 0
    while len(tokens) < n:
        tokens += _TOKEN.findall(section(i) + "\n")
        i += 1
    return tokens[:n]


def devnull_console() -> tuple[Console, IO[str]]:
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed by the caller
    console = Console(
        file=sink,
        width=WIDTH,
        height=HEIGHT,
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    return console, sink


def simulated_clock(rate: float) -> tuple[Callable[[], float], Callable[[], None]]:
    """A clock at which one token arrives every 1/rate s, plus the CPU spent since the start."""
    arrived = [0.0]
    cpu0 = time.process_time()

    def clock() -> float:
        return arrived[0] + (time.process_time() - cpu0)

    def tick() -> None:
        arrived[0] += 1 / rate

    return clock, tick


def run_ours(tokens: list[str], rate: float) -> tuple[float, int]:
    console, sink = devnull_console()
    clock, tick = simulated_clock(rate)
    renderer = MarkdownRenderer(console, clock=clock, live=True)
    start = time.process_time()
    for token in tokens:
        tick()
        renderer.feed(TextDelta(token))
    renderer.finish()
    cpu = time.process_time() - start
    sink.close()
    return cpu, renderer.refreshes


def run_naive(tokens: list[str], stride: int) -> float:
    """rich Live showing Markdown of the whole reply, re-parsed and re-rendered on every token, as
    streaming chat clients commonly do. It is quadratic, so only every `stride`-th render is done
    and the CPU measured is multiplied by `stride`: the CPU of the full run, exact at stride 1."""
    from rich.live import Live
    from rich.markdown import Markdown

    console, sink = devnull_console()
    text = ""
    start = time.process_time()
    with Live(
        console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
    ) as live:
        for i, token in enumerate(tokens, 1):
            text += token
            if i % stride == 0:
                live.update(Markdown(text), refresh=True)
    cpu = time.process_time() - start
    sink.close()
    return cpu * stride


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, a few seconds")
    parser.add_argument("--rate", type=float, default=1000.0, help="tokens per second arriving")
    parser.add_argument("--shapes", action="store_true", help="only the shape rows")
    args = parser.parse_args()
    if args.shapes:
        return 0 if run_shapes(1 if args.quick else 4, args.rate) else 1
    if args.quick:
        plan = {1000: 3, 4000: 2, 16000: 1}
        naive_stride = {1000: 10, 4000: 50}
    else:
        plan = {1000: 8, 4000: 4, 16000: 2, 64000: 1}
        naive_stride = {1000: 1, 4000: 4}

    run_ours(reply_tokens(500), args.rate)  # warm up: imports, lexers, caches
    ours: dict[int, float] = {}
    print(
        f"Streaming Markdown render, {WIDTH}x{HEIGHT} colour terminal console to /dev/null, "
        f"tokens arriving at {args.rate:.0f}/s (simulated clock), best of N runs, one core\n"
    )
    header = f"{'tokens':>7} {'runs':>4} {'CPU s':>7} {'ms/1k tok':>10} {'tok/s':>8} {'redraws':>8}"
    print(header + f"   {'naive ms/1k tok':>16} {'naive/ours':>10}")
    for n, runs in plan.items():
        tokens = reply_tokens(n)
        best, refreshes = min(run_ours(tokens, args.rate) for _ in range(runs))
        per_k = best / n * 1000
        ours[n] = per_k
        row = f"{n:>7} {runs:>4} {best:>7.2f} {per_k * 1000:>10.1f} {n / best:>8.0f} {refreshes:>8}"
        if n in naive_stride:
            stride = naive_stride[n]
            naive_k = run_naive(tokens, stride) / n * 1000
            sampled = f"(1 in {stride})" if stride > 1 else ""
            row += f"   {naive_k * 1000:>9.0f} {sampled:<8} {naive_k / per_k:>8.0f}x"
        print(row)
    top = max(n for n in ours if n <= 16000)
    flat = ours[top] / ours[1000]
    slowest = max(ours.values())
    print()
    print(
        f"flatness: ms/1k at {top // 1000}k / at 1k = {flat:.2f}x (target <= 1.5x): "
        f"{'ok' if flat <= 1.5 else 'FAIL'}"
    )
    print(
        f"throughput: worst {1000 / slowest:.0f} tokens/s on one core (target >= 1000): "
        f"{'ok' if 1000 / slowest >= 1000 else 'FAIL'}"
    )
    print(
        "naive: rich Live re-rendering the whole Markdown on every token; '1 in N': only every "
        "Nth render done, CPU x N."
    )
    shapes_ok = run_shapes(1 if args.quick else 4, args.rate)
    return 0 if flat <= 1.5 and 1000 / slowest >= 1000 and shapes_ok else 1


def run_shapes(mib: int, rate: float) -> bool:
    """The shape rows: each reply of `mib` MiB streamed once; True when both targets are met."""
    size = mib * 1024 * 1024
    print(f"\nOne reply of {mib} MiB, streamed token by token at {rate:.0f}/s, one run each\n")
    print(f"{'reply':<18} {'tokens':>8} {'CPU s':>7} {'redraws':>8} {'vs ordinary':>12}")
    cpu: dict[str, float] = {}
    for name, make in SHAPES.items():
        tokens = _TOKEN.findall(make(size))
        cpu[name], refreshes = run_ours(tokens, rate)
        ratio = cpu[name] / cpu["ordinary Markdown"]
        print(f"{name:<18} {len(tokens):>8} {cpu[name]:>7.2f} {refreshes:>8} {ratio:>11.2f}x")
    worst = max(cpu.values()) / cpu["ordinary Markdown"]
    ok = worst <= 2.0
    print(
        f"\nshapes: worst {worst:.2f}x the ordinary reply's CPU (target <= 2x): "
        f"{'ok' if ok else 'FAIL'}"
    )
    return ok


if __name__ == "__main__":
    sys.exit(main())
