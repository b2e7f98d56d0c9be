"""Start-up: `mlchat --version` and `--help` for the root and every command (the list is read
from the command tree), each against `python -c pass` run by the same interpreter in the same
run; `sessions list` with 2,000 stored conversations, `key status` and `config path` against
`--version` (and, for the list, a bare sqlite3 script reading and printing the same rows).
Then what profiles, roles and key sources cost a command that resolves every setting but sends
nothing (`mlchat models`, answered from a fresh cache): without a config file, and with one
holding profiles and an `api_key_cmd` that would leave a file behind if it ran (the row fails
if it did). Last, what configured MCP servers cost the runs that use none: `ask` against the
emulator with and without two `[mcp.NAME]` tables (a stdio server that would leave a file behind
if it started, and an HTTP one), and, under `python -X importtime`, that `ask`, `chat`, `models`
and `mcp --help` never import the SDK (the row fails if one did, or if the server started).

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

VERSION_RATIO = 1.5
HELP_MS = 100.0
LOCAL_RATIO = 2.0  # commands that touch no network: <= 2x --version plus their own work
CONVERSATIONS = 2000
LIBRARIES = "import typer, rich.console, rich.table, rich.panel, rich.columns, rich.align"
# Every command path, printed by a child (so the bench never imports mlchat itself).
LIST_COMMANDS = """
import typer.main, mlchat.cli as m
def walk(cmd, path):
    yield path
    for name in getattr(cmd, "list_commands", lambda ctx: [])(None):
        yield from walk(cmd.get_command(None, name), [*path, name])
for p in walk(typer.main.get_command(m.app), []):
    print(" ".join(p))
"""
# The floor under `sessions list`: the same rows read with sqlite3 and printed, no mlchat.
BARE_LIST = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(
    "SELECT c.id, c.name, c.updated, c.model, (SELECT count(*) FROM messages m"
    " WHERE m.conversation_id = c.id), (SELECT content FROM messages m WHERE"
    " m.conversation_id = c.id AND m.role = 'user' ORDER BY seq LIMIT 1)"
    " FROM conversations c ORDER BY c.updated DESC LIMIT ?", (int(sys.argv[2]),)).fetchall()
sys.stdout.write("".join("\\t".join(str(x) for x in r) + "\\n" for r in rows))
"""


def command_paths(sb: c.Sandbox) -> list[list[str]]:
    proc = c.run([c.PYTHON, "-c", LIST_COMMANDS], sb.env()).check()
    return [line.split() for line in proc.stdout.decode().splitlines()]


