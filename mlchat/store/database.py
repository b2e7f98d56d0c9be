"""`Store`: an open conversation database: opening (owner-only, WAL) and upgrading it, the error
guard around every query, finding, reading and changing conversations. Part of mlchat.store (its
package docstring is the API); imports the standard library, mlchat.errors, session, text and
the store's own modules.
"""

from __future__ import annotations

import os
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from mlchat.errors import UsageError
from mlchat.session import Conversation
from mlchat.store import parts, schema, search
from mlchat.store.tx import Tx
from mlchat.store.values import (
    BUSY_TIMEOUT_MS,
    MIN_PREFIX,
    Hit,
    Record,
    StoreError,
    Summary,
    dialect_of,
    params_from_json,
    record_from_row,
    validate_name,
)
from mlchat.text import escape_controls


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _unwritable(message: str) -> bool:
    """Whether an error opening the store says it cannot be written (rather than read)."""
    text = message.lower()
    words = ("readonly", "read-only", "unable to open", "attempt to write", "permission denied")
    return any(w in text for w in words)


def _corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    )


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
        nothing upgraded), and so does a store that cannot be written; `fts=False` behaves as a
        SQLite build without FTS5 would.
        """
        path = Path(path)
        if readonly:
            return cls._connect(path, "ro", fts=fts, clock=clock)
        try:
            return cls._open_rw(path, fts=fts, clock=clock)
        except StoreError as exc:
            # A store that can be read but not written (a read-only file, directory or mount)
            # is opened for reading: listing, showing and resuming work, and the first write
            # fails with one warning. Corrupt, foreign and newer files stay errors.
            if not (_unwritable(exc.message) and path.is_file()):
                raise
            for mode in ("ro", "ro&immutable=1"):  # immutable: no -shm can be created
                with suppress(StoreError):
                    return cls._connect(path, mode, fts=fts, clock=clock)
            raise

    @classmethod
    def _open_rw(cls, path: Path, *, fts: bool | None, clock: Callable[[], float]) -> Store:
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
        return cls._connect(path, "rw", fts=fts, clock=clock)

    @classmethod
    def _connect(
        cls, path: Path, mode: str, *, fts: bool | None, clock: Callable[[], float]
    ) -> Store:
        readonly = mode != "rw"
        # A URI, so that mode=rw never creates a file (the owner-only one above is the only
        # creation); only these characters are special in its path.
        quoted = str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
        uri = f"file:{quoted}?mode={mode}"
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
            if version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer mlchat (schema {version}, this one "
                    f"knows {schema.SCHEMA_VERSION})",
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
            if version < schema.SCHEMA_VERSION:
                self._migrate()
            # fts=False behaves as a build without FTS5 would (the probe is skipped).
            self._ensure_fts((fts is None or fts) and schema.fts5_available(db))

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
            for migration in schema.MIGRATIONS[version:]:
                migration(self._db)
            self._db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    def _triggers(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        return {r[0] for r in rows} & set(schema.FTS_TRIGGERS)

    def _has_fts(self) -> bool:
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'").fetchone()
        return row is not None and self._triggers() == set(schema.FTS_TRIGGERS)

    def _ensure_fts(self, want: bool) -> None:
        if want == self._has_fts() and (want or not self._triggers()):
            self.fts = want
            return
        try:
            with self.transaction():
                if want:
                    self._db.execute(schema.FTS_TABLE)
                    for name, sql in schema.FTS_TRIGGERS.items():
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
            summary=summary.summary,
            compacted=summary.compacted if summary.summary is not None else 0,
            seen_rows=frozenset(r.row for r in records),
        )

    # -- reading -------------------------------------------------------------------------------

    _SUMMARY = f"""
        SELECT c.*,
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND {schema.INCLUDED})
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
            dialect=dialect_of(row["dialect"]),
            system=row["system"],
            params=params_from_json(row["params"]),
            messages=int(row["message_count"]),
            title=escape_controls(words[:80]),
            profile=row["profile"],
            role=row["role"],
            summary=row["summary"],
            compacted=int(row["compacted"] or 0),
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
            attached = parts.read(db, id)
        records = [record_from_row(r, attached.get(int(r["id"]), ())) for r in rows]
        return self._summary(row), records

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        """Messages matching every word of `query` (a trailing * matches a prefix), best first
        with FTS5, most recent first with the LIKE fallback."""
        terms = query.split()
        if not terms:
            raise UsageError("nothing to search for")
        if self.fts:
            try:
                with self._guard():
                    return search.fts(self._db, terms, limit)
            except StoreError:
                pass  # a query FTS5 cannot parse still gets an answer from LIKE
        with self._guard():
            return search.like(self._db, terms, limit)

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
            parts.collect_garbage(tx.db)
        return int(count)
