"""Options shared by `ask` and `chat`, declared once. Defaults are None: every value is resolved in
the command body (flag > environment > config file > default), never at import time.

Completion reads the declarations (see completions/generate.py): an option's metavar says what its
value is. `[a|b]` (from `choices()`) lists fixed values, `MODEL` completes model ids from the cached
list, and `FILE`, `PATH` or a `Path` type complete file names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.errors import UsageError

if TYPE_CHECKING:
    from mlchat.config import Flags
    from mlchat.ui.render import ReasoningMode

MODEL = "Model and prompt"
SAMPLING = "Sampling"
OUTPUT = "Output"
CONNECTION = "Connection"

MODEL_METAVAR = "MODEL"


def choices(*values: str) -> dict[str, Any]:
    """`typer.Option` arguments for an option with fixed values: help shows them as `[a|b]` and
    every completion offers them. The value stays a `str` checked in the command body, so a wrong
    one gets the usual one-line `mlchat: error:` (exit 2) rather than Typer's boxed usage error,
    and (for --api) the flag, MLCHAT_API and the config file share one check and one message."""

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return {"metavar": "[" + "|".join(values) + "]", "autocompletion": complete}


def complete_model(incomplete: str) -> list[str]:
    """Model ids from the cached list, for Typer's own completion (`--install-completion`). Reads
    only the cache: completion never touches the network."""
    from mlchat import models

    return [i for i in models.cached_ids() if i.startswith(incomplete)]


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model id, alias or unique fragment \\[default: minimax-minimax-m1, or MLCHAT_MODEL].",
        rich_help_panel=MODEL,
        show_default=False,
        metavar=MODEL_METAVAR,
        autocompletion=complete_model,
    ),
]
SystemOpt = Annotated[
    str | None,
    typer.Option(
        "--system",
        "-s",
        help="System prompt \\[default: system in the config file, or none].",
        rich_help_panel=MODEL,
    ),
]
ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="Wire dialect: openai (/chat/completions) or anthropic (/v1/messages) "
        "\\[default: openai, or MLCHAT_API].",
        rich_help_panel=CONNECTION,
        show_default=False,
        **choices("openai", "anthropic"),  # types.DIALECTS, spelled out: no import for --help
    ),
]
TemperatureOpt = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        "-t",
        help="Sampling temperature, 0-2 (0-1 on anthropic) \\[default: 0.7].",
        rich_help_panel=SAMPLING,
    ),
]
TopPOpt = Annotated[
    float | None,
    typer.Option(
        "--top-p", help="Nucleus sampling, 0-1 \\[default: 0.9].", rich_help_panel=SAMPLING
    ),
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
        "--frequency-penalty",
        help="Penalty for repeating tokens by their count, -2 to 2 (openai only) \\[default: 0].",
        rich_help_panel=SAMPLING,
    ),
]
PresenceOpt = Annotated[
    float | None,
    typer.Option(
        "--presence-penalty",
        help="Penalty for tokens already used, -2 to 2 (openai only) \\[default: 0].",
        rich_help_panel=SAMPLING,
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
UsageOpt = Annotated[
    bool,
    typer.Option(
        "--usage",
        help="After each reply, print the tokens in and out and the cost on stderr.",
        rich_help_panel=OUTPUT,
    ),
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
MaxTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--max-time",
        help="Overall deadline for the request, retries included, in seconds "
        "\\[default: none, or MLCHAT_MAX_TIME].",
        rich_help_panel=CONNECTION,
        metavar="SECONDS",
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


def complete_profile(incomplete: str) -> list[str]:
    """Profile names from the config file (and `default`), for Typer's own completion."""
    from mlchat import config, profiles

    try:
        names = profiles.names(config.load_file())
    except Exception:  # completion must never fail loudly
        names = []
    return [n for n in [profiles.DEFAULT, *names] if n.startswith(incomplete)]


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Use the \\[profiles.NAME] table of the config file \\[default: MLCHAT_PROFILE, or "
        "profile in the file].",
        rich_help_panel=CONNECTION,
        show_default=False,
        metavar="PROFILE",
        autocompletion=complete_profile,
    ),
]

SETTING_NAMES = (
    "model",
    "system",
    "api",
    "base_url",
    "timeout",
    "retries",
    "profile",
    "max_time",
)
PARAM_NAMES = ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty")


def flags(given: Mapping[str, Any]) -> Flags:
    """The shared options a command was given (its `ctx.params`) as `Flags`, each sampling
    parameter checked against its range. Options a command does not declare count as not given."""
    from mlchat import params
    from mlchat.config import Flags

    raw: dict[str, Any] = {name: given.get(name) for name in PARAM_NAMES}
    raw["stop"] = given.get("stop") or None
    raw["seed"] = given.get("seed")
    return Flags(
        **{name: given.get(name) for name in SETTING_NAMES},
        params={k: params.coerce(k, v) for k, v in raw.items() if v is not None},
    )
