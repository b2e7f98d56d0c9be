"""What a tool call's arguments look like to the person approving it: the folded view shown with
every call, and the full view behind `[v]iew`.

The model writes the arguments, so the view must not hide anything the tool will get. Both views
are drawn from the parsed arguments, the same object the tool receives as JSON (so a key given
twice shows once, with the value the tool sees), pretty-printed one key per line. The folded view
is one line when it is short; otherwise it cuts long strings and numbers to their start and says
how much is left out, but every key of every object shows; past `MAX_LINES` lines it stops, and
says so (`complete` is then False: the caller asks for the full view before it accepts a yes).
Everything is sanitised (mlchat.text): JSON escapes the C0 controls, and C1 controls and
bidirectional overrides are shown as <U+...>.
Pure: imports the standard library and mlchat.text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from mlchat.text import ELLIPSIS, escape_controls, json_loads

MAX_VALUE = 160  # characters of a string (or a number) shown before it is folded
KEEP = 100  # characters kept of a folded value
MAX_LINES = 40  # lines of the folded view
INDENT = "  "
ONE_LINE = 100  # arguments this short (as compact JSON) are shown on one line


@dataclass(frozen=True, slots=True)
class View:
    lines: list[str]
    complete: bool  # every key and the start of every value is in `lines`
    folded: bool = False  # some value was cut to its start


def folded(arguments: str) -> View:
    """The view shown before a call is approved."""
    return _view(arguments, fold=True)


def full(arguments: str) -> View:
    """Everything: the text for the pager."""
    return _view(arguments, fold=False)


def _view(arguments: str, *, fold: bool) -> View:
    try:
        value: Any = json_loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        raw = escape_controls(arguments, keep="")
        if fold and len(raw) > MAX_VALUE:
            return View(
                [f"(not JSON) {raw[:KEEP]}{ELLIPSIS} (+{len(raw) - KEEP:,} characters)"], True
            )
        return View([f"(not JSON) {raw}"], True)
    lines: list[str] = []
    state = {"folded": False}
    if fold:
        with suppress(RecursionError, ValueError):
            compact = escape_controls(json.dumps(value, ensure_ascii=False), keep="")
            if len(compact) <= ONE_LINE:
                return View([compact], True)
    try:
        for line in _lines(value, "", fold, state):
            if fold and len(lines) == MAX_LINES:
                more = sum(1 for _ in _lines(value, "", fold, state)) - MAX_LINES
                lines.append(f"{ELLIPSIS} {more:,} more lines: [v]iew shows them")
                return View(lines, False, True)
            lines.append(line)
    except RecursionError:
        return View(["(nested too deeply to show)"], False)
    return View(lines, True, state["folded"])


def _scalar(value: Any, fold: bool, state: dict[str, bool]) -> str:
    text = escape_controls(json.dumps(value, ensure_ascii=False), keep="")
    if fold and len(text) > MAX_VALUE:
        state["folded"] = True
        closing = '"' if text.endswith('"') else ""
        return f"{text[:KEEP]}{ELLIPSIS}{closing} (+{len(text) - KEEP:,} characters)"
    return text


def _lines(value: Any, indent: str, fold: bool, state: dict[str, bool]) -> Iterator[str]:
    """`value` pretty-printed, one line per key or item; the first line has no indent (it goes
    after a key), the last has no comma (the caller adds it)."""
    if isinstance(value, dict) and value:
        yield "{"
        items = list(value.items())
        for n, (key, item) in enumerate(items):
            comma = "," if n < len(items) - 1 else ""
            head = f"{indent}{INDENT}{_scalar(key, fold, state)}: "
            inner = list(_lines(item, indent + INDENT, fold, state))
            if len(inner) == 1:
                yield head + inner[0] + comma
            else:
                yield head + inner[0]
                yield from inner[1:-1]
                yield inner[-1] + comma
        yield indent + "}"
    elif isinstance(value, list) and value:
        yield "["
        for n, item in enumerate(value):
            comma = "," if n < len(value) - 1 else ""
            inner = list(_lines(item, indent + INDENT, fold, state))
            inner[0] = indent + INDENT + inner[0]
            inner[-1] += comma
            yield from inner
        yield indent + "]"
    else:
        yield _scalar(value, fold, state)
