"""Comment-preserving edits of a TOML document: set or remove one key, leave every other byte alone.

Pure: imports the standard library only (tomllib reads keys and checks every result).

The document is split into statements: blank lines, comment lines, table headers, and `key = value`
statements that may span several lines (multi-line strings and arrays). An edit replaces, inserts
or removes whole statements, so comments, order, unknown keys, indentation and line endings of
everything else survive. What a line editor cannot change in place (a key inside an inline table,
an array of tables) is refused with `TomlEditError` rather than rewritten. Every result is parsed
again and compared with the intended data before it is returned, so an edit either does exactly
what was asked or raises.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any, Literal

KeyPath = tuple[str, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


class TomlEditError(ValueError):
    """The edit cannot be made by this editor; the message says why (never the file's contents)."""


# ---------------------------------------------------------------------------------------------
# Writing values


def dumps_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def format_key(path: KeyPath) -> str:
    """A dotted key, each part bare when TOML allows it, else a quoted string."""
    return ".".join(p if _BARE.fullmatch(p) else dumps_string(p) for p in path)


def dumps_value(value: Any) -> str:
    """One TOML value (tables become inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return dumps_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # repr always has '.', 'e' or is inf/nan: a TOML float, round-tripping
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{ "
            + ", ".join(f"{format_key((k,))} = {dumps_value(v)}" for k, v in value.items())
            + " }"
        )
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot write a {type(value).__name__} as TOML")


def dumps_document(data: dict[str, Any]) -> str:
    """A whole document: a table's plain keys first, then its sub-tables as `[headers]`."""
    lines: list[str] = []
    _dump_table(data, (), lines)
    return "\n".join(lines).lstrip("\n") + ("\n" if lines else "")


def _dump_table(table: dict[str, Any], path: KeyPath, lines: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    subs = {k: v for k, v in table.items() if isinstance(v, dict)}
    if path and (plain or not subs):
        if lines:
            lines.append("")
        lines.append(f"[{format_key(path)}]")
    lines.extend(f"{format_key((k,))} = {dumps_value(v)}" for k, v in plain.items())
    for k, v in subs.items():
        _dump_table(v, (*path, k), lines)


# ---------------------------------------------------------------------------------------------
# Reading the document as statements


@dataclass(frozen=True, slots=True)
class _Stmt:
    kind: Literal["blank", "comment", "header", "kv"]
    start: int  # offset of the first character of the statement's first line
    end: int  # offset just past its last line's newline (or the end of the text)
    table: KeyPath  # kv: the table it sits in; header: the table it opens
    key: KeyPath = ()  # kv: the dotted key as written, relative to `table`
    array: bool = False  # a [[header]]
    value_start: int = 0  # kv: just after '='
    value_stop: int = 0  # kv: where the value's text (with trailing blanks) ends

    @property
    def path(self) -> KeyPath:
        return (*self.table, *self.key)


def _key_path(text: str) -> KeyPath:
    """The parts of a (dotted, possibly quoted) key, decoded by tomllib itself."""
    node: Any = tomllib.loads(f"{text.strip()} = 0")
    parts: list[str] = []
    while isinstance(node, dict):
        (name,) = node
        parts.append(name)
        node = node[name]
    return tuple(parts)


def _skip_string(text: str, i: int) -> int:
    """`i` is at a quote; the offset just past the string that starts there."""
    q = text[i]
    if text.startswith(q * 3, i):
        j = i + 3
        while True:
            if q == '"' and text[j] == "\\":
                j += 2
            elif text.startswith(q * 3, j):
                end = j + 3
                # A closing run may carry up to two quotes of content: """a""""
                while end < len(text) and text[end] == q and end - j < 5:
                    end += 1
                return end
            else:
                j += 1
    j = i + 1
    while text[j] != q:
        j += 2 if q == '"' and text[j] == "\\" else 1
    return j + 1


def _find(text: str, i: int, targets: str) -> int:
    """The offset of the first of `targets` at or after `i`, outside quoted strings."""
    while text[i] not in targets:
        i = _skip_string(text, i) if text[i] in "\"'" else i + 1
    return i


def _scan_value(text: str, i: int) -> tuple[int, int]:
    """From just after '=': (where the value's text stops: a trailing comment or the line end,
    the statement's end offset). Multi-line strings and arrays extend the statement."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            i = _skip_string(text, i)
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "#" or (c == "\n" and depth == 0):
            nl = text.find("\n", i)
            if depth == 0:
                stop = i - 1 if c == "\n" and i > 0 and text[i - 1] == "\r" else i
                return stop, n if nl < 0 else nl + 1
            i = n if nl < 0 else nl  # a comment inside a multi-line array
            continue
        i += 1
    return n, n


def _statements(text: str) -> list[_Stmt]:
    stmts: list[_Stmt] = []
    table: KeyPath = ()
    pos, n = 0, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        line_end = n if nl < 0 else nl + 1
        stripped = text[pos:line_end].strip()
        indent = pos + len(text[pos:line_end]) - len(text[pos:line_end].lstrip())
        if not stripped:
            stmts.append(_Stmt("blank", pos, line_end, table))
        elif stripped.startswith("#"):
            stmts.append(_Stmt("comment", pos, line_end, table))
        elif stripped.startswith("["):
            array = stripped.startswith("[[")
            inner = indent + (2 if array else 1)
            close = _find(text, inner, "]")
            table = _key_path(text[inner:close])
            stmts.append(_Stmt("header", pos, line_end, table, array=array))
        else:
            eq = _find(text, pos, "=")
            stop, end = _scan_value(text, eq + 1)
            key = _key_path(text[pos:eq])
            stmts.append(_Stmt("kv", pos, end, table, key, False, eq + 1, stop))
            line_end = end
        pos = line_end
    return stmts


# ---------------------------------------------------------------------------------------------
# Edits


def set_value(text: str, path: KeyPath, value: Any) -> str:
    """`text` with `path` set to `value`: an existing statement keeps its key spelling, its place
    and its trailing comment; a new key joins its table (created at the end when missing)."""
    if not path:
        raise TomlEditError("an empty key")
    data = _parse(text)
    _check_parents(data, path)
    expected = copy.deepcopy(data)
    node = expected
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    for candidate in _set_candidates(text, path, value):
        if _parses_to(candidate, expected):
            return candidate
    raise TomlEditError(
        f"cannot set {format_key(path)} without rewriting the file; edit it by hand"
    )


def unset_value(text: str, path: KeyPath) -> tuple[str, bool]:
    """`text` without `path` (a key, or a whole table with its sub-tables), and whether it was
    there. Comments stay, except those inside a removed table."""
    data = _parse(text)
    node: Any = data
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or path[-1] not in node:
        return text, False
    expected = copy.deepcopy(data)
    parent = expected
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]

    stmts = _statements(text)
    cut: list[tuple[int, int]] = []
    in_removed = False
    for i, s in enumerate(stmts):
        if s.kind == "header":
            in_removed = not s.array and s.table[: len(path)] == path
            if in_removed:
                # The section goes up to its last statement; comments and blank lines after it
                # introduce whatever follows, so they stay.
                last = i
                for j in range(i + 1, len(stmts)):
                    if stmts[j].kind == "header":
                        break
                    if stmts[j].kind == "kv":
                        last = j
                cut.append((s.start, stmts[last].end))
        elif s.kind == "kv" and not in_removed and s.path[: len(path)] == path:
            cut.append((s.start, s.end))
    result = text
    for start, end in sorted(cut, reverse=True):
        result = _close_gap(result[:start], result[end:])
    # A table defined only by the dotted keys just removed disappears with them.
    if not _parses_to(result, expected) and not _parses_to(result, _prune(expected, path[:-1])):
        raise TomlEditError(
            f"cannot remove {format_key(path)} line by line (it is part of an inline table "
            "or an array); edit the file by hand"
        )
    return result, True


def _close_gap(before: str, after: str) -> str:
    """`before + after`, without the blank lines a removal left behind: at most one blank line
    where the removed lines were, none at the end of the file."""
    head = before.rstrip("\n")
    tail = after.lstrip("\n")
    newlines = (len(before) - len(head)) + (len(after) - len(tail))
    if not head:
        return tail
    if not tail:
        return head + "\n"
    return head + "\n" * min(newlines, 2) + tail


def _prune(data: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    """`data` without the tables along `path` that are empty, innermost first."""
    out = copy.deepcopy(data)
    for depth in range(len(path), 0, -1):
        parent = out
        for part in path[: depth - 1]:
            parent = parent[part]
        if parent.get(path[depth - 1]) != {}:
            break
        del parent[path[depth - 1]]
    return out


def _parse(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlEditError(f"the document is not valid TOML ({exc})") from None


def _parses_to(text: str, expected: dict[str, Any]) -> bool:
    try:
        return tomllib.loads(text) == expected
    except tomllib.TOMLDecodeError:
        return False


def _check_parents(data: dict[str, Any], path: KeyPath) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1], start=1):
        node = node.get(part)
        if node is None:
            return
        if not isinstance(node, dict):
            raise TomlEditError(f"{format_key(path[:depth])} is not a table")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _indent(text: str, s: _Stmt) -> str:
    line = text[s.start : s.end]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _insert_after(text: str, at: int, line: str) -> str:
    nl = _newline(text)
    lead = nl if at > 0 and not text[:at].endswith("\n") else ""
    return text[:at] + lead + line + nl + text[at:]


def _set_candidates(text: str, path: KeyPath, value: Any) -> list[str]:
    """Ways to write the edit, the most natural first; the caller keeps the first that parses
    to the intended data."""
    stmts = _statements(text)
    nl = _newline(text)
    rendered = dumps_value(value)
    table = path[:-1]

    for s in stmts:
        if s.kind == "kv" and s.path == path:
            raw = text[s.value_start : s.value_stop]
            lead = raw[: len(raw) - len(raw.lstrip())]
            trail = raw[len(raw.rstrip()) :]
            return [text[: s.value_start] + lead + rendered + trail + text[s.value_stop :]]

    def beside(anchor: _Stmt) -> str:
        line = f"{format_key(path[len(anchor.table) :])} = {rendered}"
        return _insert_after(text, anchor.end, _indent(text, anchor) + line)

    out: list[str] = []
    if not table:
        out.append(_at_top(text, stmts, f"{format_key(path)} = {rendered}"))
        return out
    # Under the table's own header, after its last key.
    for i, s in enumerate(stmts):
        if s.kind == "header" and not s.array and s.table == table:
            last = _section_last(stmts, i)
            if last == i:
                out.append(_insert_after(text, s.end, f"{format_key(path[-1:])} = {rendered}"))
            else:
                out.append(beside(stmts[last]))
    # Beside dotted keys that already define the table (`m.output = 2.2` under [prices]).
    siblings = [s for s in stmts if s.kind == "kv" and s.path[: len(table)] == table]
    if siblings:
        out.append(beside(siblings[-1]))
    # A new [table]: after the sections of the same family ([prices.*] beside [prices]), or at
    # the end of the file.
    block = f"[{format_key(table)}]{nl}{format_key(path[-1:])} = {rendered}"
    family = [i for i, s in enumerate(stmts) if s.kind == "header" and s.table[:1] == table[:1]]
    if family:
        at = stmts[_section_last(stmts, family[-1])].end
        lead = "" if text[:at].endswith("\n") else nl
        out.append(text[:at] + lead + nl + block + nl + text[at:])
    out.append(_append(text, block))
    # Last resort: a dotted key among the top-level keys.
    out.append(_at_top(text, stmts, f"{format_key(path)} = {rendered}"))
    return out


def _section_last(stmts: list[_Stmt], header: int) -> int:
    """The index of the last key/value statement of the section opened by `header` (the header
    itself when the section has none)."""
    last = header
    for j in range(header + 1, len(stmts)):
        if stmts[j].kind == "header":
            break
        if stmts[j].kind == "kv":
            last = j
    return last


def _at_top(text: str, stmts: list[_Stmt], line: str) -> str:
    """`line` among the top-level keys: after the last one, else before the first table (and the
    comments that introduce it), else at the end."""
    nl = _newline(text)
    first_header = next((i for i, s in enumerate(stmts) if s.kind == "header"), None)
    top = stmts if first_header is None else stmts[:first_header]
    kvs = [s for s in top if s.kind == "kv"]
    if kvs:
        return _insert_after(text, kvs[-1].end, _indent(text, kvs[-1]) + line)
    if first_header is None:
        body = text if not text or text.endswith("\n") else text + nl
        return body + line + nl
    i = first_header
    while i > 0 and stmts[i - 1].kind == "comment":
        i -= 1
    at = stmts[i].start
    return text[:at] + line + nl + nl + text[at:]


def _append(text: str, block: str) -> str:
    """`block` at the end, after a blank line."""
    nl = _newline(text)
    if not text.strip():
        return block + nl
    body = text if text.endswith("\n") else text + nl
    gap = "" if body.endswith(nl + nl) else nl
    return body + gap + block + nl
