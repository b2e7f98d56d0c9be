"""Streaming cost: CPU seconds (user + system of the child) to receive replies of 1k, 4k and 16k
tokens streamed at full speed by the local emulator, for

- the floor: bench/floor_httpx.py, a minimal httpx consumer printing each delta, piped;
- `mlchat ask`, piped: plain text, flushed per delta;
- `mlchat ask` on a pseudo-terminal: rendered Markdown (`common.markdown_reply`: headings,
  paragraphs with emphasis and inline code, lists, fenced code).

A token is one SSE delta (a word with its leading whitespace, as the emulator splits text).
"Per 1k tokens" is the cost of the streaming alone: the child's CPU time between the first and
the last byte it wrote (its CPU clock, sampled as its output is read), less the same for a reply
of a few tokens holding one of each block kind (so that one-off costs such as loading the code
lexer are not counted as streaming), divided by N / 1000. Flat means the cost per token does not
grow with the length of the reply; re-rendering the whole reply per token is quadratic and fails.
Where the CPU clock of another process cannot be read (not Linux), total CPU is used instead.

    python bench/stream.py [--quick] [--json]

Imports: bench.common.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

SIZES = (1000, 4000, 16000)
RENDERED_VS_PLAIN = 2.0  # at 4k and 16k
FLAT = 1.5  # per-1k cost at 16k over per-1k cost at 1k
# The baseline reply holds one of each block kind, so one-off costs (loading the Markdown parser,
# the code lexer) count as start-up, not as streaming.
TINY = "# Hi\n\nHello **there**.\n\n- one\n- two\n\n```python\nprint('hi')\n```"
MODES = ("httpx", "plain", "rendered")


def measure(quick: bool) -> list[c.Row]:
    # Short replies are cheap and their streaming cost is small: more runs there.
    repeats = {0: 3, SIZES[0]: 3} if quick else {0: 9, SIZES[0]: 9, SIZES[1]: 5, SIZES[2]: 5}
    replies = {0: TINY, **{n: c.markdown_reply(n) for n in SIZES}}
    tokens = {n: c.count_tokens(text) for n, text in replies.items()}
    cpu: dict[tuple[str, int], list[float]] = {}
    streaming: dict[tuple[str, int], list[float]] = {}
    c.progress(f"streaming: {len(MODES)} modes x {len(replies)} sizes")
    with c.Sandbox() as sb, c.emulator() as emu:
        env = sb.env(emu.base_url)

        def one(mode: str, text: str) -> c.Run:
            emu.script(c.Reply.chat(text))
            if mode == "httpx":
                r = c.run(sb.floor_httpx(emu.base_url, "go"), env).check()
            elif mode == "plain":
                r = c.run(sb.mlchat("ask", "go"), env).check()
            else:
                r = c.run_pty(sb.mlchat("ask", "go"), env).check()
            if mode != "rendered" and r.stdout != text.encode() + b"\n":
                raise RuntimeError(f"{mode}: the reply arrived altered")
            return r

        for n, text in replies.items():
            runners: dict[str, Callable[[], c.Run]] = {
                mode: (lambda mode=mode, text=text: one(mode, text)) for mode in MODES
            }
            times = repeats.get(n, 1)
            for mode, runs in c.interleaved(runners, times, warmup=1 if n == 0 else 0).items():
                cpu[mode, n] = [r.cpu for r in runs]
                streaming[mode, n] = [r.cpu if r.stream_cpu is None else r.stream_cpu for r in runs]
    med = {key: c.median(values) for key, values in cpu.items()}
    med_streaming = {key: c.median(values) for key, values in streaming.items()}

    def per_1k(mode: str, n: int) -> float:
        return (med_streaming[mode, n] - med_streaming[mode, 0]) / (tokens[n] / 1000)

    rows: list[c.Row] = []
    for n in SIZES:
        label = f"{n // 1000}k"
        rows.append(
            c.Row(
                f"stream {label}: plain (piped) CPU",
                med["plain", n],
                "s",
                med["httpx", n],
                "httpx",
            )
        )
        targeted = n >= 4000
        ratio = med["rendered", n] / med["plain", n]
        rows.append(
            c.Row(
                f"stream {label}: rendered (pty) CPU",
                med["rendered", n],
                "s",
                med["plain", n],
                "plain",
                f"<= {RENDERED_VS_PLAIN:g}x plain" if targeted else "",
                ratio <= RENDERED_VS_PLAIN if targeted else None,
            )
        )
    for mode in MODES:
        first, last = per_1k(mode, SIZES[0]), per_1k(mode, SIZES[-1])
        ok = last <= FLAT * first if mode != "httpx" else None
        rows.append(
            c.Row(
                f"stream {mode}: CPU per 1k tokens at 16k",
                last,
                "s",
                first,
                "at 1k",
                f"flat: <= {FLAT:g}x" if ok is not None else "",
                ok,
                note=f"at 4k: {per_1k(mode, 4000):.3f} s; CPU for a tiny reply {med[mode, 0]:.3f} s"
                if mode != "httpx"
                else "",
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
