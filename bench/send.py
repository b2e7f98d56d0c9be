"""Send first: how soon `mlchat ask`'s request is on the wire, and how soon the first token that
arrives is on the screen, each against a bare script doing the same in the same run.

- **On the wire**: from spawning the process to the moment bench/wire.py's server has read the
  whole request (headers and body). Floor: bench/floor_httpx.py sending the same request. Piped
  (stdout a pipe, no stdin), on a pseudo-terminal, and with a 5 MB prompt piped on stdin (the
  floor reads the same 5 MB from its stdin).
- **First token on screen**: from the server writing the first content delta to that token
  appearing in the child's output (written when piped, drawn on the pseudo-terminal). The
  server waits `THINK` seconds between the response headers and the delta, as a model does
  before its first token, so work a client does while it waits (importing its renderer) is not
  counted. Floors: floor_httpx.py piped, bench/floor_rich.py (httpx and rich, Markdown in a Live
  display) on the pseudo-terminal.

Medians over interleaved runs (A B C ... A B C ...), so load on the machine falls on all alike.

    python bench/send.py [--quick] [--json]

Imports: bench.common, bench.wire.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
import wire

WIRE_RATIO = 1.1
LARGE_RATIO = 1.2
TOKEN_SLACK_MS = 5.0  # "at most a few milliseconds more" than the floor
THINK = 0.25
LARGE = 5_000_000
FLOOR_RICH = c.BENCH / "floor_rich.py"


def _large_prompt() -> bytes:
    line = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\n"
    return (line * (LARGE // len(line) + 1))[:LARGE]


def measure(quick: bool) -> list[c.Row]:
    repeats = 5 if quick else 15
    big = _large_prompt()
    marker = wire.TOKEN.encode()
    with c.Sandbox() as sb, wire.WireServer(think=THINK) as server:
        env = sb.env(server.base_url)
        url = server.base_url

        def timed(spawn: Callable[[], c.Run]) -> Callable[[], c.Run]:
            def once() -> c.Run:
                server.take()
                r = spawn().check()
                got = [a for a in server.take() if a.path.endswith("/chat/completions")]
                if len(got) != 1 or r.marker_at is None:
                    raise RuntimeError(
                        f"{' '.join(r.argv[1:3])}: {len(got)} requests, token "
                        f"{'seen' if r.marker_at else 'never seen'}: {r.stdout[-200:]!r}"
                    )
                r.wire_at = got[0].arrived - r.started  # type: ignore[attr-defined]
                r.token_lag = r.marker_at - (got[0].first_delta or 0.0)  # type: ignore[attr-defined]
                return r

            return once

        runners: dict[str, Callable[[], c.Run]] = {
            "mlchat piped": timed(lambda: c.run(sb.mlchat("ask", "hi"), env, marker=marker)),
            "httpx piped": timed(lambda: c.run(sb.floor_httpx(url, "hi"), env, marker=marker)),
            "mlchat pty": timed(lambda: c.run_pty(sb.mlchat("ask", "hi"), env, marker=marker)),
            "httpx pty": timed(lambda: c.run_pty(sb.floor_httpx(url, "hi"), env, marker=marker)),
            "httpx+rich pty": timed(
                lambda: c.run_pty([c.PYTHON, str(FLOOR_RICH), url, "hi"], env, marker=marker)
            ),
            "mlchat 5 MB": timed(lambda: c.run(sb.mlchat("ask"), env, stdin=big, marker=marker)),
            "httpx 5 MB": timed(
                lambda: c.run(sb.floor_httpx(url, "-"), env, stdin=big, marker=marker)
            ),
        }
        c.progress(f"send first: {len(runners)} commands x {repeats} runs")
        runs = c.interleaved(runners, repeats)

    def ms(name: str, attr: str) -> float:
        return 1000 * c.median([getattr(r, attr) for r in runs[name]])

    def fastest(name: str, attr: str) -> float:
        return 1000 * min(getattr(r, attr) for r in runs[name])

    rows: list[c.Row] = []
    for label, mine, floor, ratio in (
        ("on the wire: ask (piped)", "mlchat piped", "httpx piped", WIRE_RATIO),
        ("on the wire: ask (pty)", "mlchat pty", "httpx pty", WIRE_RATIO),
        ("on the wire: ask, 5 MB stdin", "mlchat 5 MB", "httpx 5 MB", LARGE_RATIO),
    ):
        value, base = ms(mine, "wire_at"), ms(floor, "wire_at")
        rows.append(
            c.Row(
                label,
                value,
                "ms",
                base,
                f"{floor} script",
                f"<= {ratio:g}x",
                value <= ratio * base,
                note=f"fastest runs: mlchat {fastest(mine, 'wire_at'):.0f} ms, "
                f"floor {fastest(floor, 'wire_at'):.0f} ms",
            )
        )
    for label, mine, floor in (
        ("first token on screen: ask (piped)", "mlchat piped", "httpx piped"),
        ("first token on screen: ask (pty, rendered)", "mlchat pty", "httpx+rich pty"),
    ):
        value, base = ms(mine, "token_lag"), ms(floor, "token_lag")
        rows.append(
            c.Row(
                label,
                value,
                "ms",
                base,
                f"{floor} script",
                f"<= floor + {TOKEN_SLACK_MS:g} ms",
                value <= base + TOKEN_SLACK_MS,
                note=f"from the delta's write to its appearance; the server waits {THINK} s "
                "before the first delta",
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
