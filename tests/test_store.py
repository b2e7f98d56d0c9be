"""The conversation store and StoreLog: schema, migrations, saving every point of a turn,
truncation, search, names, concurrent writers, corrupt and unwritable databases."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlchat.errors import UsageError
from mlchat.session import Conversation, Reply
from mlchat.store import Store, StoreError, validate_name
from mlchat.store import schema as S
from mlchat.turnlog import StoreLog
from mlchat.types import Finished, Message, Params, ReasoningDelta, TextDelta, ToolCallDelta, Usage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mlchat.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store.open(db) as s:
        yield s


class Warnings(list[str]):
    def __call__(self, text: str) -> None:
        self.append(text)


def reply_of(text: str, *, reasoning: str = "", finished: bool = True) -> Reply:
    r = Reply()
    if reasoning:
        r.add(ReasoningDelta(reasoning))
    if text:
        r.add(TextDelta(text))
    r.add(Usage(3, 5))
    if finished:
        r.add(Finished("stop"))
    return r


def turn(log: StoreLog, convo: Conversation, question: str, answer: str) -> None:
    convo.add_user(question)
    log.user(convo, convo.messages[-1])
    reply = reply_of(answer)
    convo.add_reply(reply)
    log.reply(convo, convo.messages[-1], reply, status="ok")


def rows(db: Path, cid: str | None = None) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        sql = "SELECT * FROM messages"
        args: tuple[str, ...] = ()
        if cid is not None:
            sql += " WHERE conversation_id = ?"
            args = (cid,)
        return con.execute(sql + " ORDER BY conversation_id, seq", args).fetchall()
    finally:
        con.close()


# -- opening, schema, migrations -----------------------------------------------------------------


def test_open_creates_an_owner_only_wal_database_at_the_current_schema(db: Path) -> None:
    with Store.open(db):
        pass
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == S.SCHEMA_VERSION == 5
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert {"conversations", "messages", "messages_fts"} <= names
    con.close()


def test_next_migration_is_one_more_function(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(db) as s:
        log = StoreLog(s, Warnings())
        convo = Conversation(model="m")
        turn(log, convo, "kept across the upgrade", "yes")

    def add_pinned(con: sqlite3.Connection) -> None:
        con.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(S, "MIGRATIONS", (*S.MIGRATIONS, add_pinned))
    monkeypatch.setattr(S, "SCHEMA_VERSION", S.SCHEMA_VERSION + 1)
    with Store.open(db) as s:
        assert convo.id is not None
        assert s.load_conversation(convo.id).messages[0].content == "kept across the upgrade"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == S.SCHEMA_VERSION
    assert con.execute("SELECT pinned FROM conversations").fetchall() == [(0,)]
    con.close()


def test_a_version_1_store_gains_profile_and_role_and_keeps_its_conversations(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    S.migration_1(con)
    con.execute(
        "INSERT INTO conversations (id, created, updated, model, dialect) "
        "VALUES ('c0ffee00', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'm', 'openai')"
    )
    con.execute(
        "INSERT INTO messages (conversation_id, seq, role, content, created) "
        "VALUES ('c0ffee00', 1, 'user', 'from before profiles', '2026-01-01T00:00:00Z')"
    )
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with Store.open(db) as s:
        old = s.load_conversation("c0ffee00")
        assert old.messages[0].content == "from before profiles"
        assert (old.profile, old.role) == (None, None)
        new = Conversation(model="m", profile="local", role="code")
        turn(StoreLog(s, Warnings()), new, "q", "a")
        assert new.id is not None
        again = s.load_conversation(new.id)
        assert (again.profile, again.role) == ("local", "code")
        again.role = "explain"
        with s.transaction() as tx:
            tx.touch(again)
        assert s.load_conversation(new.id).role == "explain"


def test_a_version_3_store_gains_requested_model_and_finish_reason(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    for migrate in S.MIGRATIONS[:3]:
        migrate(con)
    con.execute(
        "INSERT INTO conversations (id, created, updated, model, dialect) "
        "VALUES ('c0ffee00', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'm', 'openai')"
    )
    con.execute(
        "INSERT INTO messages (conversation_id, seq, role, content, model, created) "
        "VALUES ('c0ffee00', 1, 'assistant', 'from before', 'm', '2026-01-01T00:00:00Z')"
    )
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    with Store.open(db) as s:
        _, (old,) = s.record("c0ffee00")
        assert (old.content, old.model, old.requested_model, old.finish_reason) == (
            "from before",
            "m",
            None,
            None,
        )
        convo = Conversation(model="asked")
        reply = Reply()
        for ev in (TextDelta("a"), Finished("length")):
            reply.add(ev)
        reply.model = "answered"
        log = StoreLog(s, Warnings())
        convo.add_user("q")
        log.user(convo, convo.messages[-1])
        convo.add_reply(reply)
        log.reply(convo, convo.messages[-1], reply, status="ok")
        assert convo.id is not None
        _, (_, new) = s.record(convo.id)
        assert (new.model, new.requested_model, new.finish_reason) == (
            "answered",
            "asked",
            "length",
        )


def test_a_newer_schema_is_refused_and_left_alone(db: Path) -> None:
    with Store.open(db):
        pass
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer mlchat"):
        Store.open(db)
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all\n" * 200, b"SQLite format 3\x00" + b"\xff" * 4000],
)
def test_a_corrupt_file_gives_a_clear_error_and_is_never_overwritten(
    db: Path, content: bytes
) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store.open(db)
    assert str(db) in info.value.message
    assert "not a readable mlchat conversation store" in info.value.message
    assert info.value.hint is not None and "untouched" in info.value.hint
    assert info.value.exit_code == 3
    assert db.read_bytes() == content


def test_another_programs_database_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not an mlchat conversation store"):
        Store.open(db)
    assert db.read_bytes() == before


def test_a_directory_in_the_way_cannot_be_opened(db: Path) -> None:
    db.mkdir(parents=True)
    with pytest.raises(StoreError, match="cannot open the conversation store"):
        Store.open(db)


# -- saving each point of a turn ---------------------------------------------------------------


def test_the_user_message_is_saved_before_the_reply(store: Store, db: Path) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m", system="be terse", params=Params(temperature=0.2, stop=("X",)))
    convo.add_user("question one")
    log.user(convo, convo.messages[-1])
    assert convo.id is not None and len(convo.id) == 8
    saved = rows(db, convo.id)
    assert [(r["seq"], r["role"], r["content"], r["status"]) for r in saved] == [
        (0, "user", "question one", "ok")
    ]
    loaded = store.load_conversation(convo.id)
    assert loaded.system == "be terse"
    assert loaded.params == Params(temperature=0.2, stop=("X",))
    assert loaded.messages == [Message("user", "question one")]


def test_a_finished_reply_keeps_its_metadata(db: Path) -> None:
    with Store.open(db) as store:
        log = StoreLog(store, Warnings(), cost=lambda model, usage: 0.25)
        convo = Conversation(model="some-model")
        convo.add_user("hi")
        log.user(convo, convo.messages[-1])
        reply = reply_of("hello", reasoning="thinking")
        convo.add_reply(reply)
        log.reply(convo, convo.messages[-1], reply, status="ok")
    r = rows(db)[1]
    assert (r["role"], r["content"], r["reasoning"], r["model"]) == (
        "assistant",
        "hello",
        "thinking",
        "some-model",
    )
    assert (r["input_tokens"], r["output_tokens"], r["cost"], r["status"], r["error"]) == (
        3,
        5,
        0.25,
        "ok",
        None,
    )


def test_tool_calls_round_trip(store: Store) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    convo.add_user("weather?")
    log.user(convo, convo.messages[-1])
    reply = Reply()
    reply.add(ToolCallDelta(0, "call_1", "get_weather", '{"city":'))
    reply.add(ToolCallDelta(0, arguments='"Paris"}'))
    reply.add(Finished("tool_calls"))
    convo.add_reply(reply)
    log.reply(convo, convo.messages[-1], reply, status="ok")
    result = Message("tool", "18C", tool_call_id="call_1")
    convo.messages.append(result)
    log.user(convo, result)
    assert convo.id is not None
    assert store.load_conversation(convo.id).messages == convo.messages


def test_an_interrupted_reply_is_kept_and_marked(store: Store) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    convo.add_user("tell me a story")
    log.user(convo, convo.messages[-1])
    reply = reply_of("Once upon a", finished=False)
    convo.add_reply(reply, interrupted=True)
    log.reply(convo, convo.messages[-1], reply, status="interrupted", error="the stream broke")
    assert convo.id is not None
    _, records = store.record(convo.id)
    assert [(r.status, r.content, r.error) for r in records] == [
        ("ok", "tell me a story", None),
        ("interrupted", "Once upon a", "the stream broke"),
    ]
    resumed = store.load_conversation(convo.id)
    assert resumed.messages[-1] == Message("assistant", "Once upon a", interrupted=True)


def test_a_failed_reply_is_a_record_outside_the_conversation(store: Store) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    convo.add_user("hi")
    log.user(convo, convo.messages[-1])
    reply = Reply()
    convo.add_reply(reply, interrupted=True)  # nothing arrived: not added
    log.reply(convo, reply.message(), reply, status="failed", error="HTTP 402: no credits")
    assert convo.id is not None
    summary, records = store.record(convo.id)
    assert [(r.role, r.status, r.error) for r in records] == [
        ("user", "ok", None),
        ("assistant", "failed", "HTTP 402: no credits"),
    ]
    assert summary.messages == 1
    assert store.load_conversation(convo.id).messages == [Message("user", "hi")]
    # The next turn goes on after the record, which stays as history.
    turn(log, convo, "again", "ok now")
    _, records = store.record(convo.id)
    assert [r.status for r in records] == ["ok", "failed", "ok", "ok"]
    assert store.load_conversation(convo.id).messages == convo.messages


def test_checkpoints_save_a_partial_reply_that_survives_a_crash(db: Path) -> None:
    now = [0.0]
    with Store.open(db) as store:
        log = StoreLog(store, Warnings(), clock=lambda: now[0], checkpoint_every=1.0)
        convo = Conversation(model="m")
        convo.add_user("long answer please")
        log.user(convo, convo.messages[-1])
        reply = Reply()
        for i in range(30):
            now[0] += 0.1
            reply.add(TextDelta(f"w{i} "))
            log.progress(convo, reply)
        # What a process killed now would leave, seen by another connection:
        assert convo.id is not None
        with Store.open(db) as other:
            partial = other.load_conversation(convo.id).messages[-1]
        assert partial.interrupted and partial.content.startswith("w0 w1")
        assert len(partial.content) < len(reply.text)
        # Three checkpoints in three seconds, all in one row.
        assert len(rows(db)) == 2
        reply.add(Finished("stop"))
        convo.add_reply(reply)
        log.reply(convo, convo.messages[-1], reply, status="ok")
    saved = rows(db)
    assert len(saved) == 2
    assert (saved[1]["content"], saved[1]["status"]) == (reply.text, "ok")


def test_a_checkpoint_that_is_already_complete_is_finished_in_place(db: Path) -> None:
    now = [0.0]
    with Store.open(db) as store:
        log = StoreLog(store, Warnings(), clock=lambda: now[0])
        convo = Conversation(model="m")
        convo.add_user("q")
        log.user(convo, convo.messages[-1])
        reply = reply_of("all of it", finished=False)
        now[0] = 5.0
        log.progress(convo, reply)
        convo.add_reply(reply, interrupted=True)
        log.reply(convo, convo.messages[-1], reply, status="interrupted", error=None)
    saved = rows(db)
    assert [(r["content"], r["status"], r["output_tokens"]) for r in saved] == [
        ("q", "ok", None),
        ("all of it", "interrupted", 5),
    ]


# -- truncation --------------------------------------------------------------------------------


def test_truncate_undo_retry_and_edit_leave_the_conversation_as_the_truth(
    store: Store, db: Path
) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    for i in range(3):
        turn(log, convo, f"q{i}", f"a{i}")
    assert convo.id is not None
    del convo.messages[-2:]  # /undo
    log.truncate(convo)
    assert store.load_conversation(convo.id).messages == convo.messages
    del convo.messages[-1:]  # /retry: drop the reply, ask again
    log.truncate(convo)
    reply = reply_of("a1 again")
    convo.add_reply(reply)
    log.reply(convo, convo.messages[-1], reply, status="ok")
    convo.messages[-2:] = [Message("user", "q1 edited")]  # /edit
    log.truncate(convo)
    assert [m.content for m in store.load_conversation(convo.id).messages] == [
        "q0",
        "a0",
        "q1 edited",
    ]
    assert [r["content"] for r in rows(db, convo.id)] == ["q0", "a0", "q1 edited"]
    assert [h.text for h in store.search("a2")] == []  # deleted rows leave the index too


def test_truncate_before_another_process_rows_forks(store: Store, db: Path) -> None:
    warnings = Warnings()
    a = StoreLog(store, warnings)
    convo = Conversation(model="m")
    turn(a, convo, "first", "reply")
    turn(a, convo, "mine", "reply")
    old = convo.id
    assert old is not None
    with Store.open(db) as other_store:
        b = StoreLog(other_store, Warnings())
        theirs = other_store.find(old)
        turn(b, theirs, "theirs", "their reply")
    del convo.messages[2:]  # /undo: "mine" and its reply, which "theirs" follows
    a.truncate(convo)
    assert [r["content"] for r in rows(db, old)] == [
        "first", "reply", "mine", "reply", "theirs", "their reply"
    ]  # fmt: skip
    assert convo.id is not None and convo.id != old
    assert [r["content"] for r in rows(db, convo.id)] == ["first", "reply"]
    assert rows(db, convo.id)[1]["input_tokens"] == 3  # copied whole, usage and all
    assert any(f"goes on as a new conversation {convo.id}" in w for w in warnings)
    turn(a, convo, "next", "reply")
    assert [r["content"] for r in rows(db, convo.id)][2:] == ["next", "reply"]
    assert len(rows(db, old)) == 6


def test_truncate_after_another_process_rows_deletes_only_its_own(store: Store, db: Path) -> None:
    a = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    turn(a, convo, "first", "reply")
    assert convo.id is not None
    with Store.open(db) as other_store:
        theirs = other_store.find(convo.id)
        turn(StoreLog(other_store, Warnings()), theirs, "theirs", "their reply")
    turn(a, convo, "mine", "reply")
    del convo.messages[2:]  # /undo: "mine" and its reply, written after "theirs"
    a.truncate(convo)
    assert [r["content"] for r in rows(db, convo.id)] == [
        "first", "reply", "theirs", "their reply"
    ]  # fmt: skip


def test_a_conversation_deleted_elsewhere_is_saved_again_whole(store: Store, db: Path) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    turn(log, convo, "q0", "a0")
    assert convo.id is not None
    with Store.open(db) as other:
        other.delete(convo.id)
    turn(log, convo, "q1", "a1")
    assert [m.content for m in store.load_conversation(convo.id).messages] == [
        "q0",
        "a0",
        "q1",
        "a1",
    ]


# -- an unwritable store -----------------------------------------------------------------------


def test_a_read_only_store_warns_once_and_never_raises(db: Path) -> None:
    # Tests run as root, for whom chmod changes nothing: SQLite's mode=ro refuses every write
    # the way a read-only directory or file would.
    with Store.open(db):
        pass
    warnings = Warnings()
    with Store.open(db, readonly=True) as ro:
        log = StoreLog(ro, warnings)
        convo = Conversation(model="m")
        for i in range(3):
            turn(log, convo, f"q{i}", f"a{i}")
            log.progress(convo, reply_of("x"))
        log.truncate(convo)
        assert log.failed
    assert len(warnings) == 1
    assert "readonly" in warnings[0] and "not being saved" in warnings[0]
    assert str(db) in warnings[0]
    assert rows(db) == []


def test_a_full_disk_warns_once_and_the_next_good_write_catches_up(db: Path) -> None:
    warnings = Warnings()
    with Store.open(db) as store:
        log = StoreLog(store, warnings)
        convo = Conversation(model="m")
        turn(log, convo, "before", "ok")
        con = store._db
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
        big = "x " * 50_000
        turn(log, convo, big, "lost?")
        turn(log, convo, big + "again", "lost too?")
        assert len(warnings) == 1 and "full" in warnings[0]
        con.execute("PRAGMA max_page_count = 1073741823")  # space freed
        turn(log, convo, "after", "fine")
        assert convo.id is not None
        assert store.load_conversation(convo.id).messages == convo.messages
    assert len(warnings) == 1


# -- names and finding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("a/b", "cannot contain /"),
        ("..\\x", "cannot contain /"),
        ("bell\x07", "control characters"),
        ("tab\there", "control characters"),
        ("esc\x1b[31m", "control characters"),
        ("rtl\u202eevil", "control characters"),
        ("line\u2028break", "control characters"),
        ("x" * 65, "at most 64"),
        (" padded", "start or end with a space"),
        ("..", "cannot be a conversation name"),
        ("-rf", "cannot start with '-'"),
        ("a1b2c3d4", "looks like a conversation id"),
        ("CAFE", "looks like a conversation id"),
    ],
)
def test_invalid_names(name: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "trip-plans",
        "Trip Plans 2024",
        "x" * 64,
        "café",
        "家族 👨\u200d👩\u200d👧",
        "abc",
        "a1b2c3d4e",
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


def test_names_are_normalised_to_nfc() -> None:
    assert validate_name("cafe\u0301") == "café"


def test_rename_and_find_by_id_prefix_or_name(store: Store) -> None:
    log = StoreLog(store, Warnings())
    a, b = Conversation(model="m"), Conversation(model="m")
    turn(log, a, "first", "1")
    turn(log, b, "second", "2")
    assert a.id is not None and b.id is not None
    store.rename(a.id, "Trip Plans")
    assert store.resolve(a.id) == a.id
    assert store.resolve(a.id.upper()) == a.id
    assert store.resolve(a.id[:5]) == a.id or a.id[:5] == b.id[:5]
    assert store.resolve("trip plans") == a.id  # ASCII case is ignored
    assert store.find("Trip Plans").messages[0].content == "first"
    with pytest.raises(UsageError, match="already used by conversation " + a.id):
        store.rename(b.id, "TRIP PLANS")
    with pytest.raises(UsageError, match="no saved conversation matches 'nope'"):
        store.resolve("nope")
    with pytest.raises(UsageError, match="no saved conversation matches"):
        store.resolve(a.id[:3])  # too short to be a prefix
    store.rename(a.id, None)
    assert store.record(a.id)[0].name is None


def test_an_ambiguous_prefix_lists_the_candidates(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_conversation(Conversation(model="m"), "abcd0001")
        tx.insert_conversation(Conversation(model="m"), "abcd0002")
    with pytest.raises(UsageError, match="matches several conversations") as info:
        store.resolve("abcd")
    assert "abcd0001" in info.value.message and "abcd0002" in info.value.message
    assert store.resolve("abcd0002") == "abcd0002"


def test_save_as_creates_an_unsaved_conversation(store: Store) -> None:
    convo = Conversation(model="m", system="sys")
    store.save_as(convo, "empty for now")
    assert convo.id is not None and convo.name == "empty for now"
    found = store.find("empty for now")
    assert (found.id, found.system, found.messages) == (convo.id, "sys", [])


def test_latest_is_the_most_recently_updated(db: Path) -> None:
    t = [1000.0]
    with Store.open(db, clock=lambda: t[0]) as store:
        log = StoreLog(store, Warnings())
        old, new = Conversation(model="m"), Conversation(model="m")
        turn(log, old, "old", "x")
        t[0] += 10
        turn(log, new, "new", "y")
        latest = store.latest()
        assert latest is not None and latest.id == new.id
        t[0] += 10
        turn(log, old, "old again", "z")
        latest = store.latest()
        assert latest is not None and latest.id == old.id
        assert [s.id for s in store.conversations()] == [old.id, new.id]
        assert [s.id for s in store.conversations(1)] == [old.id]


# -- search --------------------------------------------------------------------------------------


def test_search_shows_matches_in_context(store: Store) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    turn(log, convo, "How do Rust lifetimes work?", "Lifetimes describe how long references live.")
    turn(log, convo, "And borrowing?", "Borrowing means taking a reference.")
    hits = store.search("lifetimes")
    assert {h.role for h in hits} == {"user", "assistant"}
    assert all(h.conversation == convo.id for h in hits)
    user = next(h for h in hits if h.role == "user")
    assert user.parts() == [("How do Rust ", False), ("lifetimes", True), (" work?", False)]
    assert user.text == "How do Rust lifetimes work?"
    assert {h.seq for h in store.search("borrow*")} == {2, 3}
    assert {h.seq for h in store.search("borrows")} == {2, 3}  # stemmed: borrow, borrowing
    assert store.search("rust reference") == []  # every word must be in one message
    assert store.search('"unbalanced') == []  # no FTS syntax error reaches the user


@pytest.mark.parametrize("fts", [True, False])
def test_terms_with_symbols_match_literally(db: Path, fts: bool) -> None:
    """The index splits words at symbols: `c++` would be `c` (matching "-c") and `bubble_sort`
    would be "bubble sort". A term with a symbol or an underscore matches its characters."""
    with Store.open(db, fts=fts) as store:
        assert store.fts is fts
        log = StoreLog(store, Warnings())
        turn(log, Conversation(model="m"), "run gcc -c main.c", "Bubble sort is slow.")
        turn(log, Conversation(model="m"), "port this to C++ please", "def bubble_sort(xs): ...")
        turn(log, Conversation(model="m"), "use std::sort in C++", "sorting with std::sort works")
        assert sorted(h.text for h in store.search("c++")) == [
            "port this to C++ please",
            "use std::sort in C++",
        ]
        assert [h.text for h in store.search("bubble_sort")] == ["def bubble_sort(xs): ..."]
        assert sorted(h.text for h in store.search("std::sort")) == [
            "sorting with std::sort works",
            "use std::sort in C++",
        ]
        # a literal term and a word together: both must match one message
        assert [h.text for h in store.search("works std::sort")] == ["sorting with std::sort works"]
        hit = store.search("bubble_sort")[0]
        assert ("bubble_sort", True) in hit.parts()
        assert store.search("-c") != [] and all("-c" in h.text for h in store.search("-c"))


def test_search_falls_back_to_like_and_the_index_is_rebuilt(db: Path) -> None:
    with Store.open(db) as store:
        turn(StoreLog(store, Warnings()), Conversation(model="m"), "alpha beta", "gamma")
    with Store.open(db, fts=False) as store:
        assert not store.fts
        turn(StoreLog(store, Warnings()), Conversation(model="m"), "written without fts", "ok")
        hits = store.search("without")
        assert [h.text for h in hits] == ["written without fts"]
        assert hits[0].parts() == [("written ", False), ("without", True), (" fts", False)]
        assert [h.text for h in store.search("ALPHA")] == ["alpha beta"]
    with Store.open(db) as store:
        assert store.fts
        assert [h.text for h in store.search("without")] == ["written without fts"]


def test_delete_removes_the_conversation_its_messages_and_its_index(store: Store, db: Path) -> None:
    log = StoreLog(store, Warnings())
    convo = Conversation(model="m")
    turn(log, convo, "secret plans", "ok")
    assert convo.id is not None
    assert store.delete(convo.id) == 2
    assert rows(db) == [] and store.search("secret") == [] and store.latest() is None
    with pytest.raises(UsageError):
        store.delete(convo.id)


# -- two writers -------------------------------------------------------------------------------


def test_two_connections_interleaving_writes_lose_nothing(db: Path) -> None:
    with Store.open(db) as one, Store.open(db) as two:
        a, b = StoreLog(one, Warnings()), StoreLog(two, Warnings())
        ca, cb = Conversation(model="m"), Conversation(model="m")
        for i in range(20):
            turn(a, ca, f"a{i}", f"ra{i}")
            turn(b, cb, f"b{i}", f"rb{i}")
        assert ca.id is not None and cb.id is not None
        assert one.load_conversation(cb.id).messages == cb.messages
        assert two.load_conversation(ca.id).messages == ca.messages


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mlchat.session import Conversation, Reply
    from mlchat.store import Store
    from mlchat.turnlog import StoreLog
    from mlchat.types import Finished, TextDelta

    warnings = []
    with Store.open(sys.argv[1]) as store:
        print("ready", flush=True)
        while not Path(sys.argv[4]).exists():  # both start writing at the same moment
            time.sleep(0.002)
        log = StoreLog(store, warnings.append)
        convo = Conversation(model="m")
        for i in range(int(sys.argv[3])):
            convo.add_user(f"{sys.argv[2]} question {i}")
            log.user(convo, convo.messages[-1])
            reply = Reply()
            reply.add(TextDelta(f"{sys.argv[2]} answer {i}"))
            reply.add(Finished("stop"))
            convo.add_reply(reply)
            log.reply(convo, convo.messages[-1], reply, status="ok")
            time.sleep(0.001)  # let the other writer in, as the pace of a real chat would
    print(convo.id, len(warnings))
    """
)


def test_two_processes_writing_at_once_lose_nothing(db: Path, tmp_path: Path) -> None:
    with Store.open(db):
        pass
    turns, go = 100, tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), who, str(turns), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("left", "right")
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        cid, warned = out.split()
        assert warned == "0"
        results.append(cid)
    with Store.open(db) as store:
        for cid, who in zip(results, ("left", "right"), strict=True):
            messages = store.load_conversation(cid).messages
            questions = [m.content for m in messages[::2]]
            assert questions == [f"{who} question {i}" for i in range(turns)]
            assert len(messages) == 2 * turns
    ids = {cid: [r["id"] for r in rows(db, cid)] for cid in results}
    left, right = ids.values()
    assert min(max(left), max(right)) > max(min(left), min(right)), "the writes did not overlap"
