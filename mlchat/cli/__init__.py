"""The command tree. typer lives in this package only; each command has its own module, and a
command's heavy imports happen inside its body, so `--help` and completion stay fast."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.core

from mlchat import __version__
from mlchat.cli import argv, config_cmd, key, mcp, profiles_cmd, roles_cmd
from mlchat.cli import ask as ask_cmd
from mlchat.cli import chat as chat_cmd
from mlchat.cli import models as models_cmd
from mlchat.cli import sessions as sessions_cmd
from mlchat.cli import tokens as tokens_cmd
from mlchat.cli.helptext import doc
from mlchat.runtime import Runtime


class Group(typer.core.TyperGroup):
    """The root command, with the shortcuts of cli/argv.py applied to what the user typed."""

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


# Each command's summary in `mlchat --help` is the first line of its own help (cli/helptext.py).
app.command(help=chat_cmd.HELP)(chat_cmd.chat)
app.command(help=ask_cmd.HELP)(ask_cmd.ask)
app.command(name="models", help=models_cmd.HELP)(models_cmd.models)
app.command(name="tokens", help=tokens_cmd.HELP)(tokens_cmd.tokens)
app.command(name="profiles", help=profiles_cmd.HELP)(profiles_cmd.profiles)
app.add_typer(roles_cmd.app, name="roles")
app.add_typer(key.app, name="key")
app.add_typer(config_cmd.app, name="config")
app.add_typer(sessions_cmd.app, name="sessions")
app.add_typer(mcp.app, name="mcp")
