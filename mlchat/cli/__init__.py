"""The command tree. typer lives in this package only; each command has its own module, and a
command's heavy imports happen inside its body, so `--help` and completion stay fast."""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat import __version__
from mlchat.cli import ask as ask_cmd
from mlchat.cli import chat as chat_cmd
from mlchat.cli import config_cmd, key
from mlchat.cli import models as models_cmd
from mlchat.cli import sessions as sessions_cmd
from mlchat.cli import tokens as tokens_cmd
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


app.command(help=chat_cmd.HELP, short_help="Chat interactively (a REPL; reads lines from a pipe).")(
    chat_cmd.chat
)
app.command(help=ask_cmd.HELP, short_help="Ask one question and stream the answer.")(ask_cmd.ask)
app.command(name="models", help=models_cmd.HELP, short_help="List the models (cached for a day).")(
    models_cmd.models
)
app.command(
    name="tokens", help=tokens_cmd.HELP, short_help="Count a prompt's tokens exactly, and its cost."
)(tokens_cmd.tokens)
app.add_typer(key.app, name="key", short_help="Store, inspect or remove the API key.")
app.add_typer(config_cmd.app, name="config", short_help="Read and edit the config file.")
app.add_typer(
    sessions_cmd.app,
    name="sessions",
    short_help="List, show, search, export and delete saved conversations.",
)
