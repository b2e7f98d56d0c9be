"""The command tree. typer lives in this package only; each command has its own module, and a
command's heavy imports happen inside its body, so `--help` and completion stay fast.

The tree is built lazily: `COMMANDS` names each command's module, and a command's module is
imported, and its Click command built, only when that command is looked up (`mlchat ask` loads
and builds `ask` alone; `mlchat --help` and completion of command names build them all). Each
command is built exactly as `app.command(help=HELP)(fn)` or `app.add_typer(sub_app, name=NAME)`
on the root would build it: through a root-like Typer of its own (tests/test_cli_tree.py
compares every command's help with an eagerly built tree). A new command is one line in
`COMMANDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Annotated, Any

import typer
import typer.core
import typer.main

from mlchat import __version__
from mlchat.cli import argv
from mlchat.cli.helptext import doc
from mlchat.runtime import Runtime

# name -> (module, attribute): a command function (whose module's HELP is its help) or a Typer
# app of subcommands. In the order `mlchat --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("mlchat.cli.chat", "chat"),
    "ask": ("mlchat.cli.ask", "ask"),
    "cmd": ("mlchat.cli.cmd", "cmd"),
    "shell-integration": ("mlchat.cli.integration", "shell_integration"),
    "models": ("mlchat.cli.models", "models"),
    "tokens": ("mlchat.cli.tokens", "tokens"),
    "profiles": ("mlchat.cli.profiles_cmd", "profiles"),
    "roles": ("mlchat.cli.roles_cmd", "app"),
    "key": ("mlchat.cli.key", "app"),
    "config": ("mlchat.cli.config_cmd", "app"),
    "sessions": ("mlchat.cli.sessions", "app"),
    "mcp": ("mlchat.cli.mcp", "app"),
}


def build(name: str) -> typer.core.TyperCommand | typer.core.TyperGroup:
    """The Click command `name` (one of COMMANDS), built as the root would build it."""
    module_name, attribute = COMMANDS[name]
    module = importlib.import_module(module_name)
    target: Any = getattr(module, attribute)
    # A root-like Typer with a callback always builds a group, the way the root does, and
    # without completion options (only the real root has those).
    holder = typer.Typer(add_completion=False)
    holder.callback()(_nothing)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name=name, help=module.HELP)(target)
    group = typer.main.get_command(holder)
    assert isinstance(group, typer.core.TyperGroup)
    command = group.commands[name]
    assert isinstance(command, typer.core.TyperCommand | typer.core.TyperGroup)
    return command


def _nothing() -> None:
    """The holder's callback (never run)."""


class LazyCommands(MutableMapping[str, Any]):
    """The root's commands: every name known at once, each command built on first access."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self._built: dict[str, Any] = dict(built)
        self._names = [*self._built, *(n for n in COMMANDS if n not in self._built)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class Group(typer.core.TyperGroup):
    """The root command, with the shortcuts of cli/argv.py applied to what the user typed, and
    its commands built when first looked up (`LazyCommands`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if not ctx.resilient_parsing:  # shell completion sees the words as typed
            piped = not args and argv.has_piped_input(
                ctx.obj if isinstance(ctx.obj, Runtime) else None
            )
            args = argv.rewrite(args, set(self.commands), stdin_piped=piped)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=Group,
    name="mlchat",
    help=doc(
        """Chat with ModelsLab's LLMs from the terminal.

        Ask one-shot questions, pipe files and command output through models in scripts, or chat
        interactively. Replies stream as they are written: Markdown on a terminal, exact text in
        a pipe.

        Set MODELSLAB_API_KEY or run `mlchat key set` first (get a key at
        https://modelslab.com/dashboard/api-keys). Run `mlchat COMMAND --help` for a command's
        options and examples.

        Examples:

          mlchat key set
          mlchat ask "Explain quantum computing in simple terms"
          git diff | mlchat ask "write a commit message"
        """
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"mlchat {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Show the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show requests on stderr and tracebacks for errors (key masked)."
        ),
    ] = False,
) -> None:
    rt = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    rt.bind()
    rt.debug = rt.debug or debug or rt.env.get("MLCHAT_DEBUG", "") not in ("", "0")
    ctx.obj = rt
