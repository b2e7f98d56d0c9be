"""`mlchat ask`: one question from argv and/or piped stdin, one streamed answer on stdout."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.errors import Interrupted, MlchatError, UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.config import Flags
    from mlchat.session import Reply

HELP = """Ask one question and stream the answer.

The prompt is the argument, piped stdin, or both (stdin first, a blank line, then the argument).
On a terminal the answer is rendered as Markdown; piped, stdout gets exactly the answer text.

Examples:

  mlchat ask "What is a monad, in one paragraph?"

  git diff | mlchat ask "write a commit message"

  mlchat ask --json -m minimax-minimax-m1 "name three primes" | jq -r .text
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
        text = read_prompt(rt, prompt)
        run(rt, flags, text, stream=not no_stream, as_json=as_json, plain=plain)


def run(rt: Runtime, flags: Flags, text: str, *, stream: bool, as_json: bool, plain: bool) -> None:
    # Imported here, not at module level: `--help` and completion build this command too.
    from mlchat.providers import get_provider
    from mlchat.render import NullRenderer, Renderer, make_renderer
    from mlchat.session import Conversation, Reply, run_turn

    s = common.settings(rt, flags)
    provider = get_provider(s.dialect)
    for name in provider.unsupported_params(s.params):
        rt.warn(f"{name} is not part of the {s.dialect} dialect and is not sent")
    convo = Conversation(model=s.model, dialect=s.dialect, system=s.system, params=s.params)
    convo.add_user(text)
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
    with common.client(rt, s) as client:
        try:
            run_turn(
                lambda req: client.chat(provider, req),
                convo.request(stream=stream),
                reply,
                renderer.feed,
            )
        except (KeyboardInterrupt, MlchatError) as exc:
            renderer.finish()
            error = exc if isinstance(exc, MlchatError) else Interrupted("interrupted")
            if as_json:
                _print_json(rt, reply, s.model, error)
            elif reply.text:
                rt.warn("the reply above is incomplete")
            raise
    renderer.finish()
    if as_json:
        _print_json(rt, reply, s.model)


def _print_json(rt: Runtime, reply: Reply, model: str, error: MlchatError | None = None) -> None:
    doc = reply.to_json(model)
    if error is not None:
        doc["error"] = {"message": rt.scrub(error.message), "exit_code": error.exit_code}
        doc["incomplete"] = True
    rt.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    rt.out.flush()
