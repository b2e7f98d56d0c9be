"""`/compact [N]` in the chat: what the summarising request holds, what is sent afterwards, what
the store keeps (every original message, and the summary with its place), `sessions show`
marking where it begins, resuming a compacted chat, and `compact_at` doing it on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlchat import config
from mlchat.store import Store
from tests.conftest import invoke
from tests.emulator import Emulator
from tests.emulator import Reply as R

SUMMARY = "The user asked about one, two and three; the answers were echoes."


def text_block(t: str) -> dict[str, str]:
    return {"type": "text", "text": t}


def write_config(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def chats(emulator: Emulator) -> list[Any]:
    return [r.json for r in emulator.requests if r.path in ("/chat/completions", "/v1/messages")]


def run(env: dict[str, str], *lines: str, args: tuple[str, ...] = ()) -> Any:
    return invoke(["chat", *args], env=env, stdin="".join(f"{x}\n" for x in lines).encode())


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_compact_replaces_older_exchanges_in_what_is_sent(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(
        R.chat("echo: one"), R.chat("echo: two"), R.chat("echo: three"), R.chat(SUMMARY)
    )
    r = run(env, "one", "two", "three", "/compact 1", "four", args=("--api", api))
    assert r.code == 0, r.err
    bodies = chats(emulator)
    assert len(bodies) == 5
    # The summarising request: one user message holding the older exchanges, not streamed.
    ask = bodies[3]
    assert ask["stream"] is False
    [only] = ask["messages"]
    text = only["content"] if isinstance(only["content"], str) else only["content"][0]["text"]
    assert "User: one\n\nAssistant: echo: one\n\nUser: two\n\nAssistant: echo: two" in text
    assert "three" not in text  # the last exchange is kept as it is
    # Afterwards: the summary, then the kept exchange, then the new message.
    after = [(m["role"], m["content"]) for m in bodies[4]["messages"]]
    head = f"[Summary of the earlier conversation, made by /compact]\n\n{SUMMARY}"
    if api == "openai":
        assert after == [
            ("user", head),
            ("user", "three"),
            ("assistant", "echo: three"),
            ("user", "four"),
        ]
    else:  # the anthropic dialect joins consecutive user messages into one turn
        assert after[0] == ("user", [text_block(head), text_block("three")])
        assert after[1:] == [("assistant", "echo: three"), ("user", "four")]
    assert "compacted 4 messages into a summary" in r.err


def test_the_store_keeps_every_message_and_marks_the_summary(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(R.chat("a1"), R.chat("a2"), R.chat("a3"), R.chat(SUMMARY))
    assert run(env, "one", "two", "three", "/compact").code == 0
    from mlchat.cli.common import db_path

    store = Store.open(db_path())
    try:
        latest = store.latest()
        assert latest is not None
        assert [m.content for m in latest.messages] == ["one", "a1", "two", "a2", "three", "a3"]
        assert latest.summary == SUMMARY and latest.compacted == 2
    finally:
        store.close()
    shown = invoke(["sessions", "show"], env=env).out
    head, _, tail = shown.partition("── summary by /compact")
    assert "one" in head and "a1" in head and "two" not in head
    assert SUMMARY in tail and "two" in tail


def test_a_resumed_chat_sends_the_summary(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(R.chat("a1"), R.chat("a2"), R.chat(SUMMARY))
    assert run(env, "one", "two", "/compact 1").code == 0
    assert run(env, "three", args=("-c",)).code == 0
    contents = [m["content"] for m in chats(emulator)[-1]["messages"]]
    assert contents[0].endswith(SUMMARY)
    assert contents[1:] == ["two", "a2", "three"]


def test_nothing_to_compact(env: dict[str, str], emulator: Emulator) -> None:
    r = run(env, "one", "/compact")
    assert r.code == 2 and "nothing to compact" in r.err
    assert len(chats(emulator)) == 1


def test_a_failed_summary_changes_nothing(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(R.chat("a1"), R.chat("a2"), R.error(500, "down"), R.chat("a3"))
    r = run(env, "one", "two", "/compact 1", "three", args=("--retries", "0"))
    assert "down" in r.err
    contents = [m["content"] for m in chats(emulator)[-1]["messages"]]
    assert contents == ["one", "a1", "two", "a2", "three"]


def test_undo_past_the_summary_drops_it(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(R.chat("a1"), R.chat("a2"), R.chat(SUMMARY))
    assert run(env, "one", "two", "/compact 1", "/undo", "/undo", "again").code == 0
    contents = [m["content"] for m in chats(emulator)[-1]["messages"]]
    assert contents == ["again"]


def test_compact_at_does_it_on_its_own(env: dict[str, str], emulator: Emulator) -> None:
    write_config('compact_at = 0.5\n[models."minimax-minimax-m1"]\ncontext = 10000\n')
    usage = {"prompt_tokens": 5500, "completion_tokens": 10}
    emulator.script(R.chat("a1"), R.chat("a2"), R.chat("a3", usage=usage), R.chat(SUMMARY))
    r = run(env, "one", "two", "three", "four")
    assert r.code == 0, r.err
    assert "55% of the context window (compact_at = 0.5): compacting" in r.err
    contents = [m["content"] for m in chats(emulator)[-1]["messages"]]
    assert contents[0].endswith(SUMMARY) and contents[1:] == ["two", "a2", "three", "a3", "four"]


def test_compact_0_summarises_everything(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(R.chat("a1"), R.chat(SUMMARY))
    assert run(env, "one", "/compact 0", "two").code == 0
    contents = [m["content"] for m in chats(emulator)[-1]["messages"]]
    assert contents == [
        f"[Summary of the earlier conversation, made by /compact]\n\n{SUMMARY}",
        "two",
    ]
    shown = invoke(["sessions", "show"], env=env).out
    assert shown.index("a1") < shown.index("── summary by /compact") < shown.index("two")


def test_a_bad_compact_at_is_a_config_error(env: dict[str, str], emulator: Emulator) -> None:
    write_config("compact_at = 1.5\n")
    r = run(env, "hi")
    assert r.code == 3 and "compact_at must be a share of the context window" in r.err
    assert emulator.requests == []


def test_export_carries_the_summary_and_its_place(env: dict[str, str], emulator: Emulator) -> None:
    import json

    emulator.script(R.chat("a1"), R.chat("a2"), R.chat(SUMMARY))
    assert run(env, "one", "two", "/compact 1").code == 0
    doc = json.loads(invoke(["sessions", "export", "-f", "json"], env=env).out)
    assert doc["compact_summary"] == {"text": SUMMARY, "replaces": 2}
    assert [m["content"] for m in doc["messages"]] == ["one", "a1", "two", "a2"]
    md = invoke(["sessions", "export"], env=env).out
    mark = md.index("## Summary (/compact: sent in place of the 2 messages above)")
    assert md.index("a1") < mark < md.index(SUMMARY) < md.index("two")
