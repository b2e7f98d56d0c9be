"""The store's values and codecs: what it hands out (Summary, Record, Hit, Entry), what it is
told (Meta), names and ids, and the conversions between them and rows (times, JSON columns).
Part of mlchat.store; imports the standard library and mlchat.types, errors, session, text.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, cast

from mlchat.errors import ConfigError, UsageError
from mlchat.session import ReplyStatus
from mlchat.store import parts as parts_mod
from mlchat.text import escape_controls
from mlchat.types import DIALECTS, Dialect, Message, Params, Part, Role, ToolCall, Usage

DB_NAME = "mlchat.db"
BUSY_TIMEOUT_MS = 5000
ID_LENGTH = 8
MIN_PREFIX = 4
NAME_MAX = 64
MARK_START = "\x02"  # around each match in Hit.snippet
MARK_END = "\x03"
STATUSES: tuple[ReplyStatus, ...] = ("ok", "interrupted", "failed")


class StoreError(ConfigError):
    """The database cannot be opened, read or written (exit code 3, like any unusable file)."""


@dataclass(frozen=True, slots=True)
class Summary:
    """One conversation as listed: `messages` counts the rows that are part of it; `title` is the
    start of its first user message, whitespace collapsed."""

    id: str
    name: str | None
    created: str
    updated: str
    model: str
    dialect: Dialect
    system: str | None
    params: Params
    messages: int
    title: str
    profile: str | None = None  # None: recorded before profiles existed
    role: str | None = None
    # /compact: the summary sent in place of the first `compacted` messages of the conversation
    summary: str | None = None
    compacted: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    """One stored message with everything known about it (times are ISO 8601 UTC)."""

    seq: int
    role: Role
    content: str
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    tool_call_id: str | None
    is_error: bool
    model: str | None
    usage: Usage | None
    cost: float | None
    created: str
    status: ReplyStatus
    error: str | None
    # The attachments of a user message (files, images, pages); `content` is then the whole
    # text as it was sent, rebuilt from them. A tool's result: its text, then its images.
    parts: tuple[Part, ...] = ()
    requested_model: str | None = None  # the model asked for, when another one answered
    finish_reason: str | None = None  # the service's: stop, length, tool_calls, refusal, ...
    row: int = 0  # the row id: which row this is, for the writer that loaded it

    @property
    def included(self) -> bool:
        """False for an interrupted or failed reply that produced nothing: kept as history, never
        sent back to the model (mirrors `Conversation.add_reply`)."""
        return self.status == "ok" or bool(self.content or self.reasoning or self.tool_calls)

    def message(self) -> Message:
        return Message(
            self.role,
            self.content,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            is_error=self.is_error,
            interrupted=self.status != "ok",
            parts=self.parts,
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """A search match: `snippet` is the matching text in context, whitespace collapsed, with each
    match between MARK_START and MARK_END (see `parts`)."""

    conversation: str
    name: str | None
    seq: int
    role: Role
    created: str
    snippet: str

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, is_match) pieces."""
        out: list[tuple[str, bool]] = []
        for i, piece in enumerate(self.snippet.split(MARK_START)):
            if i == 0:
                out.append((piece, False))
                continue
            matched, _, rest = piece.partition(MARK_END)
            out += [(matched, True), (rest, False)]
        return [(text, hit) for text, hit in out if text]

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts())


@dataclass(frozen=True, slots=True)
class Meta:
    """What is known about a message beyond the Message itself, when it is written."""

    status: ReplyStatus = "ok"
    error: str | None = None
    reasoning: str | None = None
    model: str | None = None  # of a reply: the model that answered
    usage: Usage | None = None
    cost: float | None = None
    requested_model: str | None = None  # the model asked for, when another one answered
    finish_reason: str | None = None


@dataclass(slots=True)
class Entry:
    """A row `Tx.entries` knows about: its id and, when it is part of the conversation, its
    message (None for a failure record)."""

    row: int
    message: Message | None


# -- names and ids -----------------------------------------------------------------------------

