"""The store's writes: `Tx`, what is available inside `Store.transaction()` (one BEGIN IMMEDIATE
transaction; `mlchat.turnlog.StoreLog` is its main caller). Part of mlchat.store; imports the
standard library, mlchat.session, mlchat.types and the store's values and parts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence

from mlchat.session import Conversation, ReplyStatus
from mlchat.store import parts
from mlchat.store.values import (
    Entry,
    Meta,
    StoreError,
    calls_json,
    iso,
    new_id,
    params_json,
    record_from_row,
)
from mlchat.types import Message


def status_of(message: Message) -> ReplyStatus:
    return "interrupted" if message.interrupted else "ok"


class Tx:
    """The writes available inside `Store.transaction()`."""

    def __init__(self, db: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.db = db
        self._stamp = iso(clock())

    def now(self) -> str:
        return self._stamp

    def exists(self, id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM conversations WHERE id = ?", (id,)).fetchone()
        return row is not None

    def insert_conversation(self, convo: Conversation, id: str | None = None) -> str:
        """Insert `convo`'s row (without messages) under `id`, or a new id; returns the id."""
        for _ in range(10):
            cid = id or new_id()
            try:
                self.db.execute(
                    "INSERT INTO conversations (id, name, created, updated, model, dialect, "
                    "system, params, profile, role, summary, compacted) "
                    "VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        cid,
                        self._stamp,
                        self._stamp,
                        convo.model,
                        convo.dialect,
                        convo.system,
                        params_json(convo.params),
                        convo.profile,
                        convo.role,
                        convo.summary,
                        convo.compacted,
                    ),
                )
            except sqlite3.IntegrityError:
                if id is not None:
                    raise
                continue  # an id collision: 1 in 4 billion per existing conversation
            return cid
        raise StoreError("cannot find a free conversation id")  # pragma: no cover

    def touch(self, convo: Conversation) -> None:
        """Record the conversation's current model, dialect, system prompt and parameters."""
        self.db.execute(
            "UPDATE conversations SET updated = ?, model = ?, dialect = ?, system = ?, params = ?, "
            "profile = ?, role = ?, summary = ?, compacted = ? WHERE id = ?",
            (
                self._stamp,
                convo.model,
                convo.dialect,
                convo.system,
                params_json(convo.params),
                convo.profile,
                convo.role,
                convo.summary,
                convo.compacted,
                convo.id,
            ),
        )

    def entries(self, id: str) -> list[Entry]:
        rows = self.db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq", (id,)
        ).fetchall()
        attached = parts.read(self.db, id)
        out = []
        for row in rows:
            rec = record_from_row(row, attached.get(int(row["id"]), ()))
            out.append(Entry(int(row["id"]), rec.message() if rec.included else None))
        return out

    def insert_message(self, id: str, message: Message, meta: Meta) -> int:
        """Append `message` to conversation `id` (after every existing row); returns its row id."""
        seq = self.db.execute(
            "SELECT COALESCE(max(seq), -1) + 1 FROM messages WHERE conversation_id = ?", (id,)
        ).fetchone()[0]
        usage = meta.usage
        cur = self.db.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, reasoning, tool_calls, "
            "tool_call_id, is_error, model, input_tokens, output_tokens, cost, created, status, "
            "error, requested_model, finish_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                id,
                seq,
                message.role,
                parts.stored_content(message),
                meta.reasoning or None,
                calls_json(message.tool_calls),
                message.tool_call_id,
                int(message.is_error),
                meta.model,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                meta.cost,
                self._stamp,
                meta.status,
                meta.error,
                meta.requested_model,
                meta.finish_reason,
            ),
        )
        self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (self._stamp, id))
        row = int(cur.lastrowid or 0)
        if message.parts:
            parts.write(self.db, row, message.parts)
        return row

    def update_message(self, row: int, message: Message, meta: Meta) -> bool:
        """Rewrite row `row` with `message` and `meta`; False when the row no longer exists."""
        usage = meta.usage
        cur = self.db.execute(
            "UPDATE messages SET content = ?, reasoning = ?, tool_calls = ?, tool_call_id = ?, "
            "is_error = ?, model = ?, input_tokens = ?, output_tokens = ?, cost = ?, status = ?, "
            "error = ?, requested_model = ?, finish_reason = ? WHERE id = ?",
            (
                parts.stored_content(message),
                meta.reasoning or None,
                calls_json(message.tool_calls),
                message.tool_call_id,
                int(message.is_error),
                meta.model,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                meta.cost,
                meta.status,
                meta.error,
                meta.requested_model,
                meta.finish_reason,
                row,
            ),
        )
        if message.parts and cur.rowcount > 0:
            parts.write(self.db, row, message.parts)
        return cur.rowcount > 0

    def written_after(self, id: str, row: int, known: Collection[int]) -> bool:
        """Whether conversation `id` has a row after row `row` that is not one of `known` (one
        that another process wrote)."""
        found = self.db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND seq > "
            "COALESCE((SELECT seq FROM messages WHERE id = ?), -1) ORDER BY seq",
            (id, row),
        ).fetchall()
        return any(int(r[0]) not in known for r in found)

    def copy_message(self, row: int, id: str, message: Message) -> int:
        """Append a copy of row `row` (with its usage, reasoning, status and attachments) to
        conversation `id`; `message` is written instead when the row is gone. Returns the new
        row's id."""
        seq = self.db.execute(
            "SELECT COALESCE(max(seq), -1) + 1 FROM messages WHERE conversation_id = ?", (id,)
        ).fetchone()[0]
        columns = (
            "role, content, reasoning, tool_calls, tool_call_id, is_error, model, input_tokens, "
            "output_tokens, cost, created, status, error"
        )
        cur = self.db.execute(
            f"INSERT INTO messages (conversation_id, seq, {columns}) "
            f"SELECT ?, ?, {columns} FROM messages WHERE id = ?",
            (id, seq, row),
        )
        if cur.rowcount < 1:
            return self.insert_message(id, message, Meta(status_of(message)))
        new = int(cur.lastrowid or 0)
        self.db.execute(
            "INSERT INTO message_parts (message_id, position, kind, source, lang, media_type, "
            "url, text, blob) SELECT ?, position, kind, source, lang, media_type, url, text, blob "
            "FROM message_parts WHERE message_id = ?",
            (new, row),
        )
        self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (self._stamp, id))
        return new

    def delete_messages(self, rows: Sequence[int]) -> None:
        self.db.executemany("DELETE FROM messages WHERE id = ?", [(r,) for r in rows])
        if rows:
            parts.collect_garbage(self.db)
