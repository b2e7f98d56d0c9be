"""`mlchat tokens`: the exact input-token count of a prompt, and what sending it would cost."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mlchat.cli import common, role_use
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError
from mlchat.runtime import Runtime

HELP = doc(
    """Count a prompt's input tokens exactly, and what sending it would cost.

    The prompt is assembled as `mlchat ask` assembles it: piped stdin first, then each --file in
    order, then the argument, separated by blank lines; the system prompt (-s, or the config
    file's) is counted too. The count comes from the service (/v1/messages/count_tokens), so it
    is exact for the model.

    Piped, stdout is just the number. On a terminal the same line also gives the cost of sending
    the prompt when the model's price is known. --json prints model, input_tokens, cost_usd (null
    when the price is unknown) and usd_per_million.

    Examples:

      mlchat tokens "How long is this?"
      git diff | mlchat tokens -m qwen2.5-vl
      mlchat tokens -f notes.md -f draft.md --json | jq .cost_usd
    """
)


def read_sources(
    rt: Runtime,
    argument: str | None,
    files: list[str],
    *,
    allow_binary: bool = False,
    required: bool = True,
) -> str:
    """The prompt exactly as `ask` assembles it (one reader for both: mlchat/prompt_input.py).
    Unreadable, binary or oversized sources and empty input are usage errors, raised before any
    request."""
    from mlchat.prompt_input import assemble

    text = assemble(
        rt.stdin,
        argument,
        piped=not rt.stdin_tty,
        files=files,
        allow_binary=allow_binary,
        warn=rt.warn,
    )
    if not text and required:
        raise UsageError(
            "nothing to count: give text as an argument, with --file, or on stdin",
            hint='mlchat tokens "some text"   or   mlchat tokens -f notes.md',
        )
    return text


def tokens(
    ctx: typer.Context,
    text: Annotated[
        str | None,
        typer.Argument(help="Text to count (after piped stdin and --file).", metavar="TEXT"),
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            help="Count this file too (repeatable; - is stdin).",
            metavar="FILE",
            rich_help_panel=o.MODEL,
        ),
    ] = None,
    role: role_use.RoleOpt = None,
    param: role_use.ParamOpt = None,
    model: o.ModelOpt = None,
    system: o.SystemOpt = None,
    allow_binary: o.AllowBinaryOpt = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: model, input_tokens, cost_usd, usd_per_million.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    base_url: o.BaseUrlOpt = None,
    profile: o.ProfileOpt = None,
    timeout: o.TimeoutOpt = None,
    retries: o.RetriesOpt = None,
) -> None:
    from mlchat import prices
    from mlchat.config import Flags
    from mlchat.types import Message, Usage

    rt = common.runtime(ctx)
    with boundary(rt):
        active = role_use.use(rt, role, param)
        prompt = active.prompt(
            read_sources(
                rt, text, files or [], allow_binary=allow_binary, required=active.needs_input
            )
        )
        flags = Flags(
            model=model,
            system=system,
            base_url=base_url,
            timeout=timeout,
            retries=retries,
            profile=profile,
        )
        flags = role_use.flags_with(active, flags)
        s = common.resolve_model(rt, common.settings(rt, flags))
        table = prices.table(s.file.get("prices"))  # a broken [prices] fails before the request
        with common.client(rt, s) as client:
            count = client.count_tokens(s.model, (Message("user", prompt),), s.system)
        price = prices.price(s.model, table)
        cost = prices.cost(s.model, Usage(input_tokens=count), table)
        if as_json:
            doc: dict[str, Any] = {
                "model": s.model,
                "input_tokens": count,
                "cost_usd": cost,
                "usd_per_million": None
                if price is None
                else {"input": price.input, "output": price.output},
            }
            rt.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        elif rt.stdout_tty:
            # Nobody parses a terminal: the count and the cost share one line there.
            if cost is not None and price is not None and price.input is not None:
                extra = f"{prices.usd(cost)} to send to {s.model} at {prices.rate(price.input)}"
            else:
                extra = f"{s.model}, price unknown (add one under [prices] in the config file)"
            rt.out.write(f"{count} input tokens · {extra}\n")
        else:
            rt.out.write(f"{count}\n")
        rt.out.flush()
