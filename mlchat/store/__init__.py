"""The conversation store: every saved conversation in one SQLite database. No terminal I/O, and
no SQL anywhere else in mlchat. Imports the standard library (sqlite3, json, ...) and
mlchat.types, errors, session and text.

The modules, by job:

    database  `Store`: opening, upgrading, the error guard, finding, reading, changing
    tx        `Tx`: the writes inside one transaction (used by turnlog.StoreLog)
    schema    the ordered migrations and the FTS5 table and triggers
    search    FTS5 queries and the LIKE fallback
    values    Summary, Record, Hit, Meta, Entry; names, ids, times and the JSON columns
    parts     attachments: content-addressed blobs and the parts of a user message

The API used by `mlchat ask`, `mlchat sessions` and the REPL (`chat -c`, `chat --session`,
`/save`, `/load`), all importable from `mlchat.store`:

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
/edit) deletes rows: what is in the store is what the conversation is, so export stays clean. A
writer deletes only rows it has seen (loaded, `Conversation.seen_rows`, or written), and forks the
conversation (`Tx.copy_message`) when another writer's rows follow the ones it would delete
(`Tx.written_after`); appends from several writers interleave.

Schema changes are ordered migrations in `schema.MIGRATIONS`; PRAGMA user_version counts the ones
applied. The next migration is one more function appended to the tuple. The full-text index (FTS5,
kept in sync by triggers) is maintained outside the migrations, because it depends on the SQLite
build reading the file: a build without FTS5 drops the triggers (search falls back to LIKE), and a
build with FTS5 recreates them and rebuilds the index.
"""

from mlchat.store.database import Store
from mlchat.store.tx import Tx
from mlchat.store.values import (
    DB_NAME,
    MARK_END,
    MARK_START,
    NAME_MAX,
    Entry,
    Hit,
    Meta,
    Record,
    StoreError,
    Summary,
    iso,
    params_from_json,
    params_json,
    parse_time,
    validate_name,
)

__all__ = [
    "DB_NAME",
    "MARK_END",
    "MARK_START",
    "NAME_MAX",
    "Entry",
    "Hit",
    "Meta",
    "Record",
    "Store",
    "StoreError",
    "Summary",
    "Tx",
    "iso",
    "params_from_json",
    "params_json",
    "parse_time",
    "validate_name",
]
