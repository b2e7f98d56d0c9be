"""The context window: how many tokens a model reads at once, how large a conversation is, and
whether the next request fits. Imports types and errors (and the model cache, mlchat.models, when
a window is looked up); no HTTP (an exact count is a callable handed in), no terminal.

A model's window comes from, in this order:

1. the config file, `[models."ID"] context = N` (the user knows their deployment best);
2. the model list, when the service gives a size there (`context_length` and its cousins,
   decoded by the providers and kept in the model cache);
3. a small shipped table, from the models' own pages (MiniMax M1: 1,000,000 tokens).

Otherwise it is unknown, and nothing is checked or shown.

A conversation's size is estimated cheaply (about four characters a token, a fixed figure per
image); only when that estimate is near the window is the service asked for an exact count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlchat.errors import ContextFull
from mlchat.types import Message, ModelInfo

if TYPE_CHECKING:
    from mlchat.config import Settings

# From the models' pages on modelslab.com: "1M token context" (minimax-minimax-m1).
SHIPPED: Mapping[str, int] = {"minimax-minimax-m1": 1_000_000}

CHARS_PER_TOKEN = 4  # English prose and code average 3.5 to 4.5; CJK far fewer (see NEAR)
IMAGE_TOKENS = 1_600  # an image after the services' resizing: Anthropic caps it near 1,600
# Below LOW of the window the estimate is trusted to fit, above HIGH not to; between them the
# service counts exactly. Wide on purpose: characters per token vary by language.
LOW = 0.5
HIGH = 2.0


def window(model: str, stated: Mapping[str, int], listed: Iterable[ModelInfo] = ()) -> int | None:
    """The context window of `model` in tokens, or None when nobody says. `stated` is the
    config file's `[models."ID"] context` (Settings.contexts); `listed` the cached model list."""
    if model in stated:
        return stated[model]
    for info in listed:
        if info.id == model and info.context:
            return info.context
    return SHIPPED.get(model)


def of(settings: Settings, model: str | None = None) -> int | None:
    """The window of `model` (the settings' model by default) from the config, the cached model
    list of the settings' service (read from disk, never fetched) and the shipped table."""
    from mlchat import models

    model = model or settings.model
    if model in settings.contexts:
        return settings.contexts[model]
    cached = models.load(settings.base_url, models.cache_path(settings.profile))
    return window(model, settings.contexts, cached.models if cached else ())


def estimate(messages: Sequence[Message], system: str | None = None) -> int:
    """A cheap upper-leaning estimate of the input tokens of `messages` (no tokenizer)."""
    chars = len(system or "")
    images = 0
    for m in messages:
        # A message with attachments keeps their text in `content` too (types.user_message).
        chars += len(m.content) + 16  # 16: the role and the message's framing
        images += len(m.images)
        for call in m.tool_calls:
            chars += len(call.name) + len(call.arguments)
    return math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS


def short(tokens: int) -> str:
    """1000000 -> "1M", 131072 -> "131K", 8192 -> "8.2K", 900 -> "900"."""
    for size, unit in ((1_000_000, "M"), (1_000, "K")):
        if tokens >= size:
            value = tokens / size
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return str(tokens)


def share(tokens: int, size: int) -> str:
    """ "4% of 1M"; "<1% of 1M" for a sliver, so that a small prompt never reads as 0%."""
    percent = tokens * 100 / size
    shown = "<1" if 0 < percent < 1 else f"{percent:.0f}"
    return f"{shown}% of {short(size)}"


@dataclass(frozen=True, slots=True)
class Fit:
    tokens: int  # the conversation's input, estimated or (when exact) counted
    exact: bool
    room: int  # the window less what the reply may take (max_tokens)

    @property
    def fits(self) -> bool:
        return self.tokens <= self.room


def check(
    messages: Sequence[Message],
    system: str | None,
    size: int,
    *,
    reply_tokens: int | None,
    count: Callable[[], int] | None = None,
) -> Fit:
    """Whether `messages` and a reply of up to `reply_tokens` fit a window of `size` tokens.
    `count` (an exact count by the service) is called only when the estimate is near the
    room left; a count that fails leaves the estimate standing."""
    room = max(0, size - (reply_tokens or 0))
    guess = estimate(messages, system)
    if count is None or guess < room * LOW or guess > room * HIGH:
        return Fit(guess, False, room)
    try:
        return Fit(count(), True, room)
    except Exception:  # the count is a courtesy: a service without it must not block sending
        return Fit(guess, False, room)


def refuse(model: str, fit: Fit, size: int, reply_tokens: int | None) -> ContextFull:
    """The error for a conversation that does not fit: the sizes, and that nothing was sent."""
    about = "" if fit.exact else "about "
    reply = f" and the reply may take {reply_tokens:,} more" if reply_tokens else ""
    return ContextFull(
        f"the conversation is {about}{fit.tokens:,} tokens{reply}: over {model}'s context window "
        f"of {size:,} tokens; nothing was sent"
    )


def ensure_fits(
    model: str,
    messages: Sequence[Message],
    system: str | None,
    size: int | None,
    *,
    reply_tokens: int | None,
    count: Callable[[], int] | None = None,
    hint: str | None = None,
) -> Fit | None:
    """`check`, raising ContextFull (exit 4) when the conversation would not fit; None when the
    window is unknown (nothing is checked then)."""
    if not size:
        return None
    fit = check(messages, system, size, reply_tokens=reply_tokens, count=count)
    if not fit.fits:
        error = refuse(model, fit, size, reply_tokens)
        error.hint = hint
        raise error
    return fit
