"""Start-up stays fast by construction: which modules each cheap path loads (a structural test,
not a timing test; the timings are in bench/).

Each case runs the real entry point in a subprocess under `python -X importtime`, which lists
every module imported, and fails if a module that the path does not need was loaded:

- `--version` loads none of the third-party libraries (it is answered before Typer is imported);
- `--help`, every command's `--help`, and no arguments at all (which shows help) load neither the
  network stack, the REPL, nor the parts of rich that only draw replies (Markdown, Live, syntax
  highlighting) or tracebacks; see mlchat/cli/fasthelp.py for how Typer's help avoids them;
- shell completion, run on every Tab, loads no rich at all;
- `ask`, piped or on a terminal, has loaded neither the store nor the Markdown renderer (nor the
  REPL, the validator, the MCP SDK) when its request leaves: those come while the model thinks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer

from mlchat.cli import app
from tests.conftest import FAKE_KEY
from tests.emulator import Emulator, Reply

ROOT = Path(__file__).resolve().parent.parent

EVERYTHING = ("typer", "rich", "httpx", "prompt_toolkit", "platformdirs")
DRAWING = ("rich.markdown", "rich.live", "rich.syntax", "rich.traceback", "markdown_it", "pygments")
NETWORK_AND_REPL = ("httpx", "httpcore", "prompt_toolkit", "platformdirs")
VALIDATOR = ("jsonschema_rs",)
# The MCP SDK and what it brings (anyio comes with httpx): only a run that uses a server pays.
MCP = ("mcp", "mcp_types", "pydantic", "httpx2", "starlette", "uvicorn", "jsonschema")


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELSLAB_", "MLCHAT_", "_MLCHAT_", "COMP_", "_TYPER"))
        and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def imported(args: list[str], **env: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m mlchat ARGS`; the process and the modules it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlchat", *args],
        env=child_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return proc, modules


def loaded(modules: set[str], banned: tuple[str, ...]) -> list[str]:
    """The banned packages (or submodules of them) among `modules`."""
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in banned))


def commands() -> list[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return sorted(group.commands)


def test_version_loads_no_third_party_library() -> None:
    proc, modules = imported(["--version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("mlchat ")
    assert loaded(modules, EVERYTHING) == []
    assert "mlchat.cli" not in modules


@pytest.mark.parametrize(
    "args",
    [["--help"], [], *([name, "--help"] for name in commands())],
    ids=lambda args: " ".join(args) or "no arguments",
)
def test_help_loads_neither_network_repl_nor_reply_drawing(args: list[str]) -> None:
    proc, modules = imported(args)
    assert proc.returncode in (0, 2), proc.stderr  # typer exits 2 after no-args help
    assert "Usage: mlchat" in proc.stdout
    assert loaded(modules, NETWORK_AND_REPL + DRAWING + VALIDATOR + MCP) == []


def test_the_json_schema_validator_is_loaded_only_for_a_schema(emulator: Emulator) -> None:
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    proc, modules = imported(["ask", "--no-log", "hi"], **env)
    assert proc.returncode == 0, proc.stderr
    assert loaded(modules, VALIDATOR) == []
    emulator.script(Reply.chat('{"a": 1}'))
    proc, modules = imported(["ask", "--no-log", "--schema", '{"type": "object"}', "hi"], **env)
    assert proc.returncode == 0, proc.stderr
    assert "jsonschema_rs" in loaded(modules, VALIDATOR)


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("mlchat a", "1", "ask"), ("mlchat ask --api ", "3", "anthropic")],
)
def test_completion_loads_no_rich(words: str, cword: str, expected: str) -> None:
    proc, modules = imported(
        [], _MLCHAT_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword
    )
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout.split()
    assert loaded(modules, EVERYTHING[1:]) == []


def run_app(args: list[str], *, fast: bool) -> subprocess.CompletedProcess[str]:
    """The app with or without fasthelp, in a fresh interpreter."""
    code = textwrap.dedent(
        f"""
        import sys
        from mlchat.cli import app, fasthelp
        if {fast}:
            fasthelp.install()
        app(prog_name="mlchat")
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=child_env(COLUMNS="100"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["ask", "--bogus"]], ids=" ".join)
def test_fast_help_draws_exactly_what_typer_draws(args: list[str]) -> None:
    fast, slow = run_app(args, fast=True), run_app(args, fast=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )
    assert "Usage: mlchat" in fast.stdout + fast.stderr


def test_stand_ins_become_the_real_rich_classes() -> None:
    code = textwrap.dedent(
        """
        import sys
        from mlchat.cli import fasthelp
        fasthelp.install()
        import typer.rich_utils as ru
        assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
        assert fasthelp._FINDER not in sys.meta_path
        from rich.markdown import Markdown
        from rich.traceback import Traceback
        assert ru.Markdown is not Markdown
        md = ru.Markdown("**hi**")
        assert type(md) is Markdown and isinstance(md, ru.Markdown)
        try:
            raise ValueError("x")
        except ValueError as exc:
            tb = ru.Traceback.from_exception(type(exc), exc, exc.__traceback__)
        assert type(tb) is Traceback
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.stdout == "ok\n", proc.stderr


def test_a_typer_wanting_more_than_the_stand_ins_gets_the_real_modules() -> None:
    code = textwrap.dedent(
        """
        import sys
        from mlchat.cli import fasthelp
        fasthelp.DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ()}
        fasthelp.install()
        import typer.rich_utils as ru
        from rich.markdown import Markdown
        from rich.traceback import Traceback
        assert ru.Traceback is Traceback and ru.Markdown is Markdown
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.stdout == "ok\n", proc.stderr


