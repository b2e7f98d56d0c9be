"""Start-up: `mlchat --version`, `mlchat --help` and a subcommand's `--help`, each against
`python -c pass` run by the same interpreter in the same run.

Wall time from spawning the process to reaping it, output on a pipe (help is rendered as for
`mlchat --help | less`: no colour). Medians over interleaved runs.

    python bench/startup.py [--quick] [--json]

Imports: bench.common.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

VERSION_MS = 80.0
VERSION_RATIO = 8.0
HELP_MS = 150.0
LIBRARIES = "import typer, rich.console, rich.table, rich.panel, rich.columns, rich.align"


def measure(quick: bool) -> list[c.Row]:
    repeats = 7 if quick else 25
    with c.Sandbox() as sb:
        env = sb.env()
        sub = "models" if sb.has_command("models") else "ask"
        cases = {
            "python -c pass": [c.PYTHON, "-c", "pass"],
            # What any Typer app with rich help pays before drawing anything: the floor under
            # `--help` that mlchat cannot go below without leaving Typer's help.
            "import typer + rich": [c.PYTHON, "-c", LIBRARIES],
            "mlchat --version": sb.mlchat("--version"),
            "mlchat --help": sb.mlchat("--help"),
            f"mlchat {sub} --help": sb.mlchat(sub, "--help"),
        }
        c.progress(f"start-up: {len(cases)} commands x {repeats} runs")
        runs = c.interleaved(
            {name: (lambda argv=argv: c.run(argv, env).check()) for name, argv in cases.items()},
            repeats,
        )
    ms = {name: 1000 * c.median([r.wall for r in rs]) for name, rs in runs.items()}
    floor = ms.pop("python -c pass")

    def spread(name: str) -> str:
        # CPU time is what the process itself spent: a wall time well above it means the
        # machine was busy with other work during the run.
        rs = runs[name]
        cpu = 1000 * c.median([r.cpu for r in rs])
        return f"CPU {cpu:.0f} ms, fastest run {1000 * min(r.wall for r in rs):.0f} ms"

    version = ms["mlchat --version"]
    rows = [
        c.Row(
            "start-up: mlchat --version",
            version,
            "ms",
            floor,
            "python -c pass",
            f"<= {VERSION_RATIO:g}x and < {VERSION_MS:g} ms",
            version <= VERSION_RATIO * floor and version < VERSION_MS,
            note=spread("mlchat --version"),
        ),
        c.Row(
            "start-up: mlchat --help",
            ms["mlchat --help"],
            "ms",
            floor,
            "python -c pass",
            f"< {HELP_MS:g} ms",
            ms["mlchat --help"] < HELP_MS,
            note=spread("mlchat --help"),
        ),
    ]
    sub_ms = ms[f"mlchat {sub} --help"]
    rows.append(
        c.Row(
            f"start-up: mlchat {sub} --help",
            sub_ms,
            "ms",
            floor,
            "python -c pass",
            f"< {HELP_MS:g} ms",
            sub_ms < HELP_MS,
            note=spread(f"mlchat {sub} --help")
            + ("" if sub == "models" else "; no `models` command in this checkout: `ask --help`"),
        )
    )
    rows.append(
        c.Row(
            "start-up: import typer + rich help modules",
            ms["import typer + rich"],
            "ms",
            floor,
            "python -c pass",
            note="for reference: the libraries under any Typer app's rich --help",
        )
    )
    return rows


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
