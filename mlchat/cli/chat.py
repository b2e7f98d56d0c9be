"""`mlchat chat`: the interactive REPL. This module only wires; the loop lives in mlchat/repl.py,
imported inside the command body so that `--help` and completion never load prompt_toolkit."""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat import config
from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.session import Conversation

HELP = """Chat interactively, keeping the conversation, the system prompt and the parameters.

Enter sends; Alt-Enter or Ctrl-J starts a new line; Ctrl-X Ctrl-E edits in $EDITOR; Ctrl-R
searches the input history; Ctrl-C stops a reply (it stays in the conversation) or clears the
line; Ctrl-D leaves. /help lists the slash commands (/model, /system, /set, /retry, /undo,
/edit, /copy, /tokens, ...).

With stdin not a terminal, each line is one message and the replies are plain text:

  printf 'hello\\nand then?\\n/exit\\n' | mlchat chat
"""


def chat(
    ctx: typer.Context,
    model: o.ModelOpt = None,
    system: o.SystemOpt = None,
    temperature: o.TemperatureOpt = None,
    top_p: o.TopPOpt = None,
    max_tokens: o.MaxTokensOpt = None,
    frequency_penalty: o.FrequencyOpt = None,
    presence_penalty: o.PresenceOpt = None,
    stop: o.StopOpt = None,
    seed: o.SeedOpt = None,
    api: o.ApiOpt = None,
    no_stream: Annotated[
        bool,
        typer.Option("--no-stream", help="Wait for each whole reply.", rich_help_panel=o.OUTPUT),
    ] = False,
    plain: o.PlainOpt = False,
    base_url: o.BaseUrlOpt = None,
    timeout: o.TimeoutOpt = None,
    retries: o.RetriesOpt = None,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        flags = o.flags(
            model=model,
            system=system,
            api=api,
            base_url=base_url,
            timeout=timeout,
            retries=retries,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            stop=stop,
            seed=seed,
        )
        s = common.settings(rt, flags)
        convo = Conversation(model=s.model, dialect=s.dialect, system=s.system, params=s.params)
        from mlchat import repl

        with common.client(rt, s) as client:
            code = repl.run(
                rt,
                client,
                convo,
                plain=plain,
                stream=not no_stream,
                history=config.state_dir() / "history",
            )
    raise typer.Exit(code)
