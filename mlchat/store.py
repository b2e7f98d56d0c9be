"""The conversation store: every saved conversation in one SQLite database. No terminal I/O.

Imports: the standard library (sqlite3, json, ...) and mlchat.types, errors and session.

The API used by `mlchat ask`, `mlchat sessions` and the REPL (`chat -c`, `chat --session`,
`/save`, `/load`):

    store = Store.open(path)          # StoreError: cannot be opened, corrupt, newer, not ours
    store.latest()                    # -> Conversation | None (the most recently updated)
    store.find(ref)                   # -> Conversation; ref = id, unique id prefix (>= 4) or name
    store.resolve(ref)                # -> id; UsageError when nothing or several match
    store.load_conversation(id)       # -> Conversation (the messages the model sees)
    store.create(convo)               # saves an empty conversation row, sets convo.id
    store.save_as(convo, name)        # /save NAME: create if needed, name it, set convo.name
    store.rename(id, name_or_None)    # UsageError for an invalid or already-used name
    store.delete(id)                  # the conversation and its messages
    store.conversations(limit)        # -> [Summary], most recently updated first
    store.record(id)                  # -> (Summary, [Record]): every row, for show and export
    store.search(query, limit)        # -> [Hit], FTS5 (LIKE where FTS5 is missing)
    with store.transaction() as tx:   # low-level writes, used by turnlog.StoreLog
    store.close()                     # or `with Store.open(path) as store:`

Turns are recorded by `mlchat.turnlog.StoreLog`, the `TurnLog` that never raises.

Ids are 8 random lowercase hex characters (short to type; 4 billion values, collisions retried).
Names are unique regardless of ASCII case, validated by `validate_name`.

Messages are rows with a `seq` (position) and a `status`: ok, interrupted (cut short, by Ctrl-C, a
broken stream, or a process that died while the reply was being checkpointed) or failed (with the
error text). A failed or interrupted assistant row with nothing in it is a record of what happened,
not part of the conversation the model sees (see `Record.included`). Truncation (/undo, /retry,
/edit) deletes rows: what is in the store is what the conversation is, so export stays clean.

Schema changes are ordered migrations in `MIGRATIONS`; PRAGMA user_version counts the ones
applied. Migration 2 is one more function appended to the tuple. The full-text index (FTS5, kept
in sync by triggers) is maintained outside the migrations, because it depends on the SQLite build
reading the file: a build without FTS5 drops the triggers (search falls back to LIKE), and a build
with FTS5 recreates them and rebuilds the index.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from mlchat import storeparts
from mlchat.errors import ConfigError, UsageError
from mlchat.session import Conversation, ReplyStatus
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


# -- schema ------------------------------------------------------------------------------------


def _migration_1(db: sqlite3.Connection) -> None:
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


def _migration_2(db: sqlite3.Connection) -> None:
    """The profile (the service) and the role a conversation was held with: resuming uses them."""
    db.execute("ALTER TABLE conversations ADD COLUMN profile TEXT")
    db.execute("ALTER TABLE conversations ADD COLUMN role TEXT")


# Append the next migration here (a function taking the connection, run inside the upgrade
# transaction).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migration_1,
    _migration_2,
    storeparts.migration_3,  # attachments: blobs and message_parts
)
SCHEMA_VERSION = len(MIGRATIONS)

_FTS_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(content, reasoning, "
    "content='messages', content_rowid='id', tokenize='porter unicode61')"
)
_FTS_TRIGGERS = {
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
_INCLUDED = (
    "(m.status = 'ok' OR m.content <> '' OR COALESCE(m.reasoning, '') <> '' "
    "OR m.tool_calls IS NOT NULL)"
)


# -- values ------------------------------------------------------------------------------------


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
    # text as it was sent, rebuilt from them.
    parts: tuple[Part, ...] = ()

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
    model: str | None = None
    usage: Usage | None = None
    cost: float | None = None


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


def _new_id() -> str:
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


def _calls_json(calls: Sequence[ToolCall]) -> str | None:
    if not calls:
        return None
    return json.dumps(
        [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
        ensure_ascii=False,
    )


def _calls_from_json(text: str | None) -> tuple[ToolCall, ...]:
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


def _dialect(value: Any) -> Dialect:
    return cast(Dialect, value) if value in DIALECTS else "openai"


# -- the store ---------------------------------------------------------------------------------


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    )


def _fts5_available(db: sqlite3.Connection) -> bool:
    try:
        db.execute("CREATE VIRTUAL TABLE temp.mlchat_fts5_probe USING fts5(x)")
        db.execute("DROP TABLE temp.mlchat_fts5_probe")
    except sqlite3.Error:
        return False
    return True


class Store:
    """An open conversation database. Every write is one transaction (BEGIN IMMEDIATE, so two
    processes never interleave inside one); readers never block writers (WAL)."""

    def __init__(
        self, db: sqlite3.Connection, path: Path, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.path = path
        self._clock = clock
        self.fts = False

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        readonly: bool = False,
        fts: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating if needed, owner-only) and upgrade the database at `path`.

        A file that is not an mlchat database, is corrupt, or was written by a newer mlchat raises
        StoreError and is left exactly as it was. `readonly` opens with mode=ro (nothing created,
        nothing upgraded); `fts=False` behaves as a SQLite build without FTS5 would.
        """
        path = Path(path)
        if not readonly:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if not path.exists():
                    # Conversations are private: create the file owner-only; SQLite gives the
                    # -wal and -shm files the same mode.
                    with suppress(FileExistsError):
                        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError as exc:
                raise StoreError(
                    f"cannot open the conversation store {path}: {exc.strerror or exc}"
                ) from None
        # A URI, so that mode=rw never creates a file (the owner-only one above is the only
        # creation); only these characters are special in its path.
        quoted = str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
        uri = f"file:{quoted}?mode={'ro' if readonly else 'rw'}"
        try:
            # check_same_thread off: a REPL may stream in a worker thread. The SQLite here is
            # serialized; a Store is still meant to be used by one thread at a time.
            db = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the conversation store {path}: {_reason(exc)}") from None
        store = cls(db, path, clock=clock)
        try:
            store._prepare(readonly=readonly, fts=fts)
        except BaseException:
            db.close()
            raise
        return store

    def _prepare(self, *, readonly: bool, fts: bool | None) -> None:
        db = self._db
        db.row_factory = sqlite3.Row
        with self._guard():
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA foreign_keys = ON")
            # Reading the version is the first access to the file: a corrupt or foreign file
            # fails here, before anything has been written to it. One read transaction, so a
            # store another process is creating right now is never taken for a foreign file.
            db.execute("BEGIN")
            try:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                foreign = version == 0 and self._foreign()
            finally:
                with suppress(sqlite3.Error):
                    db.execute("COMMIT")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer mlchat (schema {version}, this one "
                    f"knows {SCHEMA_VERSION})",
                    hint="upgrade mlchat; the file is left untouched",
                )
            if foreign:
                raise StoreError(
                    f"{self.path} is not an mlchat conversation store",
                    hint="mlchat leaves it untouched; move it aside to start a new store",
                )
            if readonly:
                self.fts = self._has_fts()
                return
            db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a committed turn survives the process being killed; only a
            # power cut can lose the last commits.
            db.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                self._migrate()
            self._ensure_fts(_fts5_available(db) if fts is None else fts and _fts5_available(db))

    def _foreign(self) -> bool:
        row = self._db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()
        return bool(row[0])

    def _migrate(self) -> None:
        with self.transaction():
            # Re-read inside the write lock: another process may have upgraded meanwhile.
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version == 0 and self._foreign():
                raise StoreError(f"{self.path} is not an mlchat conversation store")
            for migration in MIGRATIONS[version:]:
                migration(self._db)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _triggers(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        return {r[0] for r in rows} & set(_FTS_TRIGGERS)

    def _has_fts(self) -> bool:
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchone()
        return row is not None and self._triggers() == set(_FTS_TRIGGERS)

    def _ensure_fts(self, want: bool) -> None:
        if want == self._has_fts() and (want or not self._triggers()):
            self.fts = want
            return
        try:
            with self.transaction():
                if want:
                    self._db.execute(_FTS_TABLE)
                    for name, sql in _FTS_TRIGGERS.items():
                        if name not in self._triggers():
                            self._db.execute(sql)
                    # Messages written while the triggers were missing are indexed again.
                    self._db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
                else:
                    # Without FTS5 the triggers would make every write fail.
                    for name in self._triggers():
                        self._db.execute(f"DROP TRIGGER {name}")
        except StoreError:
            pass  # saving matters more than the index: search falls back to LIKE
        self.fts = want and self._has_fts()

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """sqlite3 errors become one StoreError that names the file and what went wrong."""
        try:
            yield
        except sqlite3.Error as exc:
            if _corrupt(exc):
                raise StoreError(
                    f"{self.path} is not a readable mlchat conversation store ({_reason(exc)})",
                    hint=f"mlchat leaves it untouched; move it aside (mv {self.path} "
                    f"{self.path}.bad) to start a new store",
                ) from None
            message = f"cannot use the conversation store {self.path}: {_reason(exc)}"
            raise StoreError(message) from None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: everything inside commits together or not at all."""
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._db, self._clock)
                self._db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one consistent state."""
        with self._guard():
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                with suppress(sqlite3.Error):
                    self._db.execute("COMMIT")

    # -- finding -------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """The id of the conversation `ref` names: an exact id, a name (ASCII case ignored), or
        a unique id prefix of at least MIN_PREFIX characters."""
        ref = ref.strip()
        if not ref:
            raise UsageError("no conversation given", hint="give an id or a name")
        low = ref.lower()
        with self._snapshot() as db:
            row = db.execute("SELECT id FROM conversations WHERE id = ?", (low,)).fetchone()
            if row is None:
                name = unicodedata.normalize("NFC", ref)
                row = db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return str(row[0])
            if len(low) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in low):
                rows = db.execute(
                    "SELECT id FROM conversations WHERE substr(id, 1, ?) = ? "
                    "ORDER BY updated DESC LIMIT 6",
                    (len(low), low),
                ).fetchall()
                if len(rows) == 1:
                    return str(rows[0][0])
                if rows:
                    ids = ", ".join(r[0] for r in rows[:5])
                    raise UsageError(
                        f"'{escape_controls(ref)}' matches several conversations: {ids}",
                        hint="type more of the id",
                    )
        raise UsageError(
            f"no saved conversation matches '{escape_controls(ref)}'",
            hint="list them with `mlchat sessions list`",
        )

    def find(self, ref: str) -> Conversation:
        return self.load_conversation(self.resolve(ref))

    def latest(self) -> Conversation | None:
        with self._guard():
            row = self._db.execute(
                "SELECT id FROM conversations ORDER BY updated DESC, rowid DESC LIMIT 1"
            ).fetchone()
        return None if row is None else self.load_conversation(str(row[0]))

    def load_conversation(self, id: str) -> Conversation:
        """The conversation as the model should see it again: failure-only rows left out."""
        summary, records = self.record(id)
        return Conversation(
            model=summary.model,
            dialect=summary.dialect,
            system=summary.system,
            params=summary.params,
            messages=[r.message() for r in records if r.included],
            id=summary.id,
            name=summary.name,
            profile=summary.profile,
            role=summary.role,
        )

    # -- reading -------------------------------------------------------------------------------

    _SUMMARY = f"""
        SELECT c.*,
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND {_INCLUDED})
                AS message_count,
            (SELECT substr(m.content, 1, 400) FROM messages m
                WHERE m.conversation_id = c.id AND m.role = 'user' ORDER BY m.seq LIMIT 1)
                AS first_user
        FROM conversations c"""

    @staticmethod
    def _summary(row: sqlite3.Row) -> Summary:
        words = " ".join((row["first_user"] or "").split())
        return Summary(
            id=row["id"],
            name=row["name"],
            created=row["created"],
            updated=row["updated"],
            model=row["model"],
            dialect=_dialect(row["dialect"]),
            system=row["system"],
            params=params_from_json(row["params"]),
            messages=int(row["message_count"]),
            title=escape_controls(words[:80]),
            profile=row["profile"],
            role=row["role"],
        )

    def conversations(self, limit: int | None = None) -> list[Summary]:
        """The most recently updated first; `limit` None or 0 means all."""
        sql = self._SUMMARY + " ORDER BY c.updated DESC, c.rowid DESC"
        args: tuple[Any, ...] = ()
        if limit:
            sql += " LIMIT ?"
            args = (limit,)
        with self._guard():
            return [self._summary(r) for r in self._db.execute(sql, args).fetchall()]

    def record(self, id: str) -> tuple[Summary, list[Record]]:
        """Everything stored about one conversation, in order (failure records included)."""
        with self._snapshot() as db:
            row = db.execute(self._SUMMARY + " WHERE c.id = ?", (id,)).fetchone()
            if row is None:
                raise UsageError(f"no saved conversation with id '{escape_controls(id)}'")
            rows = db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq", (id,)
            ).fetchall()
            parts = storeparts.read(db, id)
        return self._summary(row), [_record(r, parts.get(int(r["id"]), ())) for r in rows]

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        """Messages matching every word of `query` (a trailing * matches a prefix), best first
        with FTS5, most recent first with the LIKE fallback."""
        terms = query.split()
        if not terms:
            raise UsageError("nothing to search for")
        if self.fts:
            try:
                return self._search_fts(terms, limit)
            except StoreError:
                pass  # a query FTS5 cannot parse still gets an answer from LIKE
        return self._search_like(terms, limit)

    def _search_fts(self, terms: list[str], limit: int) -> list[Hit]:
        phrases = []
        for term in terms:
            star = term.endswith("*") and len(term) > 1
            core = term[:-1] if star else term
            phrases.append('"' + core.replace('"', '""') + '"' + ("*" if star else ""))
        sql = """
            SELECT m.conversation_id, c.name, m.seq, m.role, m.created,
                snippet(messages_fts, -1, ?, ?, '…', 16) AS snip
            FROM messages_fts
            JOIN messages m ON m.id = messages_fts.rowid
            JOIN conversations c ON c.id = m.conversation_id
            WHERE messages_fts MATCH ?
            ORDER BY rank LIMIT ?"""
        with self._guard():
            rows = self._db.execute(
                sql, (MARK_START, MARK_END, " ".join(phrases), limit)
            ).fetchall()
        return [_hit(r, r["snip"]) for r in rows]

    def _search_like(self, terms: list[str], limit: int) -> list[Hit]:
        words = [t[:-1] if t.endswith("*") and len(t) > 1 else t for t in terms]
        where, args = [], []
        for word in words:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
            where.append(
                "(m.content LIKE ? ESCAPE '\\' OR COALESCE(m.reasoning, '') LIKE ? ESCAPE '\\')"
            )
            args += [pattern, pattern]
        sql = f"""
            SELECT m.conversation_id, c.name, m.seq, m.role, m.created, m.content, m.reasoning
            FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE {" AND ".join(where)}
            ORDER BY m.created DESC LIMIT ?"""
        with self._guard():
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [_hit(r, _like_snippet(r["content"], r["reasoning"], words)) for r in rows]

    # -- changing ------------------------------------------------------------------------------

    def create(self, convo: Conversation) -> str:
        """Save `convo` as a conversation without messages; sets and returns `convo.id`."""
        with self.transaction() as tx:
            cid = tx.insert_conversation(convo)
        convo.id = cid
        return cid

    def rename(self, id: str, name: str | None) -> None:
        """Name conversation `id` (None removes the name). A name used by another conversation
        is a UsageError naming it."""
        if name is not None:
            name = validate_name(name)
        with self.transaction() as tx:
            if not tx.exists(id):
                raise UsageError(f"no saved conversation with id '{escape_controls(id)}'")
            if name is not None:
                row = tx.db.execute(
                    "SELECT id FROM conversations WHERE name = ? AND id <> ?", (name, id)
                ).fetchone()
                if row is not None:
                    raise UsageError(
                        f"the name '{name}' is already used by conversation {row[0]}",
                        hint="choose another name, or rename that one first",
                    )
            tx.db.execute(
                "UPDATE conversations SET name = ?, updated = ? WHERE id = ?",
                (name, tx.now(), id),
            )

    def save_as(self, convo: Conversation, name: str) -> None:
        """`/save NAME`: give `convo` a name, saving it first if it has never been saved."""
        name = validate_name(name)
        if convo.id is None:
            self.create(convo)
        assert convo.id is not None
        self.rename(convo.id, name)
        convo.name = name

    def delete(self, id: str) -> int:
        """Delete conversation `id` and its messages; returns how many messages went with it."""
        with self.transaction() as tx:
            if not tx.exists(id):
                raise UsageError(f"no saved conversation with id '{escape_controls(id)}'")
            count = tx.db.execute("DELETE FROM messages WHERE conversation_id = ?", (id,)).rowcount
            tx.db.execute("DELETE FROM conversations WHERE id = ?", (id,))
            storeparts.collect_garbage(tx.db)
        return int(count)


@dataclass(slots=True)
class Entry:
    """A row `Tx.entries` knows about: its id and, when it is part of the conversation, its
    message (None for a failure record)."""

    row: int
    message: Message | None


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
            cid = id or _new_id()
            try:
                self.db.execute(
                    "INSERT INTO conversations (id, name, created, updated, model, dialect, "
                    "system, params, profile, role) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            "profile = ?, role = ? WHERE id = ?",
            (
                self._stamp,
                convo.model,
                convo.dialect,
                convo.system,
                params_json(convo.params),
                convo.profile,
                convo.role,
                convo.id,
            ),
        )

    def entries(self, id: str) -> list[Entry]:
        rows = self.db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq", (id,)
        ).fetchall()
        parts = storeparts.read(self.db, id)
        out = []
        for row in rows:
            rec = _record(row, parts.get(int(row["id"]), ()))
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
            "error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                id,
                seq,
                message.role,
                storeparts.stored_content(message),
                meta.reasoning or None,
                _calls_json(message.tool_calls),
                message.tool_call_id,
                int(message.is_error),
                meta.model,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                meta.cost,
                self._stamp,
                meta.status,
                meta.error,
            ),
        )
        self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (self._stamp, id))
        row = int(cur.lastrowid or 0)
        if message.parts:
            storeparts.write(self.db, row, message.parts)
        return row

    def update_message(self, row: int, message: Message, meta: Meta) -> bool:
        """Rewrite row `row` with `message` and `meta`; False when the row no longer exists."""
        usage = meta.usage
        cur = self.db.execute(
            "UPDATE messages SET content = ?, reasoning = ?, tool_calls = ?, tool_call_id = ?, "
            "is_error = ?, model = ?, input_tokens = ?, output_tokens = ?, cost = ?, status = ?, "
            "error = ? WHERE id = ?",
            (
                storeparts.stored_content(message),
                meta.reasoning or None,
                _calls_json(message.tool_calls),
                message.tool_call_id,
                int(message.is_error),
                meta.model,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                meta.cost,
                meta.status,
                meta.error,
                row,
            ),
        )
        if message.parts and cur.rowcount > 0:
            storeparts.write(self.db, row, message.parts)
        return cur.rowcount > 0

    def delete_messages(self, rows: Sequence[int]) -> None:
        self.db.executemany("DELETE FROM messages WHERE id = ?", [(r,) for r in rows])
        if rows:
            storeparts.collect_garbage(self.db)


def _record(row: sqlite3.Row, parts: tuple[Part, ...] = ()) -> Record:
    input_tokens, output_tokens = row["input_tokens"], row["output_tokens"]
    status: ReplyStatus = row["status"] if row["status"] in STATUSES else "failed"
    content = row["content"] or ""
    if parts and row["role"] == "user":
        rebuilt = storeparts.with_parts(Message("user", content), parts)
        content, parts = rebuilt.content, rebuilt.parts
    else:
        parts = ()
    return Record(
        seq=int(row["seq"]),
        role=row["role"],
        content=content,
        reasoning=row["reasoning"] or None,
        tool_calls=_calls_from_json(row["tool_calls"]),
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
    )


def _hit(row: sqlite3.Row, snippet: str) -> Hit:
    return Hit(
        conversation=row["conversation_id"],
        name=row["name"],
        seq=int(row["seq"]),
        role=row["role"],
        created=row["created"],
        snippet=" ".join(escape_controls(snippet, keep="\n\t" + MARK_START + MARK_END).split()),
    )


def _like_snippet(content: str, reasoning: str | None, words: list[str], width: int = 60) -> str:
    """The text around the first match, each match marked, as FTS5's snippet() would."""
    for text in (content or "", reasoning or ""):
        low = text.lower()
        found = [i for w in words if (i := low.find(w.lower())) >= 0]
        if not found:
            continue
        first = min(found)
        start, end = max(0, first - width), min(len(text), first + width)
        window = text[start:end]
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        marked = pattern.sub(lambda m: MARK_START + m.group(0) + MARK_END, window)
        return ("…" if start else "") + marked + ("…" if end < len(text) else "")
    return ""