def test_the_mcp_sdk_is_imported_only_when_a_server_is_used(tmp_path: Path) -> None:
    """A configured server costs nothing to a run that does not use it."""
    from tests.emulator import Emulator

    config = tmp_path / "config" / "mlchat" / "config.toml"
    config.parent.mkdir(parents=True)
    server = ROOT / "tests" / "mcp_server.py"
    config.write_text(
        f"[mcp.demo]\ncommand = [{str(sys.executable)!r}, {str(server)!r}, 'stdio']\n"
    )
    with Emulator() as emu:
        env = {
            "MODELSLAB_API_KEY": "ml-test-key-0123456789",
            "MODELSLAB_BASE_URL": emu.base_url,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
        for args in (["ask", "hello"], ["chat"], ["mcp", "--help"], ["tokens", "hello"]):
            proc, modules = imported(args, **env)
            assert proc.returncode == 0, proc.stderr
            assert loaded(modules, MCP) == [], args
        proc, modules = imported(["ask", "--mcp", "demo", "-y", "hello"], **env)
        assert proc.returncode == 0, proc.stderr
        assert "mcp" in modules and "mlchat.mcp_client" in modules


@pytest.mark.parametrize(
    ("body", "check"),
    [
        # subclassing a stand-in would give a class that is not a subclass of the real one
        (
            "from rich.markdown import Markdown\nclass Mine(Markdown): pass\n",
            "issubclass(m.Mine, M)",
        ),
        # a name the stand-ins do not offer
        ("from rich.markdown import Markdown, MarkdownElement\n", "m.Markdown is M"),
        # the module itself, used as a module
        ("import rich.markdown\nX = rich.markdown.Markdown\n", "m.X is M"),
        # a stand-in under another name
        ("from rich.markdown import Markdown as Other\n", "m.Other is M"),
        # anything else that fails while the stand-ins are in place
        ("from rich.markdown import Markdown\nassert Markdown.__module__ == 'nope'\n", None),
    ],
    ids=["subclass", "more-names", "module", "renamed", "other-error"],
)
def test_fasthelp_falls_back_to_the_real_modules(
    tmp_path: Path, body: str, check: str | None
) -> None:
    """Any use of the stand-ins they do not forward ends in the ordinary import, never in a
    broken or different module."""
    (tmp_path / "fake_rich_utils.py").write_text(body)
    expect = (
        f"assert {check}, 'stand-in leaked'"
        if check
        else "raise SystemExit('imported with a failing body')"
    )
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from mlchat.cli import fasthelp
        fasthelp.TARGET = "fake_rich_utils"
        fasthelp.install()
        try:
            import fake_rich_utils as m
        except AssertionError:
            m = None
        from rich.markdown import Markdown as M
        assert type(sys.modules["rich.markdown"]).__name__ == "module"
        assert sys.modules["rich.markdown"].__file__, "the stand-in module stayed"
        if m is None:
            assert {check is None}, "the body failed"
            print("ok")
            raise SystemExit(0)
        {expect}
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.stdout == "ok\n", proc.stderr


# -- send first: what is loaded before the request leaves -----------------------------------------

AT_CONNECT = textwrap.dedent(
    """
    import socket, sys
    out = sys.argv[1]
    def hook(event, args):
        # The first TCP connection is the request's: what is loaded then preceded it.
        if event == "socket.connect" and args[0].family == socket.AF_INET and not hook.done:
            hook.done = True
            with open(out, "w") as f:
                f.write("\\n".join(sorted(sys.modules)))
    hook.done = False
    sys.addaudithook(hook)
    sys.argv = ["mlchat", *sys.argv[2:]]
    from mlchat.__main__ import main
    main()
    """
)
# Not needed to send: the store (saved while the model thinks), the Markdown renderer (made ready
# then too), the REPL, the schema validator, the MCP SDK.
AFTER_SENDING = (
    "sqlite3",
    "mlchat.store",
    "mlchat.turnlog",
    "mlchat.ui.markdown",
    "mlchat.ui.lines",
    "rich.markdown",
    "markdown_it",
    "mlchat.repl",
    "prompt_toolkit",
    "mlchat.schema",
    "jsonschema_rs",
    "mlchat.mcp_client",
    *MCP,
)


def modules_of(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_send_first_loads_only_what_the_request_needs(
    emulator: Emulator, tmp_path: Path, terminal: bool
) -> None:
    import pty

    out = tmp_path / "modules.txt"
    env = child_env(
        MODELSLAB_API_KEY=FAKE_KEY,
        MODELSLAB_BASE_URL=emulator.base_url,
        TERM="xterm-256color",
        **{f"XDG_{d}_HOME": str(tmp_path / d.lower()) for d in ("CONFIG", "DATA", "STATE")},
    )
    primary, secondary = pty.openpty() if terminal else (None, None)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", AT_CONNECT, str(out), "ask", "hi"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=secondary if terminal else subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=30,
        )
    finally:
        for fd in (primary, secondary):
            if fd is not None:
                os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert len(emulator.requests) == 1
    before = set(out.read_text().split())
    assert "mlchat.client" in before  # the snapshot is the request's
    assert loaded(before, AFTER_SENDING) == []
    # rich is drawn with after the request: before it, only what importing httpx brings (its
    # command-line tool loads rich when click is installed, as in a dev environment).
    httpx_alone = modules_of("import sys, httpx; print(*sys.modules)")
    assert loaded(before - httpx_alone, ("rich", "pygments")) == []
