"""`mlchat ask`: one question from argv and/or piped stdin, one streamed answer on stdout."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from mlchat import signals
from mlchat.cli import attaching, common, role_use, tooling
from mlchat.cli import mcp as mcp_cmd
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import (
    Interrupted,
    MlchatError,
    OutputError,
    Refused,
    RequestRejected,
    UsageError,
)
from mlchat.runtime import Runtime
from mlchat.text import json_text

if TYPE_CHECKING:
    from mlchat import prices
    from mlchat.attach import Limits
    from mlchat.client import Client
    from mlchat.config import Settings
    from mlchat.fences import Fence
    from mlchat.session import Conversation, Reply, TurnLog
    from mlchat.toolloop import (
        OutputFormat,
        ToolSession,
    )
    from mlchat.tools import ToolResult
    from mlchat.types import Message
    from mlchat.ui.render import ReasoningMode

STRUCTURED = "Structured output and tools"
Extract = Literal["first", "last"] | None

HELP = doc(
    """Ask one question and stream the answer.

    The prompt is assembled in one order: piped stdin, then each --file in the order given
    (files, folders, globs, images, URLs), then the argument, separated by blank lines. On a
    terminal the answer is rendered as Markdown; piped, stdout gets exactly the answer text,
    and --json gives one JSON object for scripts.

    Every exchange is saved (see `mlchat sessions`) unless --no-log or `log = false` in the
    config file.

    Examples:

      mlchat ask "What is a monad, in one paragraph?"
      git diff | mlchat ask "write a commit message"
      mlchat ask -f src/ -f error.png "why does this fail?"
      mlchat ask -c "and in one sentence?"    # continue the latest conversation
    """
)


def read_prompt(
    rt: Runtime,
    s: Settings,
    argument: str | None,
    files: list[str] | None,
    limit: Limits,
    *,
    allow_binary: bool = False,
    required: bool = True,
) -> Message:
    """The user message from every source, in the documented order (piped stdin, each --file,
    the argument); every bad source is a usage error (or, for a URL, exit 6) before any request."""
    got = attaching.collect(rt, argument, files, limit, allow_binary=allow_binary)
    message = attaching.message(rt, s, got, limit)
    if not message.content.strip() and not message.parts and required:
        raise UsageError(
            "no prompt: give one as an argument, with --file, or pipe it on stdin",
            hint='mlchat ask "your question"   or   echo "your question" | mlchat ask',
        )
    return message


def ask(
    ctx: typer.Context,
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="The question (appended after piped stdin).", metavar="PROMPT", show_default=False
        ),
    ] = None,
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
        typer.Option("--no-stream", help="Wait for the whole reply.", rich_help_panel=o.OUTPUT),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: text, reasoning, model, usage, finish_reason, tool_calls.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    plain: o.PlainOpt = False,
    extract: Annotated[
        bool,
        typer.Option(
            "--extract",
            "-x",
            help="Print only the code of the reply's first fenced block (exit 4 if it has none).",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    extract_last: Annotated[
        bool,
        typer.Option(
            "--extract-last",
            help="Print only the code of the reply's last fenced block (implies -x).",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            help="With -x: do not show the reply on stderr.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    usage: o.UsageOpt = False,
    show_reasoning: o.ShowReasoningOpt = False,
    hide_reasoning: o.HideReasoningOpt = False,
    base_url: o.BaseUrlOpt = None,
    profile: o.ProfileOpt = None,
    timeout: o.TimeoutOpt = None,
    max_time: o.MaxTimeOpt = None,
    retries: o.RetriesOpt = None,
    continue_: common.ContinueOpt = False,
    session: common.SessionOpt = None,
    no_log: common.NoLogOpt = False,
    tools_file: tooling.ToolsOpt = None,
    yes: tooling.YesOpt = False,
    max_rounds: tooling.MaxRoundsOpt = None,
    mcp: mcp_cmd.McpOpt = None,
    mcp_config: mcp_cmd.McpConfigOpt = None,
    json_mode: Annotated[
        bool,
        typer.Option(
            "--json-mode",
            help="Ask for a JSON object (response_format json_object); print it validated.",
            rich_help_panel=STRUCTURED,
        ),
    ] = False,
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help="JSON Schema (inline JSON or a file) the reply must match; exit 4 if it doesn't.",
            rich_help_panel=STRUCTURED,
            metavar="FILE_OR_JSON",
        ),
    ] = None,
    allow_binary: o.AllowBinaryOpt = False,
    files: attaching.FileOpt = None,
    max_files: attaching.MaxFilesOpt = None,
    max_bytes: attaching.MaxBytesOpt = None,
    save_role: role_use.SaveRoleOpt = None,
) -> None:

    rt = common.runtime(ctx)
    # SIGTERM and SIGHUP take Ctrl-C's path: the partial reply is kept, the exit code says which.
    with boundary(rt), signals.interrupts():
        flags = o.flags(ctx.params)
        reasoning = o.reasoning_mode(show_reasoning, hide_reasoning)
        if continue_ and session is not None:
            raise UsageError("give either -c/--continue or --session, not both")
        which: Extract = "last" if extract_last else "first" if extract else None
        if which is None and quiet:
            raise UsageError("--quiet goes with -x/--extract or --extract-last")
        if save_role is not None:
            role_use.save(rt, save_role, ctx.params, prompt)
            return
        active = role_use.use(rt, role, param)
        flags = role_use.flags_with(active, flags)
        if active.role is not None:  # the role's tools and output format, unless flags say
            tools_file = tools_file or active.role.tools_path()
            mcp = mcp or list(active.role.mcp)  # --mcp on the command line replaces the role's
            if schema is None and not json_mode and which is None:
                schema, json_mode = active.role.schema, active.role.json_mode
        if which is not None and (schema is not None or json_mode):
            raise UsageError(
                "-x extracts a code block: it does not go with --json-mode or --schema"
            )
        flags = common.resumed(rt, flags, continue_latest=continue_, ref=session)
        s = common.resolve_model(rt, common.settings(rt, flags))
        limit = attaching.limits(s, max_files, max_bytes)
        text = read_prompt(
            rt, s, prompt, files, limit, allow_binary=allow_binary, required=active.needs_input
        )
        table = s.prices
        source = mcp_cmd.tool_source(rt, dict(s.file), mcp, mcp_config)
        mcp_cmd.check_approvals(rt, source, yes)
        opts = Options(
            stream=not no_stream,
            as_json=as_json,
            plain=plain,
            usage=usage,
            output=_output_format(json_mode, schema),
            tools=tooling.session(rt, tools_file, yes, max_rounds, mcp_cmd.sources(source)),
            reasoning=reasoning,
            extract=which,
            quiet=quiet,
        )
        resume = continue_ or session is not None
        with (
            mcp_cmd.running(source, opts.tools),
            common.conversation_log(rt, s, no_log=no_log, need_store=resume) as (store, log),
        ):
            convo = common.starting_conversation(
                rt, s, flags, store, continue_latest=continue_, ref=session
            )
            if active.role is None and convo.role:  # resumed: the role's template goes on
                active = role_use.resumed(rt, convo.role)
            convo.role = active.name
            run(rt, s, convo, active.message(text), log, opts, table)


def _output_format(json_mode: bool, schema: str | None) -> OutputFormat | None:
    from mlchat.toolloop import OutputFormat, load_schema

    if schema is not None:
        return OutputFormat(load_schema(schema, _read_text))
    return OutputFormat() if json_mode else None


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read {path}: {reason}") from None


@dataclass(frozen=True, slots=True)
class Options:
    stream: bool = True
    as_json: bool = False
    plain: bool = False
    usage: bool = False
    output: OutputFormat | None = None
    tools: ToolSession | None = None
    reasoning: ReasoningMode = "auto"
    extract: Extract = None  # -x / --extract-last: stdout gets that code block only
    quiet: bool = False  # with extract: the reply is not shown on stderr


def run(
    rt: Runtime,
    s: Settings,
    convo: Conversation,
    text: str | Message,
    log: TurnLog,
    opts: Options,
    table: Mapping[str, prices.Price],
) -> None:
    from mlchat import prices
    from mlchat.providers import get_provider
    from mlchat.toolloop import total_usage
    from mlchat.turn import Turn, stdout_writes

    provider = get_provider(convo.dialect)
    for name in provider.unsupported_params(convo.params):
        rt.warn(f"{name} is not part of the {convo.dialect} dialect and is not sent")
    fmt = opts.output
    request_options = fmt.request_options(convo.dialect) if fmt is not None else {}
    extract = opts.extract
    # With -x the reply is drawn on stderr, and only on a terminal unless --quiet.
    hidden = extract is not None and (opts.quiet or not rt.stderr_tty)
    # The client first: without a key nothing is sent, so nothing is saved.
    with common.client(rt, s) as client:
        _check_window(s, convo, text, client)
        turn = Turn(
            rt,
            client,
            convo,
            log,
            stream=opts.stream,
            tools=opts.tools,
            plain=opts.plain,
            reasoning=opts.reasoning,
            # With --json or a structured format, stdout gets one document at the end.
            quiet=opts.as_json or fmt is not None or hidden,
            on_stderr=extract is not None,
            request_options=request_options,
            extra_tools=fmt.extra_tools(convo.dialect) if fmt is not None else (),
            length_hint="raise the limit with --max-tokens",
        )
        try:
            turn.run(text)
        except OutputError:
            raise  # stdout is gone: nothing more can be shown there
        except (KeyboardInterrupt, MlchatError) as exc:
            if isinstance(exc, MlchatError):
                error = exc
            else:
                error = Interrupted(signals.describe(exc))
                error.exit_code = signals.exit_code(exc)
            if (
                fmt is not None
                and isinstance(exc, RequestRejected)
                and "response_format" in str(request_options)
            ):
                exc.hint = exc.hint or (
                    "this model may not support JSON mode: try --api anthropic (the schema "
                    "becomes a forced tool) or ask for JSON in the prompt without --json-mode"
                )
            # An interrupted or hung-up terminal may refuse the last writes: the exit code and
            # the message still matter more than the final newline.
            with suppress(OSError):
                if opts.as_json:
                    _print_json(rt, turn.replies, turn.results, convo.model, table, error)
                elif turn.last is not None and turn.last.text and fmt is None:
                    if not isinstance(exc, MlchatError):
                        rt.end_interrupted_line(exc)
                    rt.warn("the reply above is incomplete")
            raise
    replies = turn.replies
    final = replies[-1]
    refused = final.refused
    if extract is not None:
        _extract(
            rt,
            final,
            extract,
            opts,
            shown=not hidden,
            dump=lambda code: _print_json(rt, replies, turn.results, convo.model, table, code=code),
        )
        if opts.usage:
            rt.note(prices.usage_line(convo.model, total_usage(replies), table))
        return
    # A refusal is not the document asked for: it is shown as it is, with its own exit status.
    try:
        document = fmt.document(final, convo.dialect) if fmt is not None and not refused else None
    except RequestRejected as error:
        # Not the document asked for: still show what the model sent, so it is not lost.
        assert fmt is not None
        with stdout_writes():
            if opts.as_json:
                _print_json(rt, replies, turn.results, convo.model, table, error)
            else:
                sent = fmt.sent_text(final, convo.dialect).rstrip("\n")
                rt.note("mlchat: the model sent:")
                rt.note(sent if sent.strip() else "(nothing)")
        raise
    with stdout_writes():
        if opts.as_json:
            _print_json(rt, replies, turn.results, convo.model, table, data=document)
        elif fmt is not None and refused:
            from mlchat.text import escape_controls

            rt.out.write((escape_controls(final.text) if rt.stdout_tty else final.text) + "\n")
            rt.out.flush()
        elif fmt is not None:
            pretty = bool(rt.stdout_tty)
            indent = 2 if pretty else None
            rt.out.write(json_text(document, indent=indent) + "\n")
            rt.out.flush()
    if opts.usage:
        rt.note(prices.usage_line(convo.model, total_usage(replies), table))
    if refused:
        raise Refused("the model refused to answer")


def _check_window(s: Settings, convo: Conversation, text: str | Message, client: Client) -> None:
    """Refuse (exit 4, nothing sent) a conversation that would not fit the model's window."""
    from mlchat import context
    from mlchat.types import Message

    message = text if isinstance(text, Message) else Message("user", text)
    messages = (*convo.sent(), message)
    context.ensure_fits(
        convo.model,
        messages,
        convo.system,
        context.of(s, convo.model),
        reply_tokens=convo.params.max_tokens,
        count=lambda: client.count_tokens(convo.model, messages, convo.system),
        hint="send less (fewer or smaller --file sources), or start a new conversation",
    )


