"""`mlchat cmd`: from a question to one shell command (mlchat/shellmode.py), edited and run on a
terminal, printed alone everywhere else. This module only wires."""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat.cli import attaching, common, role_use
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError

HELP = doc(
    """Ask for a shell command, then edit it, and run it or not.

    The model is asked through the built-in `shell` role (see `mlchat roles show shell`), which
    names the operating system, your shell ($SHELL) and the current directory's name. On a
    terminal the command is shown in an editable line: Enter runs the line as edited in your
    shell ($SHELL -c, else sh) with the terminal attached, and mlchat exits with its status;
    Alt-D describes it, Alt-R asks for a revision, Alt-C copies it, Ctrl-C cancels. Nothing runs
    unless you press Enter on it.

    Without a terminal (stdout or stdin redirected), or with --print, the command is printed
    alone on stdout and nothing is run. The exchange is saved like any conversation, with the
    command that was run and its exit status.

    Examples:

      mlchat cmd "find files over 100 MB changed this week"
      mlchat cmd --print "list listening TCP ports" | tee cmd.txt
    """
)


def cmd(
    ctx: typer.Context,
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What the command should do (appended after piped stdin).",
            metavar="PROMPT",
            show_default=False,
        ),
    ] = None,
    print_only: Annotated[
        bool,
        typer.Option(
            "--print",
            help="Print the command on stdout and run nothing (the default without a terminal).",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    role: role_use.RoleOpt = None,
    param: role_use.ParamOpt = None,
    model: o.ModelOpt = None,
    system: o.SystemOpt = None,
    temperature: o.TemperatureOpt = None,
    top_p: o.TopPOpt = None,
    max_tokens: o.MaxTokensOpt = None,
    seed: o.SeedOpt = None,
    api: o.ApiOpt = None,
    no_stream: Annotated[
        bool,
        typer.Option("--no-stream", help="Wait for each whole reply.", rich_help_panel=o.OUTPUT),
    ] = False,
    plain: o.PlainOpt = False,
    base_url: o.BaseUrlOpt = None,
    profile: o.ProfileOpt = None,
    timeout: o.TimeoutOpt = None,
    max_time: o.MaxTimeOpt = None,
    retries: o.RetriesOpt = None,
    no_log: common.NoLogOpt = False,
) -> None:
    from mlchat import signals
    from mlchat.cli.ask import read_prompt

    rt = common.runtime(ctx)
    with boundary(rt), signals.interrupts():
        flags = o.flags(ctx.params)
        # The built-in `shell` role (or a file that replaces it), unless -r names another.
        active = role_use.use(rt, role or "shell", param)
        flags = role_use.flags_with(active, flags)
        s = common.resolve_model(rt, common.settings(rt, flags))
        text = read_prompt(rt, s, prompt, None, attaching.limits(s, None, None), required=False)
        if active.needs_input and not text.content.strip():
            raise UsageError(
                "no prompt: say what the command should do, as an argument or on stdin",
                hint='mlchat cmd "find files over 100 MB changed this week"',
            )
        interactive = bool(rt.stdin_tty and rt.stdout_tty) and not print_only
        from mlchat.clipboard import copy_to_clipboard
        from mlchat.shellmode import CommandMode

        with (
            common.conversation_log(rt, s, no_log=no_log) as (_store, log),
            common.client(rt, s) as client,
        ):
            convo = common.starting_conversation(rt, s, flags, None)
            convo.role = active.name
            mode = CommandMode(
                rt,
                client,
                convo,
                log,
                stream=not no_stream,
                plain=plain,
                copy=lambda command: copy_to_clipboard(rt, command).routes(),
            )
            command = mode.suggestion(active.message(text))
            if not interactive:
                mode.print(command)
                return
            from mlchat.repl.cmdline import CommandLine

            code = mode.interact(CommandLine(), command)
    raise typer.Exit(code)
