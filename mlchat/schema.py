"""JSON Schema for `--schema` and tool parameters: checking a schema when it is loaded, and
validating a value (a reply, a model's tool arguments) against it. Imports: the standard library
and errors; jsonschema-rs (its only home) is imported by the first check, never at start-up.

The validator is jsonschema-rs (Rust, draft 2020-12 in full, plus 4, 6, 7 and 2019-09 by
`$schema`), not the hand-written one this module used to hold (it missed seven 2020-12 keywords,
took `[1, 1.0]` as unique and `{"a": true}` as `{"a": 1}`, raised on `$anchor` and on a `$ref` to
itself, and hung on a hostile `pattern`). Measured on this machine (2 shared cores, Python 3.11,
`python bench/schema_validators.py`, medians):

    import, in a process that has already loaded typing/re/socket/email.utils (as `ask` has):
        jsonschema 4.26  53 ms     jsonschema-rs 0.61  6 ms     fastjsonschema 2.22  3 ms
    {"type": "string", "pattern": "^(a+)+$"} against "a" * n + "!":
        jsonschema      n=20: 81 ms, 22: 230 ms, 24: 1.0 s, 26: 2.7 s, 40: killed after 20 s
        fastjsonschema  n=20: 47 ms, 22: 150 ms, 24: 0.65 s, 26: 2.6 s, 40: killed after 20 s
        jsonschema-rs   n=20..40: 0.05 ms, n=10,000: 0.07 ms, n=1,000,000: 1.7 ms

Both Python validators use `re`, which backtracks: the time doubles with each character (n=40
would take about half a day), so a model could hang us with its reply. jsonschema-rs compiles
patterns with the Rust `regex` engine, which runs in linear time; a pattern that needs
lookaround or backreferences goes to `fancy-regex`, whose backtracking we cap at BACKTRACK_LIMIT
steps. The price: a 15 MB install (one abi3 wheel, no dependencies; jsonschema is 3 MB with
its four). fastjsonschema also lacks draft 2019-09/2020-12. jsonschema would need its `pattern`
checks replaced (the `regex` module with a timeout) and still cost 50 ms more per run.

What jsonschema-rs does not bound, we do before calling it: the depth of a value or a schema
(deep enough input overflows its stack and kills the process), and values that are not JSON
(NaN, lone surrogates). Remote `$ref`s are never fetched (`offline`): a schema cannot make us
open a URL or read a local file.

The contract: `check_schema` raises SchemaError (a ValueError) for anything that is not a usable
schema; `validate` returns None or one line naming the first problem (`$.items[2].name: ...`),
and raises nothing but SchemaError, whatever the value holds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema_rs  # a type only; imported for real by _compile

MAX_DEPTH = 500  # levels of nesting in a value or a schema; jsonschema-rs overflows far deeper
BACKTRACK_LIMIT = 1_000_000  # steps of fancy-regex backtracking per match (its own default)
MESSAGE_LIMIT = 300  # characters of one problem; the value is quoted in it and may be huge
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_LONG_NUMBER = re.compile(r"\d{41,}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SchemaError(ValueError):
    """The schema itself is unusable; the message is one line."""


def check_schema(schema: Any) -> None:
    """Raise SchemaError unless `schema` is a usable JSON Schema: checked against its draft's
    meta-schema, every `pattern` compiled, every `$ref` resolved."""
    _compile(schema)


def validate(value: Any, schema: Any) -> str | None:
    """None when `value` conforms to `schema`, else one line describing the first problem.
    Raises SchemaError for an unusable schema, nothing else."""
    validator = _compile(schema)
    problem = _not_json(value)
    if problem is not None:
        return problem
    try:
        error = next(iter(validator.iter_errors(value)), None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # incl. pyo3's PanicException, which is not an Exception
        return f"$: the value cannot be checked ({_clip(str(exc) or type(exc).__name__)})"
    if error is None:
        return None
    return f"{_path(error.instance_path)}: {_clip(error.message)}"


def _compile(schema: Any) -> jsonschema_rs.Validator:
    if not isinstance(schema, dict | bool):
        raise SchemaError("a JSON Schema must be an object")
    if _depth_exceeds(schema):
        raise SchemaError(f"the schema is nested more than {MAX_DEPTH} levels deep")
    import jsonschema_rs  # here, not at module level: --help and plain `ask` never pay

    try:
        return jsonschema_rs.validator_for(
            schema,
            offline=True,
            pattern_options=jsonschema_rs.FancyRegexOptions(backtrack_limit=BACKTRACK_LIMIT),
        )
    except jsonschema_rs.ValidationError as exc:
        raise SchemaError(_schema_problem(exc, schema)) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a value no JSON holds (a TOML date), a panic
        raise SchemaError(f"it cannot be used ({_clip(str(exc) or type(exc).__name__)})") from None


def _schema_problem(exc: jsonschema_rs.ValidationError, schema: Any) -> str:
    where = list(exc.instance_path)
    if where and where[-1] == "type":
        found = _at(schema, where)
        names = found if isinstance(found, list) else [found]
        unknown = next((n for n in names if n not in _TYPES), None)
        if unknown is not None:
            return (
                f"{_path(where)}: {json.dumps(unknown)} is not a type (one of {', '.join(_TYPES)})"
            )
    message = str(exc.message).splitlines()[0] if exc.message else "not a valid JSON Schema"
    return f"{_path(where)}: {_clip(message)}"


def _at(doc: Any, where: Iterable[str | int]) -> Any:
    for step in where:
        try:
            doc = doc[step]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def _path(where: Iterable[str | int]) -> str:
    """A JSON path as people read it: `$`, `$.items[2].name`, `$["odd key"]`."""
    out = "$"
    for step in where:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _IDENT.match(step):
            out += f".{step}"
        else:
            out += f"[{_clip(json.dumps(step), 60)}]"
    return out if len(out) <= 120 else out[:119] + "…"


def _clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    text = _LONG_NUMBER.sub(lambda m: f"{m[0][:6]}…({len(m[0])} digits)", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _depth_exceeds(doc: Any) -> bool:
    """Whether lists and dicts nest more than MAX_DEPTH deep (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _not_json(value: Any) -> str | None:
    """Why `value` is not a JSON document that can be checked, or None: too deep, NaN or
    Infinity (Python's json reads them; JSON has no such numbers), a string that is not Unicode
    (a lone surrogate from a `\\ud800` escape), a key that is not a string, a foreign type."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return f"$: nested more than {MAX_DEPTH} levels deep"
            if isinstance(item, list):
                stack.extend((v, depth + 1, (*where, i)) for i, v in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"{_path(where)}: a key is not a string"
                if not _is_unicode(key):
                    return f"{_path(where)}: a key is not valid Unicode (a lone surrogate)"
                stack.append((child, depth + 1, (*where, key)))
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{_path(where)}: {item} is not a JSON number"
        elif isinstance(item, str):
            if not _is_unicode(item):
                return f"{_path(where)}: the string is not valid Unicode (a lone surrogate)"
        elif item is not None and not isinstance(item, bool | int):
            return f"{_path(where)}: a {type(item).__name__} is not a JSON value"
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
