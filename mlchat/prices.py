"""Prices and cost: what a prompt or a reply costs, in US dollars. Pure; imports types and errors.

A small table ships with the package; the `[prices]` table of the config file (validated by
mlchat.config) extends or overrides it, field by field, in USD per 1M tokens:

    [prices."minimax-minimax-m1"]
    input = 0.4
    output = 2.2
    cache_read = 0.1      # optional: input tokens read from the prompt cache
    cache_write = 0.5     # optional: input tokens written to it

Cached input tokens cost the cache price where the table has one, the full input price otherwise.

Arithmetic is done in decimal, so 5 input tokens at $0.40/1M cost exactly 0.000002, not
0.0000020000000000000003.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlchat.types import Usage

PER = 1_000_000  # prices are quoted per million tokens


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens; None when that side is not known."""

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None


# From the model pages on modelslab.com (the seed page for minimax-minimax-m1).
SHIPPED: dict[str, Price] = {
    "minimax-minimax-m1": Price(input=0.40, output=2.20),
}


def table(config_prices: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Price]:
    """The shipped table with the config file's `[prices]` applied on top: a field the config
    leaves out keeps the shipped value. The table is the one `config.validate_file` checked (a
    malformed entry is a config error there, exit 3, never a silently wrong cost)."""
    merged = dict(SHIPPED)
    for model, entry in (config_prices or {}).items():
        base = merged.get(model, Price())
        merged[model] = Price(
            *(
                float(entry[name]) if name in entry else getattr(base, name)
                for name in ("input", "output", "cache_read", "cache_write")
            )
        )
    return merged


def price(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """The price of `model`: exact id first, then the same id in another case."""
    prices = SHIPPED if prices is None else prices
    found = prices.get(model)
    if found is None:
        folded = model.casefold()
        found = next((p for m, p in prices.items() if m.casefold() == folded), None)
    return found


def cost(
    model: str, usage: Usage | None, prices: Mapping[str, Price] | None = None
) -> float | None:
    """USD for `usage` on `model`, or None when the usage or a needed rate is unknown.

    Token counts that are missing count as zero, so an input-only count (`mlchat tokens`) costs
    only its input; a rate is needed only for a side that has tokens."""
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
        return None
    p = price(model, prices)
    if p is None:
        return None
    from decimal import Decimal  # here, not at import: --help and completion never need it

    total = Decimal(0)
    read = usage.cached_tokens or 0
    write = usage.cache_write_tokens or 0
    plain = max(0, (usage.input_tokens or 0) - read - write)
    sides = (
        (plain, p.input),
        (read, p.cache_read if p.cache_read is not None else p.input),
        (write, p.cache_write if p.cache_write is not None else p.input),
        (usage.output_tokens, p.output),
    )
    for tokens, rate in sides:
        if not tokens:
            continue
        if rate is None:
            return None
        total += Decimal(tokens) * Decimal(str(rate))
    return float(total / PER)


def usd(amount: float) -> str:
    """Money for humans: cents above a dollar, two significant digits below it.

    1234.5 -> $1,234.50   0.42 -> $0.42   0.0999 -> $0.10   0.0000048 -> $0.0000048
    0.000006 -> $0.000006   0 -> $0.00
    """
    if amount < 0:
        return "-" + usd(-amount)
    if amount == 0:
        return "$0.00"
    if amount >= 0.995:
        return f"${amount:,.2f}"
    rounded = float(f"{amount:.2g}")  # round first, so 0.0999 becomes 0.1 and shows as $0.10
    decimals = max(2, 1 - math.floor(math.log10(rounded)))
    text = f"{rounded:.{decimals}f}"
    if decimals > 2:  # $0.000006, not $0.0000060; but $0.10 keeps its cents
        text = text.rstrip("0")
    return f"${text}"


def rate(per_million: float) -> str:
    """A rate for humans: `$0.40/1M`."""
    return f"${per_million:.2f}/1M" if per_million >= 0.01 else f"${per_million:g}/1M"


def usage_line(model: str, usage: Usage | None, prices: Mapping[str, Price] | None = None) -> str:
    """One line for `ask --usage`: `usage: 5 in + 1 out = 6 tokens · $0.0000042 (model)`."""
    if usage is None or usage.total_tokens is None:
        return f"usage: the service reported no token counts ({model})"

    def n(value: int | None) -> str:
        return "?" if value is None else str(value)

    cached = f" ({usage.cached_tokens} cached)" if usage.cached_tokens else ""
    counts = (
        f"{n(usage.input_tokens)} in{cached} + {n(usage.output_tokens)} out = "
        f"{usage.total_tokens} tokens"
    )
    amount = cost(model, usage, prices)
    if amount is None:
        if price(model, prices) is None:
            return f"usage: {counts} · no price known for {model} (add one under [prices])"
        return f"usage: {counts} · cost unknown (a rate of {model} is missing under [prices])"
    return f"usage: {counts} · {usd(amount)} ({model})"
