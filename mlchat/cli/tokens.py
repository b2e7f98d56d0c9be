"""`mlchat tokens`: the exact input-token count of a prompt, and what sending it would cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli import attaching, common, role_use
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError
from mlchat.runtime import Runtime
from mlchat.text import json_text

if TYPE_CHECKING:
    from mlchat.attach import Limits
    from mlchat.config import Settings
    from mlchat.types import Message

HELP = doc(
    """Count a prompt's input tokens exactly, and what sending it would cost.

    The prompt is assembled as `mlchat ask` assembles it: piped stdin first, then each --file in
    order, then the argument, separated by blank lines; the system prompt (-s, or the config
    file's) is counted too. The count comes from the service (/v1/messages/count_tokens), so it
    is exact for the model.

    Piped, stdout is just the number. On a terminal the same line also gives the share of the
    model's context window, when it is known, and the cost of sending the prompt, when the
    price is. --json prints model, input_tokens, cost_usd (null when the price is unknown),
    usd_per_million and context_window (null when unknown).

    Examples:

      mlchat tokens "How long is this?"
      git diff | mlchat tokens -m qwen2.5-vl
      mlchat tokens -f notes.md -f draft.md --json | jq .cost_usd
    """
)


def read_sources(
    rt: Runtime,
    s: Settings,
    argument: str | None,
    files: list[str] | None,
    limit: Limits,
    *,
    allow_binary: bool = False,
    required: bool = True,
) -> Message:
    """The user message exactly as `ask` assembles it (mlchat/attach.py reads every source for
    both). Unreadable, binary or oversized sources and empty input are usage errors, raised
    before any request; a URL that cannot be fetched is exit 6."""
    got = attaching.collect(rt, argument, files, limit, allow_binary=allow_binary)
    message = attaching.message(rt, s, got, limit)
    if not message.content.strip() and not message.parts and required:
        raise UsageError(
            "nothing to count: give text as an argument, with --file, or on stdin",
            hint='mlchat tokens "some text"   or   mlchat tokens -f notes.md',
        )
    return message


def tokens(
    ctx: typer.Context,
    text: Annotated[
        str | None,
        typer.Argument(help="Text to count (after piped stdin and --file).", metavar="TEXT"),
    ] = None,
    files: attaching.FileOpt = None,
    role: role_use.RoleOpt = None,
    param: role_use.ParamOpt = None,
    model: o.ModelOpt = None,
    system: o.SystemOpt = None,
    allow_binary: o.AllowBinaryOpt = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: model, input_tokens, cost_usd, usd_per_million, "
            "context_window.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    base_url: o.BaseUrlOpt = None,
    profile: o.ProfileOpt = None,
    timeout: o.TimeoutOpt = None,
    retries: o.RetriesOpt = None,
    max_files: attaching.MaxFilesOpt = None,
    max_bytes: attaching.MaxBytesOpt = None,
) -> None:
    from mlchat import context, prices
    from mlchat.config import Flags
    from mlchat.types import Usage

    rt = common.runtime(ctx)
    with boundary(rt):
        active = role_use.use(rt, role, param)
        flags = Flags(
            model=model,
            system=system,
            base_url=base_url,
            timeout=timeout,
            retries=retries,
            profile=profile,
        )
        flags = role_use.flags_with(active, flags)
        s = common.resolve_model(rt, common.settings(rt, flags, sampling=False))
        limit = attaching.limits(s, max_files, max_bytes)
        prompt = active.message(
            read_sources(
                rt, s, text, files, limit, allow_binary=allow_binary, required=active.needs_input
            )
        )
        table = s.prices
        with common.client(rt, s) as client:
            count = client.count_tokens(s.model, (prompt,), s.system)
        size = context.of(s)
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
                "context_window": size,
            }
            rt.out.write(json_text(doc) + "\n")
        elif rt.stdout_tty:
            # Nobody parses a terminal: the count and the cost share one line there.
            if cost is not None and price is not None and price.input is not None:
                extra = f"{prices.usd(cost)} to send to {s.model} at {prices.rate(price.input)}"
            else:
                extra = f"{s.model}, price unknown (add one under [prices] in the config file)"
            window = f", {context.share(count, size)}" if size else ""
            rt.out.write(f"{count:,} input tokens{window} · {extra}\n")
        else:
            rt.out.write(f"{count}\n")
        rt.out.flush()
