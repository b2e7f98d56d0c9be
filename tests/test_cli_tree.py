"""The lazily built command tree (mlchat/cli/__init__.py) is the tree an eager registration
builds: the same help for the root and every command, the same commands, and a command's module
is imported only when that command is used."""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
from typing import Any

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from mlchat.cli import COMMANDS, LazyCommands, app
from tests.test_startup_imports import child_env


def eager_app() -> typer.Typer:
    """The root as it was registered before the tree was lazy: every command added up front."""
    eager = copy.copy(app)
    eager.info = copy.copy(app.info)
    eager.info.cls = typer.core.TyperGroup
    eager.registered_commands = []
    eager.registered_groups = []
    for name, (module_name, attribute) in COMMANDS.items():
        module = importlib.import_module(module_name)
        target: Any = getattr(module, attribute)
        if isinstance(target, typer.Typer):
            eager.add_typer(target, name=name)
        else:
            eager.command(name=name, help=module.HELP)(target)
    return eager


def paths(command: Any, path: list[str]) -> list[list[str]]:
    found = [path]
    for name in getattr(command, "commands", {}):
        found += paths(command.commands[name], [*path, name])
    return found


EAGER = typer.main.get_command(eager_app())
PATHS = paths(EAGER, [])


def test_every_command_is_in_the_lazy_tree() -> None:
    lazy = typer.main.get_command(app)
    assert isinstance(lazy, typer.core.TyperGroup)
    assert isinstance(lazy.commands, LazyCommands)
    assert isinstance(EAGER, typer.core.TyperGroup)
    assert list(lazy.commands) == list(EAGER.commands) == list(COMMANDS)
    assert sorted(" ".join(p) for p in paths(lazy, [])) == sorted(" ".join(p) for p in PATHS)
    assert len(PATHS) > len(COMMANDS)  # the groups' subcommands are there too


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "root")
@pytest.mark.parametrize("columns", ["60", "100"])
def test_help_is_what_the_eager_tree_draws(path: list[str], columns: str) -> None:
    runner = CliRunner()
    env = {"COLUMNS": columns, "TERM": "dumb"}
    lazy = runner.invoke(app, [*path, "--help"], env=env)
    eager = runner.invoke(eager_app(), [*path, "--help"], env=env)
    assert (lazy.exit_code, lazy.output) == (eager.exit_code, eager.output)
    assert "Usage: " in lazy.output


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "from mlchat.cli import app\n"
        "import typer.main\n"
        "root = typer.main.get_command(app)\n"
        "root.commands['key']\n"
        "print(sorted(m for m in sys.modules if m.startswith('mlchat.cli.')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout
    assert "'mlchat.cli.key'" in loaded
    for other in ("ask", "chat", "sessions", "config_cmd", "mcp", "roles_cmd"):
        assert f"'mlchat.cli.{other}'" not in loaded


def test_an_unknown_command_is_still_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sessions", "nope"])
    assert result.exit_code == 2
