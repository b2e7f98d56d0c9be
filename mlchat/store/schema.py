"""The store's schema: the ordered migrations and the full-text index (FTS5 table and triggers).
Part of mlchat.store; imports the standard library and mlchat.store.parts.

Schema changes are ordered migrations in `MIGRATIONS`; PRAGMA user_version counts the ones
applied. The next migration is one more function appended to the tuple. The full-text index is
kept outside the migrations because it depends on the SQLite build reading the file (see
`Store._ensure_fts`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from mlchat.store import parts


def migration_1(db: sqlite3.Connection) -> None:
    """The initial schema."""
    for sql in (
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            name TEXT UNIQUE COLLATE NOCASE,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model TEXT NOT NULL,
            dialect TEXT NOT NULL,
            system TEXT,
            params TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX conversations_updated ON conversations (updated)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content TEXT NOT NULL DEFAULT '',
            reasoning TEXT,
            tool_calls TEXT,
            tool_call_id TEXT,
            is_error INTEGER NOT NULL DEFAULT 0,
            model TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost REAL,
            created TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'interrupted', 'failed')),
            error TEXT,
            UNIQUE (conversation_id, seq)
        )""",
    ):
        db.execute(sql)


def migration_2(db: sqlite3.Connection) -> None:
    """The profile (the service) and the role a conversation was held with: resuming uses them."""
    db.execute("ALTER TABLE conversations ADD COLUMN profile TEXT")
    db.execute("ALTER TABLE conversations ADD COLUMN role TEXT")


def migration_4(db: sqlite3.Connection) -> None:
    """What a reply's own response said: the model that answered is in `model` and the one asked
    for in `requested_model` when they differ; `finish_reason` is the service's (stop, length,
    tool_calls, refusal, ...), so a refusal is told from an answer."""
    db.execute("ALTER TABLE messages ADD COLUMN requested_model TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN finish_reason TEXT")


def migration_5(db: sqlite3.Connection) -> None:
    """/compact: the summary that replaces a conversation's first `compacted` messages in what
    is sent (the messages themselves stay)."""
    db.execute("ALTER TABLE conversations ADD COLUMN summary TEXT")
    db.execute("ALTER TABLE conversations ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0")


# Append the next migration here (a function taking the connection, run inside the upgrade
# transaction).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    migration_1,
    migration_2,
    parts.migration_3,  # attachments: blobs and message_parts
    migration_4,  # the model that answered, and the finish reason
    migration_5,  # /compact: the summary, and how many messages it replaces
)
SCHEMA_VERSION = len(MIGRATIONS)

FTS_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(content, reasoning, "
    "content='messages', content_rowid='id', tokenize='porter unicode61')"
)
FTS_TRIGGERS = {
    "messages_fts_insert": """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, content, reasoning)
        VALUES (new.id, new.content, new.reasoning);
    END""",
    "messages_fts_delete": """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
        VALUES ('delete', old.id, old.content, old.reasoning);
    END""",
    "messages_fts_update": """CREATE TRIGGER messages_fts_update
        AFTER UPDATE OF content, reasoning ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
        VALUES ('delete', old.id, old.content, old.reasoning);
        INSERT INTO messages_fts (rowid, content, reasoning)
        VALUES (new.id, new.content, new.reasoning);
    END""",
}

# A row is part of the conversation the model sees unless it only records a failure.
INCLUDED = (
    "(m.status = 'ok' OR m.content <> '' OR COALESCE(m.reasoning, '') <> '' "
    "OR m.tool_calls IS NOT NULL)"
)


def fts5_available(db: sqlite3.Connection) -> bool:
    """Whether the SQLite build reading the file has FTS5."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp.mlchat_fts5_probe USING fts5(x)")
        db.execute("DROP TABLE temp.mlchat_fts5_probe")
    except sqlite3.Error:
        return False
    return True
