"""Sampling parameters: names, types, ranges and validation. Pure.

One table serves `ask`/`chat` flags, the config file, `mlchat config set` and the REPL's `/set`,
so every path gives the same message for the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from mlchat.errors import UsageError
from mlchat.types import Dialect, Params


@dataclass(frozen=True, slots=True)
class Spec:
    kind: type
    low: float | None = None
    high: float | None = None
    help: str = ""


SPECS: dict[str, Spec] = {
    "temperature": Spec(float, 0.0, 2.0, "randomness: 0 is greedy (0-2; 0-1 on --api anthropic)"),
    "top_p": Spec(float, 0.0, 1.0, "nucleus sampling mass (0-1)"),
    "max_tokens": Spec(int, 1, None, "longest reply, in tokens (>= 1)"),
    "frequency_penalty": Spec(float, -2.0, 2.0, "penalise repeated tokens (-2..2)"),
    "presence_penalty": Spec(float, -2.0, 2.0, "penalise tokens already present (-2..2)"),
    "stop": Spec(list, None, None, "up to 4 stop sequences"),
    "seed": Spec(int, None, None, "seed for reproducible sampling"),
}
MAX_STOP = 4
DEFAULTS = Params(
    temperature=0.7,
    top_p=0.9,
    max_tokens=1000,
    frequency_penalty=0.0,
    presence_penalty=0.0,
)

assert set(SPECS) == {f.name for f in fields(Params)}


def coerce(name: str, value: Any) -> Any:
    """Turn a value from the config file or a string typed by the user into the parameter's type,
    or raise UsageError with a message that names the parameter and its range."""
    spec = SPECS.get(name)
    if spec is None:
        raise UsageError(f"unknown parameter '{name}'", hint="parameters: " + ", ".join(SPECS))
    if value is None:
        return None
    if spec.kind is list:
        if isinstance(value, str):
            items = [value]
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            items = list(value)
        else:
            raise UsageError("stop must be a string or a list of strings")
        return tuple(items)
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a number, not {str(value).lower()}")
    try:
        if spec.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            number: float = int(value)
        else:
            number = float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if spec.kind is int else "a number"
        raise UsageError(f"{name} must be {kind}, got '{value}'") from None
    check_range(name, number)
    return number


def check_range(name: str, value: float, dialect: Dialect = "openai") -> None:
    spec = SPECS[name]
    low, high = spec.low, spec.high
    if name == "temperature" and dialect == "anthropic":
        high = 1.0
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            span = f">= {low:g}" if low is not None else ""
        else:
            span = f"between {low:g} and {high:g}"
        where = (
            " on the Anthropic dialect" if dialect == "anthropic" and name == "temperature" else ""
        )
        raise UsageError(f"{name} must be {span}{where}, got {value:g}")


def validate(params: Params, dialect: Dialect) -> Params:
    """Check every set parameter for `dialect`; returns the params unchanged when valid."""
    for name in ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty"):
        value = getattr(params, name)
        if value is not None:
            check_range(name, value, dialect)
    if len(params.stop) > MAX_STOP:
        raise UsageError(f"at most {MAX_STOP} stop sequences are allowed, got {len(params.stop)}")
    if any(not s for s in params.stop):
        raise UsageError("a stop sequence cannot be empty")
    return params


def merge(base: Params, overrides: dict[str, Any]) -> Params:
    """`base` with every non-None override applied (overrides already coerced)."""
    changes = {k: v for k, v in overrides.items() if v is not None and v != ()}
    return replace(base, **changes) if changes else base