def _print_json(
    rt: Runtime,
    replies: list[Reply],
    results: list[ToolResult],
    model: str,
    table: Mapping[str, prices.Price],
    error: MlchatError | None = None,
    data: Any = None,
    code: list[Fence] | None = None,
) -> None:
    from mlchat import prices
    from mlchat.session import Reply, usage_json
    from mlchat.toolloop import total_usage

    final = replies[-1] if replies else Reply()
    doc = final.to_json(model)
    usage = total_usage(replies)
    if usage is not None:
        doc["usage"] = usage_json(usage)
    if results:
        by_id = {r.call.id: r for r in results}
        calls = [c for r in replies for c in r.to_json(model)["tool_calls"]]
        for call in calls:
            result = by_id.get(call["id"])
            if result is not None:
                call["result"] = result.content
                call["is_error"] = result.is_error
        doc["tool_calls"] = calls
    if data is not None:
        doc["data"] = data
    if code is not None:
        doc["code"] = [fence.to_json() for fence in code]
    cost = prices.cost(model, usage, table)
    if cost is not None:
        doc["cost"] = cost
    if error is not None:
        doc["error"] = {"message": rt.scrub(error.message), "exit_code": error.exit_code}
        doc["incomplete"] = True
    rt.out.write(json_text(doc) + "\n")
    rt.out.flush()


