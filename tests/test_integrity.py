"""Conversation integrity (issue 15): what `/clear` and `/save` leave in the store, and that
nothing a user did not ask to delete is lost. CLI runs with piped input against the emulator."""

from __future__ import annotations

from mlchat.cli.common import open_store
from mlchat.store import Store
from tests.conftest import invoke
from tests.emulator import Emulator


def chat(lines: list[str], env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return invoke(["chat", *args], env=env, stdin=("\n".join(lines) + "\n").encode())


def store() -> Store:
    opened = open_store(create=False)
    assert opened is not None
    return opened


def contents(s: Store, ref: str) -> list[str]:
    return [m.content for m in s.find(ref).messages]


def test_clear_starts_a_new_conversation_and_keeps_the_saved_one(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = chat(["alpha", "/save keepme", "beta", "/clear", "gamma", "/exit"], env)
    assert r.code == 0, r.err
    assert "keepme stays saved" in r.err
    s = store()
    assert contents(s, "keepme") == ["alpha", "echo: alpha", "beta", "echo: beta"]
    summaries = s.conversations()
    assert len(summaries) == 2
    newest = summaries[0]
    assert newest.name is None
    assert contents(s, newest.id) == ["gamma", "echo: gamma"]


def test_save_under_no_log_saves_the_conversation_and_what_follows(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = chat(["alpha", "/save foo", "beta", "/exit"], env, "--no-log")
    assert r.code == 0, r.err
    assert "saved as foo: 2 messages, and every turn from now on" in r.err
    assert contents(store(), "foo") == ["alpha", "echo: alpha", "beta", "echo: beta"]


def test_no_log_without_save_still_saves_nothing(env: dict[str, str], emulator: Emulator) -> None:
    r = chat(["alpha", "/clear", "beta"], env, "--no-log")
    assert r.code == 0, r.err
    s = open_store(create=False)
    assert s is None or s.conversations() == []