def measure(quick: bool) -> list[c.Row]:
    repeats = 5 if quick else 15
    with c.Sandbox() as sb:
        env = sb.env()
        paths = command_paths(sb)
        cases = {
            "python -c pass": [c.PYTHON, "-c", "pass"],
            # What any Typer app with rich help pays before drawing anything.
            "import typer + rich": [c.PYTHON, "-c", LIBRARIES],
            "mlchat --version": sb.mlchat("--version"),
            **{" ".join(["mlchat", *p, "--help"]): sb.mlchat(*p, "--help") for p in paths},
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
            f"<= {VERSION_RATIO:g}x",
            version <= VERSION_RATIO * floor,
            note=spread("mlchat --version"),
        ),
    ]
    for p in paths:
        name = " ".join(["mlchat", *p, "--help"])
        rows.append(
            c.Row(
                f"help: {name}",
                ms[name],
                "ms",
                floor,
                "python -c pass",
                f"< {HELP_MS:g} ms",
                ms[name] < HELP_MS,
                note=spread(name),
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
    return rows + local_commands(repeats) + unused_features(repeats) + mcp_unused(repeats)


def _fill_store(sb: c.Sandbox, n: int) -> Path:
    """A store holding `n` conversations: one saved by `mlchat ask`, copied n - 1 times."""
    import os
    import sqlite3

    import wire

    with wire.WireServer() as server:
        c.run(
            sb.mlchat("ask", "how do I sort a list of pairs by the second item?"),
            sb.env(server.base_url),
        ).check()
    found = [
        p
        for p in (sb.path / "xdg").rglob("*")
        if p.is_file() and p.read_bytes()[:16] == b"SQLite format 3\x00"
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one conversation store, found {found}")
    db = sqlite3.connect(found[0])
    conv_cols = [r[1] for r in db.execute("PRAGMA table_info(conversations)")]
    msg_cols = [r[1] for r in db.execute("PRAGMA table_info(messages)") if r[1] != "id"]
    (source,) = db.execute("SELECT id FROM conversations").fetchone()
    with db:
        for i in range(1, n):
            new = os.urandom(len(source) // 2).hex()
            fresh = {
                "id": new,
                "updated": f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            }
            picked = ", ".join("?" if col in fresh else col for col in conv_cols)
            db.execute(
                f"INSERT INTO conversations ({', '.join(conv_cols)}) SELECT {picked}"
                " FROM conversations WHERE id = ?",
                [*(fresh[col] for col in conv_cols if col in fresh), source],
            )
            cols = ", ".join(msg_cols)
            picked = ", ".join("?" if col == "conversation_id" else col for col in msg_cols)
            db.execute(
                f"INSERT INTO messages ({cols}) SELECT {picked} FROM messages"
                " WHERE conversation_id = ?",
                [new, source],
            )
    db.close()
    return found[0]


def local_commands(repeats: int) -> list[c.Row]:
    """Commands that touch no network, against `--version` and their own work."""
    with c.Sandbox() as sb:
        path = _fill_store(sb, CONVERSATIONS)
        env = sb.env()
        cases = {
            "mlchat --version": lambda: c.run(sb.mlchat("--version"), env).check(),
            "python -c pass": lambda: c.run([c.PYTHON, "-c", "pass"], env).check(),
            "bare list": lambda: c.run([c.PYTHON, "-c", BARE_LIST, str(path), "20"], env).check(),
            "bare list all": lambda: c.run(
                [c.PYTHON, "-c", BARE_LIST, str(path), "-1"], env
            ).check(),
            "sessions list": lambda: c.run(sb.mlchat("sessions", "list"), env).check(),
            "sessions list -n 0": lambda: c.run(
                sb.mlchat("sessions", "list", "-n", "0"), env
            ).check(),
            "key status": lambda: c.run(sb.mlchat("key", "status"), env),
            "config path": lambda: c.run(sb.mlchat("config", "path"), env).check(),
        }
        c.progress(f"local commands, {CONVERSATIONS} conversations: {len(cases)} x {repeats}")
        runs = c.interleaved(cases, repeats)
        listed = {
            name: runs[name][0].stdout.count(b"\n")
            for name in ("sessions list", "sessions list -n 0")
        }
    ms = {name: 1000 * c.median([r.wall for r in rs]) for name, rs in runs.items()}
    version = ms["mlchat --version"]
    rows = []
    for name, bare, want in (
        ("sessions list", "bare list", 20),
        ("sessions list -n 0", "bare list all", CONVERSATIONS),
    ):
        work = max(0.0, ms[bare] - ms["python -c pass"])
        rows.append(
            c.Row(
                f"local: {name} ({CONVERSATIONS} conversations)",
                ms[name],
                "ms",
                version,
                "--version",
                f"<= {LOCAL_RATIO:g}x --version + {work:.0f} ms",
                ms[name] <= LOCAL_RATIO * version + work and listed[name] == want,
                note=f"{listed[name]} lines; own work: sqlite3 reading and printing the same rows"
                f" takes {work:.0f} ms over python -c pass",
            )
        )
    for name in ("key status", "config path"):
        rows.append(
            c.Row(
                f"local: {name}",
                ms[name],
                "ms",
                version,
                "--version",
                f"<= {LOCAL_RATIO:g}x --version",
                ms[name] <= LOCAL_RATIO * version,
            )
        )
    return rows


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


# Two servers that a run without --mcp must neither start nor pay for: the stdio one would leave
# a file behind if it ran; nothing listens on port 9.
MCP_CONFIG = """\
[mcp.files]
command = ["sh", "-c", "touch {marker}"]
[mcp.web]
url = "http://127.0.0.1:9/mcp"
"""
MCP_MODULES = ("mcp", "mcp_types", "httpx2", "pydantic", "mlchat.mcp_client")


def _imports(sb: c.Sandbox, env: dict[str, str], args: list[str], stdin: bytes | None) -> set[str]:
    argv = [c.PYTHON, "-X", "importtime", str(sb.entry), *args]
    proc = c.run(argv, env, stdin=stdin).check()
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.decode(errors="replace").splitlines()
        if line.startswith("import time:")
    }


def mcp_unused(repeats: int) -> list[c.Row]:
    with c.emulator() as emu, c.Sandbox() as plain, c.Sandbox() as full:
        marker = full.path / "mcp-server-ran"
        conf = full.path / "xdg" / "xdg_config_home" / "mlchat"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "config.toml").write_text(MCP_CONFIG.format(marker=marker))
        plain_env, full_env = plain.env(emu.base_url), full.env(emu.base_url)
        cases = {
            "ask, no config": lambda: c.run(plain.mlchat("ask", "hi"), plain_env).check(),
            "ask, MCP configured": lambda: c.run(full.mlchat("ask", "hi"), full_env).check(),
        }
        c.progress(f"start-up with MCP servers configured: {len(cases)} x {repeats} runs")
        runs = c.interleaved(cases, repeats)
        paths: list[tuple[list[str], bytes | None]] = [
            (["ask", "hi"], None),
            (["chat"], b"hi\n"),
            (["models"], None),
            (["mcp", "--help"], None),
        ]
        leaked = sorted(
            " ".join(args)
            for args, stdin in paths
            if any(
                m == b or m.startswith(b + ".")
                for m in _imports(full, full_env, args, stdin)
                for b in MCP_MODULES
            )
        )
        ran = marker.exists()
    ms = {name: 1000 * c.median([r.wall for r in rs]) for name, rs in runs.items()}
    base, full_ms = ms["ask, no config"], ms["ask, MCP configured"]
    if leaked or ran:
        note = f"mcp imported by: {', '.join(leaked) or '-'}; server started: {ran}"
    else:
        note = "mcp never imported by ask, chat, models, mcp --help; no server started"
    return [
        c.Row(
            "start-up: ask, MCP servers configured, none used",
            full_ms,
            "ms",
            base,
            "ask, no config",
            "<= 1.1x, mcp not imported",
            full_ms <= 1.1 * base and not leaked and not ran,
            note=note,
        )
    ]


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
