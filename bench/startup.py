"""Start-up: `mlchat --version`, `mlchat --help` and a subcommand's `--help`, each against
`python -c pass` run by the same interpreter in the same run. Then what profiles, roles and key
sources cost a command that resolves every setting but sends nothing (`mlchat models`, answered
from a fresh cache): without a config file, and with one holding profiles and an `api_key_cmd`
that would leave a file behind if it ran (the row fails if it did).

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
    return rows + unused_features(repeats)


# A config file that uses every start-up-relevant feature: profiles, a key command, roles.
CONFIGURED = """\
base_url = "{url}"
api_key_cmd = ["touch {marker}; echo ml-bench-key-000000000000"]

[profiles.local]
base_url = "http://127.0.0.1:9/v1"
api_key = "none-needed"
[profiles.proxy]
base_url = "http://127.0.0.1:9/litellm"
api_key_env = "LITELLM_KEY"
[profiles.warm]
temperature = 1.1
"""
ROLE = 'system = "You review code."\ntemplate = "Review this:\\n{input}"\n'
URL = "http://127.0.0.1:9/api/v7/llm"  # never contacted: the model list is cached


def _sandbox_files(sb: c.Sandbox, configured: bool) -> Path:
    import json
    import time

    xdg = sb.path / "xdg"
    cache = xdg / "xdg_cache_home" / "mlchat"
    cache.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "base_url": URL, "fetched_at": time.time(), "models": [{"id": "m-1"}]}
    (cache / "models.json").write_text(json.dumps(doc))
    marker = sb.path / "api_key_cmd-ran"
    if configured:
        conf = xdg / "xdg_config_home" / "mlchat"
        (conf / "roles").mkdir(parents=True, exist_ok=True)
        (conf / "config.toml").write_text(CONFIGURED.format(url=URL, marker=marker))
        for name in ("review", "translate", "commit"):
            (conf / "roles" / f"{name}.toml").write_text(ROLE)
    return marker


def unused_features(repeats: int) -> list[c.Row]:
    with c.Sandbox() as plain, c.Sandbox() as full:
        _sandbox_files(plain, configured=False)
        marker = _sandbox_files(full, configured=True)
        plain_env = plain.env(MODELSLAB_BASE_URL=URL)
        full_env = full.env()
        cases = {
            "models, no config": lambda: c.run(plain.mlchat("models"), plain_env).check(),
            "models, configured": lambda: c.run(full.mlchat("models"), full_env).check(),
        }
        c.progress(f"start-up with profiles and a key command: {len(cases)} x {repeats} runs")
        runs = c.interleaved(cases, repeats)
        for args in (["--help"], ["ask", "--help"], ["profiles"]):
            c.run(full.mlchat(*args), full_env)
        ran = marker.exists()
    ms = {name: 1000 * c.median([r.wall for r in rs]) for name, rs in runs.items()}
    base, full_ms = ms["models, no config"], ms["models, configured"]
    return [
        c.Row(
            "start-up: models (cached), with profiles",
            full_ms,
            "ms",
            base,
            "models (cached), no config",
            "<= 1.1x, api_key_cmd not run",
            full_ms <= 1.1 * base and not ran,
            note=(
                "api_key_cmd RAN (it must not for models from cache, --help, profiles)"
                if ran
                else "api_key_cmd not run by models, --help, ask --help, profiles"
            ),
        )
    ]


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
