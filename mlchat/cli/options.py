"""Options shared by `ask` and `chat`, declared once. Defaults are None: every value is resolved in
the command body (flag > environment > config file > default), never at import time."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlchat.config import Flags
from mlchat.errors import UsageError
from mlchat.render import ReasoningMode

MODEL = "Model and prompt"
SAMPLING = "Sampling"
OUTPUT = "Output"
CONNECTION = "Connection"

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model id, alias or unique fragment \\[default: minimax-minimax-m1, or MLCHAT_MODEL].",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
SystemOpt = Annotated[
    str | None,
    typer.Option("--system", "-s", help="System prompt.", rich_help_panel=MODEL),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="Wire dialect: openai (/chat/completions) or anthropic (/v1/messages).",
        rich_help_panel=CONNECTION,
        show_default=False,
        metavar="[openai|anthropic]",
        autocompletion=lambda: ["openai", "anthropic"],
    ),
]
TemperatureOpt = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        "-t",
        help="0-2 (0-1 on anthropic) \\[default: 0.7].",
        rich_help_panel=SAMPLING,
    ),
]
TopPOpt = Annotated[
    float | None, typer.Option("--top-p", help="0-1 \\[default: 0.9].", rich_help_panel=SAMPLING)
]
MaxTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--max-tokens", help="Longest reply in tokens \\[default: 1000].", rich_help_panel=SAMPLING
    ),
]
FrequencyOpt = Annotated[
    float | None,
    typer.Option(
        "--frequency-penalty", help="-2..2 (openai only) \\[default: 0].", rich_help_panel=SAMPLING
    ),
]
PresenceOpt = Annotated[
    float | None,
    typer.Option(
        "--presence-penalty", help="-2..2 (openai only) \\[default: 0].", rich_help_panel=SAMPLING
    ),
]
StopOpt = Annotated[
    list[str] | None,
    typer.Option("--stop", help="Stop sequence; repeat for up to 4.", rich_help_panel=SAMPLING),
]
SeedOpt = Annotated[
    int | None,
    typer.Option("--seed", help="Seed for reproducible sampling.", rich_help_panel=SAMPLING),
]
PlainOpt = Annotated[
    bool,
    typer.Option("--plain", help="Raw text instead of rendered Markdown.", rich_help_panel=OUTPUT),
]
AllowBinaryOpt = Annotated[
    bool,
    typer.Option(
        "--allow-binary",
        help="Send piped stdin even if it looks binary (decoded as UTF-8 with replacement).",
        rich_help_panel=MODEL,
    ),
]
ShowReasoningOpt = Annotated[
    bool,
    typer.Option(
        "--show-reasoning",
        help="Keep the model's reasoning on stderr in full (by default a terminal shows it while "
        "it streams, then one line).",
        rich_help_panel=OUTPUT,
    ),
]
HideReasoningOpt = Annotated[
    bool,
    typer.Option(
        "--hide-reasoning", help="Never show the model's reasoning.", rich_help_panel=OUTPUT
    ),
]


def reasoning_mode(show: bool, hide: bool) -> ReasoningMode:
    if show and hide:
        raise UsageError("--show-reasoning and --hide-reasoning exclude each other")
    return "show" if show else "hide" if hide else "auto"


BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="API base URL \\[default: https://modelslab.com/api/v7/llm, or MODELSLAB_BASE_URL].",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Longest silence accepted while waiting for the reply, in seconds "
        "\\[default: 120, or MLCHAT_TIMEOUT].",
        rich_help_panel=CONNECTION,
    ),
]
RetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--retries",
        help="Retries before any of the reply has arrived \\[default: 2, or MLCHAT_RETRIES].",
        rich_help_panel=CONNECTION,
    ),
]


def flags(
    *,
    model: str | None,
    system: str | None,
    api: str | None,
    base_url: str | None,
    timeout: float | None,
    retries: int | None,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
    frequency_penalty: float | None,
    presence_penalty: float | None,
    stop: list[str] | None,
    seed: int | None,
) -> Flags:
    """Collect the shared options into `Flags`, checking each parameter's range."""
    from mlchat import params
    from mlchat.config import Flags

    raw: dict[str, Any] = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "frequency_penalty": frequency_penalty,
        "presence_penalty": presence_penalty,
        "stop": stop or None,
        "seed": seed,
    }
    return Flags(
        base_url=base_url,
        model=model,
        api=api,
        system=system,
        timeout=timeout,
        retries=retries,
        params={k: params.coerce(k, v) for k, v in raw.items() if v is not None},
    )
