"""Prices: the shipped table, the config's [prices] on top, exact costs and money for humans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlchat import config, prices
from mlchat.errors import ConfigError
from mlchat.prices import Price
from mlchat.types import Usage

M1 = "minimax-minimax-m1"


def test_shipped_price_of_the_seed_model() -> None:
    assert prices.price(M1) == Price(input=0.40, output=2.20)
    assert prices.price("MiniMax-MiniMax-M1") == Price(input=0.40, output=2.20)
    assert prices.price("no-such-model") is None


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(1_000_000, 1_000_000), 2.60),
        (Usage(1_000_000, 0), 0.40),
        (Usage(0, 1_000_000), 2.20),
        (Usage(5, 1), 0.0000042),  # 5 x 0.40 + 1 x 2.20 = 4.2 millionths
        (Usage(12, None), 0.0000048),  # an input-only count costs only its input
        (Usage(None, 3), 0.0000066),
        (Usage(1234, 567), 0.0017410),  # 493.6 + 1247.4 = 1741 millionths
        (Usage(0, 0), 0.0),
    ],
)
def test_cost_is_exact(usage: Usage, expected: float) -> None:
    assert prices.cost(M1, usage) == expected


@pytest.mark.parametrize("usage", [None, Usage(None, None)])
def test_cost_without_usage_is_unknown(usage: Usage | None) -> None:
    assert prices.cost(M1, usage) is None


def test_cost_of_an_unpriced_model_is_unknown() -> None:
    assert prices.cost("meta-llama-3-8B-instruct", Usage(10, 10)) is None


def test_config_adds_a_model_and_overrides_a_field() -> None:
    table = prices.table(
        {
            "meta-llama-3-8B-instruct": {"input": 0.03, "output": 0.06},
            M1: {"input": 0.5},  # output stays the shipped 2.20
        }
    )
    assert table["meta-llama-3-8B-instruct"] == Price(0.03, 0.06)
    assert table[M1] == Price(0.5, 2.2)
    assert prices.cost(M1, Usage(2, 1), table) == 0.0000032
    assert prices.cost("meta-llama-3-8B-instruct", Usage(100, 50), table) == 0.000006
    assert prices.SHIPPED[M1] == Price(0.40, 2.20)  # the shipped table is never changed


def test_integer_prices_are_accepted() -> None:
    assert prices.table({"x": {"input": 1, "output": 0}})["x"] == Price(1.0, 0.0)


def test_a_missing_rate_makes_only_that_side_unknown() -> None:
    table = prices.table({"new-model": {"input": 1.0}})
    assert prices.cost("new-model", Usage(1000, None), table) == 0.001
    assert prices.cost("new-model", Usage(1000, 0), table) == 0.001
    assert prices.cost("new-model", Usage(1000, 10), table) is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("cheap", 'prices must be a table of [prices."MODEL"] tables'),
        ({"m": 0.4}, "prices.m must be a table with input and output"),
        ({"m": {"output": -1}}, "prices.m.output must be >= 0 (USD per 1M tokens), got -1"),
        ({"m": {"input": True}}, "prices.m.input must be a number"),
        ({"m": {"input": float("nan")}}, "prices.m.input must be >= 0"),
        ({"m": {"inptu": 0.4}}, "prices.m has no field 'inptu'"),
    ],
)
def test_malformed_prices_are_config_errors(raw: Any, fragment: str) -> None:
    # Validated once, with the rest of the config file (config.validate_file).
    with pytest.raises(ConfigError) as info:
        config.resolve(config.Flags(), {}, {"prices": raw}, path=Path("/etc/mlchat.toml"))
    assert fragment in info.value.message and "/etc/mlchat.toml" in info.value.message
    assert info.value.exit_code == 3


def test_settings_carry_the_merged_table() -> None:
    s = config.resolve(config.Flags(), {}, {"prices": {M1: {"output": 3}, "x": {"input": 1}}})
    assert s.prices[M1] == Price(0.40, 3.0) and s.prices["x"] == Price(1.0, None)
    assert config.resolve(config.Flags(), {}, {}).prices == prices.SHIPPED


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0.00"),
        (0.42, "$0.42"),
        (0.1, "$0.10"),
        (0.0999, "$0.10"),
        (0.123, "$0.12"),
        (0.05, "$0.05"),
        (0.0012, "$0.0012"),
        (0.001, "$0.001"),
        (0.0000048, "$0.0000048"),
        (0.000006, "$0.000006"),
        (0.994, "$0.99"),
        (0.999, "$1.00"),
        (2.6, "$2.60"),
        (1234.5, "$1,234.50"),
        (-0.5, "-$0.50"),
    ],
)
def test_money_for_humans(amount: float, text: str) -> None:
    assert prices.usd(amount) == text


def test_rates() -> None:
    assert prices.rate(0.4) == "$0.40/1M"
    assert prices.rate(15) == "$15.00/1M"
    assert prices.rate(0.005) == "$0.005/1M"


def test_usage_lines() -> None:
    assert prices.usage_line(M1, Usage(5, 1)) == (
        f"usage: 5 in + 1 out = 6 tokens · $0.0000042 ({M1})"
    )
    assert prices.usage_line("other", Usage(5, 1)) == (
        "usage: 5 in + 1 out = 6 tokens · no price known for other (add one under [prices])"
    )
    assert prices.usage_line(M1, Usage(None, 7)) == (
        f"usage: ? in + 7 out = 7 tokens · $0.000015 ({M1})"
    )
    assert prices.usage_line(M1, None) == f"usage: the service reported no token counts ({M1})"
