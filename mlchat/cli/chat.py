"""`mlchat chat`: the interactive REPL. This module only wires; the loop lives in mlchat/repl/,
imported inside the command body so that `--help` and completion never load prompt_toolkit."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from mlchat import signals
from mlchat.cli import attaching, common, role_use, tooling
from mlchat.cli import mcp as mcp_cmd
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError

if TYPE_CHECKING:
    from mlchat.config import Settings
    from mlchat.runtime import Runtime
    from mlchat.types import Part

HELP = doc(
    """Chat interactively: a REPL that keeps the conversation and saves every turn.

    Enter sends; Alt-Enter or Ctrl-J starts a new line; Ctrl-X Ctrl-E edits in $EDITOR; Ctrl-R
    searches the input history; Ctrl-C stops a reply (it stays in the conversation) or clears the
    line; Ctrl-D leaves. /help lists the slash commands (/model, /system, /set, /retry, /undo,
    /edit, /copy, /tokens, /save, /load, /tools, ...). Every turn is saved as it ends, unless
    --no-log.

    @path in a message attaches that file or folder to it (Tab completes; @@ is a literal @),
    /file SOURCE... attaches files, folders, globs, images or URLs to the next message, and
    -f/--file attaches them to the first one.

    With stdin not a terminal, each line is one message and the replies are plain text.

    Examples:

      mlchat chat -m minimax-minimax-m1 -s "You are terse"
      mlchat chat -c                        # go on with the latest conversation
      mlchat chat -f src/ -f design.png     # the first message carries these
      printf 'hello\\nand then?\\n/exit\\n' | mlchat chat
    """
)


def chat(
    ctx: typer.Context,
    role: role_use.RoleOpt = None,
    param: role_use.ParamOpt = None,
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
    show_reasoning: o.ShowReasoningOpt = False,
    hide_reasoning: o.HideReasoningOpt = False,
    base_url: o.BaseUrlOpt = None,
    profile: o.ProfileOpt = None,
    timeout: o.TimeoutOpt = None,
    max_time: o.MaxTimeOpt = None,
    retries: o.RetriesOpt = None,
    usage: o.UsageOpt = False,
    continue_: common.ContinueOpt = False,
    session: common.SessionOpt = None,
    no_log: common.NoLogOpt = False,
    tools_file: tooling.ToolsOpt = None,
    yes: tooling.YesOpt = False,
    max_rounds: tooling.MaxRoundsOpt = None,
    mcp: mcp_cmd.McpOpt = None,
    mcp_config: mcp_cmd.McpConfigOpt = None,
    save_role: role_use.SaveRoleOpt = None,
    files: attaching.FileOpt = None,
    max_files: attaching.MaxFilesOpt = None,
    max_bytes: attaching.MaxBytesOpt = None,
) -> None:
    from mlchat import config, context, models, prices

    rt = common.runtime(ctx)
    # SIGTERM and SIGHUP unwind like Ctrl-C (the partial reply kept and saved, the terminal
    # restored), then end the chat with 143 / 129.
    with boundary(rt), signals.interrupts():
        flags = o.flags(ctx.params)
        reasoning = o.reasoning_mode(show_reasoning, hide_reasoning)
        if continue_ and session is not None:
            raise UsageError("give either -c/--continue or --session, not both")
        if save_role is not None:
            role_use.save(rt, save_role, ctx.params, None)
            return
        active = role_use.use(rt, role, param)
        flags = role_use.flags_with(active, flags)
        if active.role is not None:
            tools_file = tools_file or active.role.tools_path()
            mcp = mcp or list(active.role.mcp)  # --mcp on the command line replaces the role's
        flags = common.resumed(rt, flags, continue_latest=continue_, ref=session)
        s = common.resolve_model(rt, common.settings(rt, flags))
        limit = attaching.limits(s, max_files, max_bytes)

        def attach(sources: Sequence[str]) -> list[Part]:
            from mlchat.repl.files import read_sources

            return read_sources(
                sources, limits=limit, warn=rt.warn, note=rt.note, timeout=s.timeout
            )

        if files and "-" in files:
            raise UsageError(
                "-f - would read stdin, but chat reads its messages there; name a file",
                hint="pipe into `mlchat ask -f -` instead, or save it to a file first",
            )
        # Read now: a bad source stops here, before any server starts or anything is sent.
        queued = attach(files) if files else []
        table = s.prices
        source = mcp_cmd.tool_source(rt, dict(s.file), mcp, mcp_config)
        mcp_cmd.check_approvals(rt, source, yes)
        tool_session = tooling.session(rt, tools_file, yes, max_rounds, mcp_cmd.sources(source))
        from mlchat.repl.loop import Repl

        resume = continue_ or session is not None
        with (
            mcp_cmd.running(source, tool_session),
            # The store is wanted even with --no-log, so that /save and /load work.
            common.conversation_log(rt, s, no_log=no_log, need_store=resume, want_store=True) as (
                store,
                log,
            ),
            common.client(rt, s) as client,
        ):
            convo = common.starting_conversation(
                rt, s, flags, store, continue_latest=continue_, ref=session
            )
            if active.role is None and convo.role:  # resumed: the role's template goes on
                active = role_use.resumed(rt, convo.role)
            convo.role = active.name
            repl = Repl(
                rt,
                client,
                convo,
                plain=plain,
                reasoning=reasoning,
                stream=not no_stream,
                log=log,
                store=store,
                # /save under --no-log saves the conversation so far, and every turn after it.
                start_log=None if store is None else (lambda: common.store_log(rt, s, store)),
                model_ids=lambda: list(models.cached_ids(s.base_url, models.cache_path(s.profile))),
                fetch_models=lambda: _fetch_models(rt, s),
                cost=lambda model, used: prices.cost(model, used, table),
                usage_line=(lambda model, used: prices.usage_line(model, used, table))
                if usage
                else None,
                tools=tool_session,
                aliases=s.aliases,
                role=active.role,
                role_values=active.values,
                window=functools.cache(lambda model: context.of(s, model)),
                attach=attach,
                queued=queued,
                compact_at=s.file.get("compact_at"),
            )
            code = repl.start(config.state_dir() / "history", vi=s.edit_mode == "vi")
    raise typer.Exit(code)


def _fetch_models(rt: Runtime, s: Settings) -> None:
    """The model list, fetched and cached for /model <Tab> (in a thread of the REPL): its own
    quiet client with a short timeout and no retries, so nothing is drawn under the prompt."""
    from mlchat import models
    from mlchat.client import Client, RetryPolicy, Timeouts

    key = common.require_key(s, rt)
    timeouts = Timeouts(read=min(s.timeout, 20.0))
    with Client(
        s.base_url, key, timeouts=timeouts, retry=RetryPolicy(retries=0), transport=rt.transport
    ) as client:
        fetched = client.list_models()
    models.save(fetched, s.base_url, path=models.cache_path(s.profile))