def _extract(
    rt: Runtime,
    final: Reply,
    which: Extract,
    opts: Options,
    *,
    shown: bool,
    dump: Callable[[list[Fence]], None],
) -> None:
    """`-x`: stdout gets the first (or last) fenced block's code, or with --json the document
    with every block; a reply without one is shown on stderr (when it was not already) and is
    exit 4. A refusal is reported as one."""
    from mlchat.errors import NoCodeBlock
    from mlchat.fences import fences
    from mlchat.text import escape_controls
    from mlchat.turn import stdout_writes

    blocks = fences(final.text)
    with stdout_writes():
        if opts.as_json:
            dump(blocks)
        elif blocks:
            code = blocks[0 if which == "first" else -1].code
            rt.out.write((escape_controls(code) if rt.stdout_tty else code) + "\n")
            rt.out.flush()
    if not blocks and not shown and not opts.as_json and final.text:
        # Not the code asked for (a refusal, or prose): shown on stderr, never lost.
        text = escape_controls(final.text) if rt.stderr_tty else final.text
        rt.err.write(text if text.endswith("\n") else text + "\n")
        rt.err.flush()
    if final.refused:
        raise Refused("the model refused to answer")
    if not blocks:
        raise NoCodeBlock("the reply has no fenced code block (it is shown on stderr)")
