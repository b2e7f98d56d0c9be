"""`mlchat sessions list|show|export|rm|rename|search` through the CLI with an injected Runtime."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from mlchat.cli.common import db_path
from mlchat.session import Conversation, Reply
from mlchat.store import Store
from mlchat.turnlog import StoreLog
from mlchat.types import Finished, Message, Params, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from tests.conftest import invoke
from tests.emulator import Emulator


def turn(
    log: StoreLog, convo: Conversation, question: str, answer: str, reasoning: str = ""
) -> None:
    convo.add_user(question)
    log.user(convo, convo.messages[-1])
    reply = Reply()
    if reasoning:
        reply.add(ReasoningDelta(reasoning))
    reply.add(TextDelta(answer))
    reply.add(Usage(7, 3))
    reply.add(Finished("stop"))
    convo.add_reply(reply)
    log.reply(convo, convo.messages[-1], reply, status="ok")


def populate() -> tuple[str, str]:
    """Two conversations: an older named one about Rust and a newer one about Paris."""
    clock = [1_700_000_000.0]
    with Store.open(db_path(), clock=lambda: clock[0]) as store:
        log = StoreLog(store, lambda _text: None)
        rust = Conversation(model="meta-llama-3-8B-instruct", system="You are a Rust expert.")
        turn(log, rust, "How do lifetimes work?", "They bound how long references live.", "hmm")
        store.rename(rust.id or "", "rust-notes")
        clock[0] += 60
        paris = Conversation(model="minimax-minimax-m1", params=Params(temperature=0.2))
        turn(log, paris, "Capital of France?\nAnswer   briefly.", "Paris.")
    assert rust.id is not None and paris.id is not None
    return rust.id, paris.id


# -- list ----------------------------------------------------------------------------------------


def test_list_with_nothing_saved_prints_nothing_and_creates_nothing() -> None:
    r = invoke(["sessions", "list"])
    assert (r.code, r.out, r.err) == (0, "", "")
    assert invoke(["sessions", "list", "--json"]).out == "[]\n"
    assert "no saved conversations yet" in invoke(["sessions"], stdout_tty=True).err
    assert not db_path().exists()


def test_list_piped_is_one_tab_separated_line_per_conversation() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "list"])
    assert r.code == 0, r.err
    lines = [line.split("\t") for line in r.out.splitlines()]
    title = "Capital of France? Answer briefly."
    assert lines[0] == [paris, "-", "2023-11-14T22:14:20Z", "minimax-minimax-m1", "2", title]
    model, title = "meta-llama-3-8B-instruct", "How do lifetimes work?"
    assert lines[1] == [rust, "rust-notes", "2023-11-14T22:13:20Z", model, "2", title]
    assert invoke(["sessions", "list", "-n", "1"]).out.count("\n") == 1
    assert invoke(["sessions"]).out == r.out  # no subcommand: the list


def test_list_json() -> None:
    rust, paris = populate()
    doc = json.loads(invoke(["sessions", "list", "--json"]).out)
    assert [d["id"] for d in doc] == [paris, rust]
    assert doc[1] == {
        "id": rust,
        "name": "rust-notes",
        "created": "2023-11-14T22:13:20.000000Z",
        "updated": "2023-11-14T22:13:20.000000Z",
        "model": "meta-llama-3-8B-instruct",
        "dialect": "openai",
        "messages": 2,
        "title": "How do lifetimes work?",
        "profile": None,
        "role": None,
    }


def test_list_on_a_terminal_is_a_table() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "list"], stdout_tty=True, env={"NO_COLOR": "1", "COLUMNS": "100"})
    assert r.code == 0
    # NO_COLOR keeps bold (the one console factory's rule): styles only, no other escapes.
    plain = re.sub(r"\x1b\[[0-9;]*m", "", r.out)
    assert "\x1b" not in plain
    lines = plain.splitlines()
    assert lines[0].split() == ["ID", "NAME", "UPDATED", "MODEL", "MSGS", "FIRST", "WORDS"]
    assert lines[1].startswith(paris) and lines[2].startswith(rust)
    assert "rust-notes" in lines[2] and "How do lifetimes work?" in lines[2]
    assert all(len(line) <= 100 for line in lines)


def test_list_never_prints_control_characters() -> None:
    with Store.open(db_path()) as store:
        turn(StoreLog(store, print), Conversation(model="m"), "evil \x1b]0;pwned\x07 title", "x")
    out = invoke(["sessions", "list"]).out
    assert "\x1b" not in out and "\x07" not in out and "evil ^[]0;pwned^G title" in out


# -- show ----------------------------------------------------------------------------------------


def test_show_by_name_prefix_or_id_and_latest_by_default() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "show", "rust-notes"])
    assert r.code == 0, r.err
    text = r.out
    assert text.startswith(f"{rust}  rust-notes\nmeta-llama-3-8B-instruct (openai) · 2 messages")
    assert "system: You are a Rust expert.\n" in text
    assert "── user · " in text and "How do lifetimes work?\n" in text
    assert "── assistant · meta-llama-3-8B-instruct · " in text and "7 in, 3 out" in text
    assert "hmm\n\nThey bound how long references live.\n" in text
    assert invoke(["sessions", "show", rust[:5]]).out == text
    assert invoke(["sessions", "show", rust.upper()]).out == text
    assert invoke(["sessions", "show"]).out.startswith(paris)


def test_show_marks_interrupted_and_failed_replies() -> None:
    with Store.open(db_path()) as store:
        log = StoreLog(store, print)
        convo = Conversation(model="m")
        convo.add_user("q")
        log.user(convo, convo.messages[-1])
        reply = Reply()
        log.reply(convo, reply.message(), reply, status="failed", error="HTTP 402: no credits")
        reply.add(TextDelta("half an ans"))
        convo.add_reply(reply, interrupted=True)
        log.reply(convo, convo.messages[-1], reply, status="interrupted")
    out = invoke(["sessions", "show"]).out
    assert "[failed: HTTP 402: no credits]\n" in out
    assert "half an ans\n[interrupted]\n" in out


@pytest.mark.parametrize("ref", ["nope", "abc"])
def test_show_an_unknown_conversation_is_a_usage_error(ref: str) -> None:
    populate()
    r = invoke(["sessions", "show", ref])
    assert r.code == 2
    assert r.out == ""
    assert r.err.startswith(f"mlchat: error: no saved conversation matches '{ref}'")


def test_show_with_nothing_saved() -> None:
    r = invoke(["sessions", "show"])
    assert r.code == 2 and "no saved conversations yet" in r.err


# -- export --------------------------------------------------------------------------------------


def test_export_markdown() -> None:
    rust, _ = populate()
    r = invoke(["sessions", "export", "rust-notes"])
    assert r.code == 0, r.err
    assert r.out == (
        "# rust-notes\n\n"
        f"- id: `{rust}`\n"
        "- model: `meta-llama-3-8B-instruct` (openai)\n"
        "- created: 2023-11-14T22:13:20.000000Z\n"
        "- updated: 2023-11-14T22:13:20.000000Z\n\n"
        "## System\n\nYou are a Rust expert.\n\n"
        "## User\n\nHow do lifetimes work?\n\n"
        "## Assistant\n\n<details><summary>Reasoning</summary>\n\nhmm\n\n</details>\n\n"
        "They bound how long references live.\n"
    )


def test_export_markdown_fences_tool_calls_and_results() -> None:
    with Store.open(db_path()) as store:
        log = StoreLog(store, print)
        convo = Conversation(model="m")
        convo.add_user("weather?")
        log.user(convo, convo.messages[-1])
        reply = Reply()
        reply.add(ToolCallDelta(0, "call_1", "get_weather", '{"city": "Paris"}'))
        convo.add_reply(reply)
        log.reply(convo, convo.messages[-1], reply, status="ok")
        result = Message("tool", "```\n18C\n```", tool_call_id="call_1")
        convo.messages.append(result)
        log.user(convo, result)
    out = invoke(["sessions", "export", "--format", "md"]).out
    assert 'Tool call `get_weather` (`call_1`):\n\n```json\n{"city": "Paris"}\n```\n' in out
    assert "## Tool result (`call_1`)\n\n````\n```\n18C\n```\n````\n" in out


def test_export_json_has_every_field() -> None:
    rust, _ = populate()
    r = invoke(["sessions", "export", rust, "-f", "json"])
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert (doc["id"], doc["name"], doc["system"]) == (rust, "rust-notes", "You are a Rust expert.")
    assert doc["params"] == {}
    user, assistant = doc["messages"]
    assert user["role"] == "user" and user["content"] == "How do lifetimes work?"
    assert assistant == {
        "seq": 1,
        "role": "assistant",
        "content": "They bound how long references live.",
        "reasoning": "hmm",
        "tool_calls": [],
        "tool_call_id": None,
        "is_error": False,
        "model": "meta-llama-3-8B-instruct",
        "requested_model": None,
        "finish_reason": "stop",
        "usage": {"input_tokens": 7, "output_tokens": 3},
        "cost": None,
        "created": "2023-11-14T22:13:20.000000Z",
        "status": "ok",
        "error": None,
    }
    paris = json.loads(invoke(["sessions", "export", "-f", "json"]).out)
    assert paris["params"] == {"temperature": 0.2}


def test_export_to_a_file_is_atomic_and_private(isolated: Path) -> None:
    populate()
    target = isolated / "out" / "notes.md"
    target.parent.mkdir()
    target.write_text("old contents")
    r = invoke(["sessions", "export", "rust-notes", "-o", str(target)])
    # an existing file is never replaced without --force
    assert r.code == 2 and r.out == ""
    assert r.err.splitlines() == [
        f"mlchat: error: {target} exists; nothing was written",
        "hint: add --force to replace it",
    ]
    assert target.read_text() == "old contents"
    r = invoke(["sessions", "export", "rust-notes", "-o", str(target), "--force"])
    assert (r.code, r.out, r.err) == (0, "", "")  # piped: quiet
    assert target.read_text() == invoke(["sessions", "export", "rust-notes"]).out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["notes.md"]  # no temporary file left


def test_export_and_rename_say_what_they_did_on_a_terminal(isolated: Path) -> None:
    rust, _ = populate()
    target = isolated / "notes.json"
    r = invoke(
        ["sessions", "export", "rust-notes", "-f", "json", "-o", str(target)], stderr_tty=True
    )
    assert r.code == 0 and r.out == ""
    n = json.loads(target.read_text())["messages"]
    assert r.err == (
        f"mlchat: wrote conversation {rust[:8]} to {target} (JSON, {len(n)} messages)\n"
    )
    r = invoke(["sessions", "rename", "rust-notes", "borrowing"], stderr_tty=True)
    assert (r.code, r.out) == (0, "")
    assert r.err == f"mlchat: conversation {rust[:8]} is now named borrowing\n"


def test_export_errors(isolated: Path) -> None:
    populate()
    r = invoke(["sessions", "export", "-o", str(isolated / "missing" / "x.md")])
    assert r.code == 2 and "cannot write" in r.err and "No such file or directory" in r.err
    assert not (isolated / "missing").exists()
    r = invoke(["sessions", "export", "-f", "html"])
    assert r.code == 2 and "--format must be md or json, got 'html'" in r.err


# -- rm --------------------------------------------------------------------------------------------


def test_rm_refuses_without_a_terminal_or_yes() -> None:
    rust, _ = populate()
    r = invoke(["sessions", "rm", rust])
    assert r.code == 2
    assert "refusing to delete without confirmation" in r.err and "--yes" in r.err
    assert len(invoke(["sessions", "list"]).out.splitlines()) == 2


def test_rm_with_yes_deletes() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "rm", "--yes", "rust-notes"])
    assert r.code == 0
    assert r.err == f"deleted {rust}\n"
    assert invoke(["sessions", "list"]).out.startswith(paris)
    assert invoke(["sessions", "search", "lifetimes"]).out == ""


@pytest.mark.parametrize(("answer", "deleted"), [(b"y\n", True), (b"n\n", False), (b"", False)])
def test_rm_asks_on_a_terminal(answer: bytes, deleted: bool) -> None:
    rust, _ = populate()
    r = invoke(["sessions", "rm", rust], stdin=answer, stdin_tty=True, stderr_tty=True)
    assert r.code == 0
    assert f"{rust} 'rust-notes' (2 messages): How do lifetimes work?" in r.err
    assert "Delete this conversation? [y/N]" in r.err
    listed = invoke(["sessions", "list"]).out
    assert (rust not in listed) is deleted


def test_rm_checks_every_name_before_deleting_anything() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "rm", "-y", rust, "nope", paris])
    assert r.code == 2 and "nope" in r.err
    assert len(invoke(["sessions", "list"]).out.splitlines()) == 2
    assert invoke(["sessions", "rm", "-y", rust, paris]).code == 0
    assert invoke(["sessions", "list"]).out == ""


# -- rename ----------------------------------------------------------------------------------------


def test_rename() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "rename", paris[:6], "France"])
    assert (r.code, r.out, r.err) == (0, "", "")
    assert invoke(["sessions", "show", "france"]).out.startswith(f"{paris}  France\n")
    r = invoke(["sessions", "rename", "France", "rust-notes"])
    assert r.code == 2 and f"already used by conversation {rust}" in r.err


@pytest.mark.parametrize(
    ("name", "message"),
    [("a/b", "cannot contain /"), ("x" * 65, "at most 64"), ("tab\there", "control characters")],
)
def test_rename_rejects_bad_names(name: str, message: str) -> None:
    populate()
    r = invoke(["sessions", "rename", "rust-notes", name])
    assert r.code == 2 and message in r.err
    assert "rust-notes" in invoke(["sessions", "list"]).out


# -- search ----------------------------------------------------------------------------------------


def test_search_piped_and_json() -> None:
    rust, paris = populate()
    r = invoke(["sessions", "search", "references"])
    assert r.code == 0, r.err
    assert r.out == f"{rust}\trust-notes\t1\tassistant\tThey bound how long references live.\n"
    doc = json.loads(invoke(["sessions", "search", "--json", "capital", "france"]).out)
    assert [(d["conversation"], d["role"], d["seq"]) for d in doc] == [(paris, "user", 0)]
    assert doc[0]["snippet"] == "Capital of France? Answer briefly."
    nothing = invoke(["sessions", "search", "nothing-like-this"])
    assert (nothing.code, nothing.out, nothing.err) == (1, "", "")  # as grep: exit 1, quietly
    nothing = invoke(["sessions", "search", "--json", "zebra"])
    assert (nothing.code, json.loads(nothing.out)) == (1, [])


def test_search_on_a_terminal_highlights_matches() -> None:
    rust, _ = populate()
    r = invoke(["sessions", "search", "lifetimes"], stdout_tty=True, env={"FORCE_COLOR": "1"})
    assert r.code == 0
    assert f"{rust}" in r.out and "rust-notes" in r.out and "user" in r.out
    assert "\x1b[1;33mlifetimes\x1b[0m" in r.out
    r = invoke(["sessions", "search", "zebra"], stdout_tty=True)
    assert (r.code, r.err) == (1, "no matches\n")


def test_search_needs_words() -> None:
    r = invoke(["sessions", "search", "  "])
    assert r.code == 2 and "nothing to search for" in r.err


# -- the store's health --------------------------------------------------------------------------


def test_a_corrupt_store_is_a_clear_error_and_left_alone() -> None:
    path = db_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    for args in (["sessions", "list"], ["sessions", "show", "x"], ["sessions", "rm", "-y", "x"]):
        r = invoke(args)
        assert r.code == 3, args
        assert r.err.startswith(f"mlchat: error: {path} is not a readable mlchat conversation")
        assert "hint: mlchat leaves it untouched" in r.err
    assert path.read_bytes() == b"garbage" * 1000


def test_sessions_read_what_ask_saved(env: dict[str, str], emulator: Emulator) -> None:
    assert invoke(["ask", "what is two plus two"], env=env).code == 0
    r = invoke(["sessions", "search", "plus"])
    assert r.out.count("\n") == 2
    assert invoke(["sessions", "show"]).out.endswith("echo: what is two plus two\n")


def test_write_atomic_without_replace_never_clobbers(tmp_path: Path) -> None:
    from mlchat.atomic import write_atomic

    target = tmp_path / "taken.md"
    target.write_text("someone else's")
    with pytest.raises(FileExistsError):
        write_atomic(target, "ours", replace=False)
    assert target.read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.md"]  # no temporary file left
    write_atomic(tmp_path / "new.md", "ours", replace=False)
    assert (tmp_path / "new.md").read_text() == "ours"


def test_show_json_is_the_export_document() -> None:
    rust, _ = populate()
    shown = invoke(["sessions", "show", "rust-notes", "--json"])
    assert shown.code == 0, shown.err
    exported = invoke(["sessions", "export", "rust-notes", "-f", "json"])
    assert json.loads(shown.out) == json.loads(exported.out)
    assert json.loads(shown.out)["id"] == rust
