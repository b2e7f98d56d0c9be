"""`mlchat ask` saving its turn: once the request has left (or failed to), when the reply ends,
is cut short, or fails; `ask -c`; `--no-log` and `log = false`; a store that cannot be used never
stops the answer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from mlchat.cli.common import db_path
from mlchat.store import Record, Store, StoreError
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply
from tests.rawserver import free_port
from tests.test_e2e import child_env, mlchat


def saved(*, readonly: bool = False) -> list[tuple[str, list[Record]]]:
    """Every saved conversation, oldest first, with all its rows."""
    with Store.open(db_path(), readonly=readonly) as store:
        out = []
        for summary in reversed(store.conversations()):
            out.append((summary.id, store.record(summary.id)[1]))
        return out


def write_config(isolated: Path, text: str) -> None:
    path = isolated / "xdg" / "xdg_config_home" / "mlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_finished_turn_is_saved(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("Paris.", reasoning="easy"))
    r = invoke(["ask", "-s", "be terse", "-t", "0.3", "capital of France?"], env=env)
    assert r.code == 0, r.err
    assert r.err == ""
    [(cid, records)] = saved()
    assert [(x.role, x.content, x.status) for x in records] == [
        ("user", "capital of France?", "ok"),
        ("assistant", "Paris.", "ok"),
    ]
    assert records[1].reasoning == "easy"
    assert records[1].model == "minimax-minimax-m1"
    assert records[1].usage is not None and records[1].usage.output_tokens == 2
    with Store.open(db_path()) as store:
        convo = store.load_conversation(cid)
    assert (convo.system, convo.params.temperature) == ("be terse", 0.3)


def test_a_failed_request_keeps_the_question_and_the_error(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.error(402))
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 4
    [(_, records)] = saved()
    assert [(x.role, x.status) for x in records] == [("user", "ok"), ("assistant", "failed")]
    assert records[1].content == ""
    assert records[1].error is not None and "Insufficient credits" in records[1].error


def test_a_request_that_never_leaves_keeps_the_question(env: dict[str, str]) -> None:
    # Nothing listens: the request is never sent, and the question is saved all the same.
    url = f"http://127.0.0.1:{free_port()}/api/v7/llm"
    r = invoke(["ask", "--retries", "0", "hi there"], env={**env, "MODELSLAB_BASE_URL": url})
    assert r.code == 6
    [(_, records)] = saved()
    assert [(x.role, x.content, x.status) for x in records] == [
        ("user", "hi there", "ok"),
        ("assistant", "", "failed"),
    ]


def test_an_incomplete_stream_is_saved_as_interrupted(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat("one two three four five", drop_after=3))
    r = invoke(["ask", "count"], env=env)
    assert r.code == 6
    [(_, records)] = saved()
    reply = records[1]
    assert reply.status == "interrupted"
    assert reply.content and "one two three four five".startswith(reply.content)
    assert r.out.startswith(reply.content)
    assert reply.error is not None and "before the reply was complete" in reply.error


def test_without_a_key_nothing_is_sent_and_nothing_saved(emulator: Emulator) -> None:
    r = invoke(["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3
    assert emulator.requests == []
    assert saved() == []


def test_the_key_never_reaches_the_store(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(400, {"status": "error", "message": f"bad key {FAKE_KEY}"}))
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 4
    assert FAKE_KEY not in r.err
    assert FAKE_KEY.encode() not in db_path().read_bytes()
    [(_, records)] = saved()
    assert records[1].error is not None and "bad key" in records[1].error


def test_ask_continue_adds_a_turn_to_the_latest_conversation(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert invoke(["ask", "--api", "anthropic", "-s", "sys", "first"], env=env).code == 0
    assert invoke(["ask", "-m", "other-model", "unrelated"], env=env).code == 0
    emulator.requests.clear()
    # The latest conversation ("unrelated") goes on with its own model...
    r = invoke(["ask", "-c", "more"], env=env)
    assert r.code == 0, r.err
    body = emulator.requests[0].json
    assert body["model"] == "other-model"
    assert [m["content"] for m in body["messages"]] == ["unrelated", "echo: unrelated", "more"]
    first, second = saved()
    assert len(first[1]) == 2 and [x.content for x in second[1]][-1] == "echo: more"


def test_ask_continue_keeps_the_conversations_dialect_and_system(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert invoke(["ask", "--api", "anthropic", "-s", "sys", "first"], env=env).code == 0
    r = invoke(["ask", "--continue", "--max-tokens", "64", "second"], env=env)
    assert r.code == 0, r.err
    req = emulator.requests[-1]
    assert req.path == "/v1/messages"
    assert req.json["system"] == "sys"
    assert req.json["max_tokens"] == 64
    assert [m["role"] for m in req.json["messages"]] == ["user", "assistant", "user"]
    [(_, records)] = saved()
    assert len(records) == 4


def test_ask_continue_with_nothing_saved_starts_a_new_conversation(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = invoke(["ask", "-c", "hello"], env=env)
    assert r.code == 0
    assert "no saved conversation to continue" in r.err
    assert len(saved()) == 1


def test_no_log_saves_nothing_but_can_continue(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--no-log", "hi"], env=env)
    assert r.code == 0
    assert not db_path().exists()
    assert invoke(["ask", "first"], env=env).code == 0
    r = invoke(["ask", "-c", "--no-log", "second"], env=env)
    assert r.code == 0
    assert len(emulator.requests[-1].json["messages"]) == 3
    [(_, records)] = saved()
    assert len(records) == 2


def test_config_log_false_turns_logging_off(
    env: dict[str, str], emulator: Emulator, isolated: Path
) -> None:
    write_config(isolated, "log = false\n")
    assert invoke(["ask", "hi"], env=env).code == 0
    assert not db_path().exists()
    write_config(isolated, 'log = "sometimes"\n')
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 3
    assert "log must be true or false" in r.err


def test_a_corrupt_store_warns_and_the_answer_still_comes(
    env: dict[str, str], emulator: Emulator
) -> None:
    path = db_path()
    path.parent.mkdir(parents=True)
    garbage = b"definitely not sqlite\n" * 100
    path.write_bytes(garbage)
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0
    assert r.out == "echo: hi\n"
    assert "mlchat: warning:" in r.err and "not a readable mlchat conversation store" in r.err
    assert "will not be saved" in r.err and "hint:" in r.err
    assert path.read_bytes() == garbage
    # Continuing needs the store: a clear error, exit 3, the file still untouched.
    r = invoke(["ask", "-c", "hi"], env=env)
    assert r.code == 3
    assert r.err.startswith("mlchat: error:") and "not a readable" in r.err
    assert emulator.requests[-1].json["messages"][-1]["content"] == "hi"
    assert path.read_bytes() == garbage


def test_an_unopenable_store_warns_and_the_answer_still_comes(
    env: dict[str, str], emulator: Emulator
) -> None:
    db_path().mkdir(parents=True)  # something that is not a file is in the way
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0
    assert r.out == "echo: hi\n"
    assert r.err.count("mlchat: warning:") == 1
    assert "cannot open the conversation store" in r.err


def test_json_output_is_unchanged_by_logging(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--json", "hi"], env=env)
    assert r.code == 0
    assert json.loads(r.out)["text"] == "echo: hi"
    assert len(saved()) == 1


# -- real processes: Ctrl-C and kill -9 ----------------------------------------------------------


def test_ctrl_c_mid_reply_saves_what_arrived(emulator: Emulator) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    emulator.script(Reply.chat(words, chunk_size=3, delay=0.05))
    proc = subprocess.Popen(
        mlchat("ask", "count"),
        env=child_env(emulator),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = proc.stdout.read(6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    shown = (first + out).decode().rstrip("\n")
    [(_, records)] = saved()
    assert [(x.role, x.status) for x in records] == [("user", "ok"), ("assistant", "interrupted")]
    # Everything shown is saved (a delta is kept before it is drawn, so at most one more).
    assert records[1].content.startswith(shown) and len(records[1].content) - len(shown) <= 3
    assert records[1].error is None


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def saved_by_child() -> list[int] | None:
    """Row counts of the saved conversations; None while the child is still creating the store."""
    if not db_path().exists():
        return None
    try:
        return [len(records) for _, records in saved(readonly=True)]
    except StoreError:
        return None


def test_the_question_is_saved_while_the_request_is_in_flight_and_survives_kill_9(
    emulator: Emulator,
) -> None:
    # Saved as soon as the request has left (not before: the store's work overlaps the model's),
    # so a reply that never comes still leaves the question.
    emulator.script(Reply.hang(10))
    proc = subprocess.Popen(
        mlchat("ask", "are you there?"),
        env=child_env(emulator),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: emulator.requests)
        # Polled read-only, and only once the child has made the store: a writable open here
        # would race the child's own creation and migration of the file.
        wait_for(lambda: saved_by_child() == [1])  # still in flight
        [(_, records)] = saved(readonly=True)
        assert [(x.role, x.content) for x in records] == [("user", "are you there?")]
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
    emulator.stop()
    [(_, records)] = saved()
    assert [(x.role, x.content) for x in records] == [("user", "are you there?")]


def test_kill_9_mid_reply_loses_at_most_the_last_second(emulator: Emulator) -> None:
    words = " ".join(f"w{i}" for i in range(400))
    emulator.script(Reply.chat(words, chunk_size=4, delay=0.02))
    proc = subprocess.Popen(
        mlchat("ask", "count"),
        env=child_env(emulator),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    shown = b""
    started = None
    while started is None or time.monotonic() - started < 1.4:
        chunk = proc.stdout.read()
        if chunk:
            shown += chunk
            started = started or time.monotonic()
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=10)
    [(_, records)] = saved()
    assert [(x.role, x.status) for x in records] == [("user", "ok"), ("assistant", "interrupted")]
    partial = records[1].content
    assert partial and shown.decode().startswith(partial)
    assert len(partial) >= 10