_ID_LIKE = re.compile(r"[0-9a-fA-F]{4,8}")
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def validate_name(name: str) -> str:
    """The name in NFC form, or UsageError saying what is wrong with it.

    Names never become file names, but they are typed in shells and shown on terminals: no path
    separators, no control or direction-changing characters, at most NAME_MAX characters, no
    leading "-" (it would read as an option), and nothing that could be taken for an id."""
    name = unicodedata.normalize("NFC", name)
    if not name.strip():
        raise UsageError("a conversation name cannot be empty")
    if len(name) > NAME_MAX:
        raise UsageError(f"a conversation name is at most {NAME_MAX} characters, got {len(name)}")
    if "/" in name or "\\" in name:
        raise UsageError("a conversation name cannot contain / or \\")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI:
            raise UsageError(
                f"a conversation name cannot contain control characters (found U+{ord(ch):04X})"
            )
    if name != name.strip():
        raise UsageError("a conversation name cannot start or end with a space")
    if name in (".", ".."):
        raise UsageError(f"'{name}' cannot be a conversation name")
    if name.startswith("-"):
        raise UsageError("a conversation name cannot start with '-'")
    if _ID_LIKE.fullmatch(name):
        raise UsageError(
            f"'{name}' looks like a conversation id; choose a name with other characters"
        )
    return name


def new_id() -> str:
    return os.urandom(ID_LENGTH // 2).hex()


# -- time and JSON -----------------------------------------------------------------------------


def iso(t: float) -> str:
    """ISO 8601 UTC with microseconds: sortable as text, readable in the sqlite3 shell."""
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def params_json(params: Params) -> str:
    data: dict[str, Any] = {}
    for f in fields(Params):
        value = getattr(params, f.name)
        if value is None or value == ():
            continue
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def params_from_json(text: str | None) -> Params:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return Params()
    if not isinstance(data, dict):
        return Params()
    known = {f.name for f in fields(Params)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue  # written by a newer mlchat: ignored, never an error
        if key == "stop":
            if isinstance(value, list) and all(isinstance(s, str) for s in value):
                values[key] = tuple(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[key] = value
    return Params(**values)


def calls_json(calls: Sequence[ToolCall]) -> str | None:
    if not calls:
        return None
    return json.dumps(
        [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
        ensure_ascii=False,
    )


def calls_from_json(text: str | None) -> tuple[ToolCall, ...]:
    if not text:
        return ()
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(data, list):
        return ()
    return tuple(
        ToolCall(str(c.get("id", "")), str(c.get("name", "")), str(c.get("arguments", "")))
        for c in data
        if isinstance(c, dict)
    )


def dialect_of(value: Any) -> Dialect:
    return cast(Dialect, value) if value in DIALECTS else "openai"


# -- rows --------------------------------------------------------------------------------------


def record_from_row(row: sqlite3.Row, parts: tuple[Part, ...] = ()) -> Record:
    input_tokens, output_tokens = row["input_tokens"], row["output_tokens"]
    status: ReplyStatus = row["status"] if row["status"] in STATUSES else "failed"
    content = row["content"] or ""
    if parts and row["role"] == "user":
        rebuilt = parts_mod.with_parts(Message("user", content), parts)
        content, parts = rebuilt.content, rebuilt.parts
    elif row["role"] != "tool":  # a tool's result keeps its text and the images it returned
        parts = ()
    return Record(
        seq=int(row["seq"]),
        role=row["role"],
        content=content,
        reasoning=row["reasoning"] or None,
        tool_calls=calls_from_json(row["tool_calls"]),
        tool_call_id=row["tool_call_id"],
        is_error=bool(row["is_error"]),
        model=row["model"],
        usage=None
        if input_tokens is None and output_tokens is None
        else Usage(input_tokens, output_tokens),
        cost=row["cost"],
        created=row["created"],
        status=status,
        error=row["error"],
        parts=parts,
        requested_model=row["requested_model"],
        finish_reason=row["finish_reason"],
        row=int(row["id"]),
    )


def hit_from_row(row: sqlite3.Row, snippet: str) -> Hit:
    return Hit(
        conversation=row["conversation_id"],
        name=row["name"],
        seq=int(row["seq"]),
        role=row["role"],
        created=row["created"],
        snippet=" ".join(escape_controls(snippet, keep="\n\t" + MARK_START + MARK_END).split()),
    )
