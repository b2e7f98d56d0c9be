"""The store's attachments: the parts of a user message (text, files, images), and the images of a
tool's result (its text, then the images), content-addressed.
Part of the conversation store (the package mlchat.store is its only caller, and holds all of
mlchat's SQL). Imports: the standard library and mlchat.types.

Two tables (migration 3):

    blobs          hash (SHA-256 of the bytes) -> bytes: a file or image sent twice is stored once
    message_parts  (message_id, position) -> kind, source, lang, media_type, url, and either the
                   inline text (kind 'text': what the user typed or piped) or a blob

A message with parts keeps only its inline text in `messages.content` (so search and titles see
what the user wrote, and a 10 MB folder is not stored twice); its full content is rebuilt from the
parts when it is read, exactly as it was sent. Blobs that no part refers to any more are removed
when messages are deleted, so deleting a conversation deletes its attachments.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable

from mlchat.types import ImagePart, Message, Part, TextPart, user_message


def migration_3(db: sqlite3.Connection) -> None:
    """Attachments: content-addressed blobs and the ordered parts of a message."""
    for sql in (
        """CREATE TABLE blobs (
            hash TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
        """CREATE TABLE message_parts (
            message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('text', 'file', 'image')),
            source TEXT,
            lang TEXT,
            media_type TEXT,
            url TEXT,
            text TEXT,
            blob TEXT REFERENCES blobs (hash),
            PRIMARY KEY (message_id, position)
        )""",
        "CREATE INDEX message_parts_blob ON message_parts (blob)",
    ):
        db.execute(sql)


def stored_content(message: Message) -> str:
    """What `messages.content` holds: the whole content, or only the inline text of a message
    with parts (the rest is in the parts)."""
    if not message.parts:
        return message.content
    return "\n\n".join(
        p.text for p in message.parts if isinstance(p, TextPart) and p.source is None
    )


def _blob(db: sqlite3.Connection, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    db.execute(
        "INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?, ?, ?)", (digest, len(data), data)
    )
    return digest


def write(db: sqlite3.Connection, row: int, parts: Iterable[Part]) -> None:
    """Replace the parts of message `row` with `parts`."""
    db.execute("DELETE FROM message_parts WHERE message_id = ?", (row,))
    for position, part in enumerate(parts):
        values: tuple[str, str | None, str | None, str | None, str | None, str | None]
        if isinstance(part, ImagePart):
            values = ("image", part.source, None, part.media_type, part.url, None)
            blob: str | None = _blob(db, part.data)
        elif part.source is None:
            values = ("text", None, part.lang, None, None, part.text)
            blob = None
        else:
            values = ("file", part.source, part.lang, None, None, None)
            blob = _blob(db, part.text.encode("utf-8", errors="surrogatepass"))
        db.execute(
            "INSERT INTO message_parts (message_id, position, kind, source, lang, media_type, "
            "url, text, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row, position, *values, blob),
        )


def collect_garbage(db: sqlite3.Connection) -> None:
    """Remove the blobs no message refers to any more."""
    db.execute(
        "DELETE FROM blobs WHERE NOT EXISTS "
        "(SELECT 1 FROM message_parts p WHERE p.blob = blobs.hash)"
    )


def read(db: sqlite3.Connection, conversation: str) -> dict[int, tuple[Part, ...]]:
    """The parts of every message of `conversation` that has some, by message row id."""
    rows = db.execute(
        "SELECT p.*, b.data FROM message_parts p JOIN messages m ON m.id = p.message_id "
        "LEFT JOIN blobs b ON b.hash = p.blob WHERE m.conversation_id = ? "
        "ORDER BY p.message_id, p.position",
        (conversation,),
    ).fetchall()
    out: dict[int, list[Part]] = {}
    for r in rows:
        data = bytes(r["data"] or b"")
        part: Part
        if r["kind"] == "image":
            part = ImagePart(r["media_type"] or "image/png", data, r["source"], r["url"])
        elif r["kind"] == "file":
            part = TextPart(data.decode("utf-8", errors="surrogatepass"), r["source"], r["lang"])
        else:
            part = TextPart(r["text"] or "", None, r["lang"])
        out.setdefault(int(r["message_id"]), []).append(part)
    return {row: tuple(parts) for row, parts in out.items()}


def with_parts(message: Message, parts: tuple[Part, ...]) -> Message:
    """`message` (as read from its row) with its parts back and its content rebuilt."""
    if not parts or message.role != "user":
        return message
    rebuilt = user_message(parts)
    return Message(
        message.role,
        rebuilt.content,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
        is_error=message.is_error,
        interrupted=message.interrupted,
        parts=rebuilt.parts,
    )
