"""The command tree. typer lives in this package only; each command has its own module, and a
command's heavy imports happen inside its body, so `--help` and completion stay fast."""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat import __version__
from mlchat.cli import ask as ask_cmd
from mlchat.cli import chat as chat_cmd
from mlchat.runtime import Runtime

app = typer.Typer(
    name="mlchat",
    help="Chat with ModelsLab LLMs from the terminal: ask one-shot questions, pipe files through "
    "models, or chat interactively.",
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


app.command(help=ask_cmd.HELP, short_help="Ask one question and stream the answer.")(ask_cmd.ask)
app.command(help=chat_cmd.HELP, short_help="Chat interactively (a REPL; reads lines from a pipe).")(
    chat_cmd.chat
)
