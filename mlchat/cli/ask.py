"""`mlchat ask`: one question from argv and/or piped stdin, one streamed answer on stdout."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from mlchat import prices
from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.config import Flags
from mlchat.errors import Interrupted, MlchatError, UsageError
from mlchat.providers import get_provider
from mlchat.render import NullRenderer, Renderer, make_renderer
from mlchat.runtime import Runtime
from mlchat.session import Conversation, Reply, ReplyStatus, TurnLog, run_turn
from mlchat.types import StreamEvent

if TYPE_CHECKING:
    from mlchat.config import Settings
    from mlchat.store import Store

HELP = """Ask one question and stream the answer.

The prompt is the argument, piped stdin, or both (stdin first, a blank line, then the argument).
On a terminal the answer is rendered as Markdown; piped, stdout gets exactly the answer text.

Examples:

  mlchat ask "What is a monad, in one paragraph?"

  git diff | mlchat ask "write a commit message"

  mlchat ask --json -m minimax-minimax-m1 "name three primes" | jq -r .text

  mlchat ask -c "and in one sentence?"      (continues the latest saved conversation)

Every exchange is saved (see `mlchat sessions`) unless --no-log or `log = false` in the config.
"""


def read_prompt(rt: Runtime, argument: str | None) -> str:
    piped = ""
    if not rt.stdin_tty and rt.stdin is not None:
        data = rt.stdin.read()
        raw = data if isinstance(data, bytes) else str(data).encode()
        piped = raw.decode("utf-8", errors="replace")
    parts = [p for p in (piped.strip("\n"), argument or "") if p.strip()]
    prompt = "\n\n".join(parts)
    if not prompt.strip():
        raise UsageError(
            "no prompt: give one as an argument or pipe it on stdin",
            hint='mlchat ask "your question"   or   echo "your question" | mlchat ask',
        )
    return prompt


def ask(
    ctx: typer.Context,
    prompt: Annotated[
        str | None, typer.Argument(help="The question (appended after piped stdin).")
    ] = None,
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
    usage: Annotated[
        bool,
        typer.Option(
            "--usage",
            help="After the reply, print the tokens in and out and the cost on stderr.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    base_url: o.BaseUrlOpt = None,
    timeout: o.TimeoutOpt = None,
    retries: o.RetriesOpt = None,
    continue_: common.ContinueOpt = False,
    no_log: common.NoLogOpt = False,
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
        text = read_prompt(rt, prompt)
        s = common.resolve_model(rt, common.settings(rt, flags))
        table = prices.table(s.file.get("prices"))  # a broken [prices] fails before the request
        with common.conversation_log(rt, s, no_log=no_log, need_store=continue_) as (store, log):
            convo = _conversation(rt, s, flags, store if continue_ else None)
            run(
                rt,
                s,
                convo,
                text,
                log,
                stream=not no_stream,
                as_json=as_json,
                plain=plain,
                usage=usage,
                table=table,
            )


def _conversation(rt: Runtime, s: Settings, flags: Flags, store: Store | None) -> Conversation:
    """A new one-turn conversation, or (with -c) the latest saved one, where the flags given
    override what the conversation was using."""
    latest = store.latest() if store is not None else None
    if store is not None and latest is None:
        rt.note("mlchat: no saved conversation to continue; starting a new one")
    if latest is None:
        return Conversation(model=s.model, dialect=s.dialect, system=s.system, params=s.params)
    from mlchat import params as P

    if flags.model is not None:
        latest.model = s.model
    if flags.api is not None:
        latest.dialect = s.dialect
    if flags.system is not None:
        latest.system = flags.system or None
    latest.params = P.validate(P.merge(latest.params, flags.params), latest.dialect)
    return latest


def run(
    rt: Runtime,
    s: Settings,
    convo: Conversation,
    text: str,
    log: TurnLog,
    *,
    stream: bool,
    as_json: bool,
    plain: bool,
    usage: bool = False,
    table: dict[str, prices.Price] | None = None,
) -> None:
    table = table if table is not None else prices.table(None)
    provider = get_provider(convo.dialect)
    for name in provider.unsupported_params(convo.params):
        rt.warn(f"{name} is not part of the {convo.dialect} dialect and is not sent")
    renderer: Renderer = (
        NullRenderer()
        if as_json
        else make_renderer(
            out=rt.out,
            err=rt.err,
            env=rt.env,
            stdout_tty=bool(rt.stdout_tty),
            stderr_tty=bool(rt.stderr_tty),
            plain=plain,
        )
    )
    reply = Reply()
    def sink(ev: StreamEvent) -> None:
        renderer.feed(ev)
        log.progress(convo, reply)  # a throttled checkpoint, so kill -9 loses at most a second

    # The client first: without a key nothing is sent, so nothing is saved.
    with common.client(rt, s) as client:
        convo.add_user(text)
        # Saved before it is sent: a request that never returns still leaves the question.
        log.user(convo, convo.messages[-1])
        try:
            run_turn(
                lambda req: client.chat(provider, req), convo.request(stream=stream), reply, sink
            )
        except (KeyboardInterrupt, MlchatError) as exc:
            renderer.finish()
            error = exc if isinstance(exc, MlchatError) else Interrupted("interrupted")
            _log_reply(rt, convo, reply, log, error)
            if as_json:
                _print_json(rt, reply, convo.model, table, error)
            elif reply.text:
                rt.warn("the reply above is incomplete")
            raise
    renderer.finish()
    _log_reply(rt, convo, reply, log, None)
    if as_json:
        _print_json(rt, reply, convo.model, table)
    if usage:
        rt.note(prices.usage_line(convo.model, reply.usage, table))


def _log_reply(
    rt: Runtime, convo: Conversation, reply: Reply, log: TurnLog, error: MlchatError | None
) -> None:
    """Keep the reply in the conversation and the store: whole, cut short (interrupted: Ctrl-C,
    or an error after some of it arrived), or failed (an error before anything arrived)."""
    status: ReplyStatus = "ok"
    if error is not None:
        status = "interrupted" if reply.has_content or isinstance(error, Interrupted) else "failed"
    convo.add_reply(reply, interrupted=error is not None)
    message = convo.messages[-1] if convo.messages[-1].role == "assistant" else reply.message()
    text = None
    if error is not None and not isinstance(error, Interrupted):
        text = rt.scrub(error.message)
    log.reply(convo, message, reply, status=status, error=text)


def _print_json(
    rt: Runtime,
    reply: Reply,
    model: str,
    table: dict[str, prices.Price],
    error: MlchatError | None = None,
) -> None:
    doc = reply.to_json(model)
    cost = prices.cost(model, reply.usage, table)
    if cost is not None:
        doc["cost"] = cost
    if error is not None:
        doc["error"] = {"message": rt.scrub(error.message), "exit_code": error.exit_code}
        doc["incomplete"] = True
    rt.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    rt.out.flush()
