"""Conversation integrity (issue 15): what `/clear` and `/save` leave in the store, and that
nothing a user did not ask to delete is lost. CLI runs with piped input against the emulator."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from mlchat.cli import app
from mlchat.cli.common import open_store
from mlchat.runtime import Runtime
from mlchat.store import Store
from tests.conftest import invoke
from tests.emulator import Emulator, Reply
from tests.test_e2e import child_env, mlchat


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


# -- two writers: real processes on one store file ------------------------------------------


def _ask(emulator: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mlchat("ask", *args),
        env=child_env(emulator),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


class LongChat:
    """A `chat -c` held open on a pipe, sent one line at a time."""

    def __init__(self, emulator: Emulator, *args: str) -> None:
        self.proc = subprocess.Popen(
            mlchat("chat", *args),
            env=child_env(emulator),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def say(self, line: str) -> str:
        """Send a message and wait for its (one-line) reply."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> str:
        _out, err = self.proc.communicate("/exit\n", timeout=60)
        assert self.proc.returncode == 0, err
        return err


def test_four_ask_writers_and_a_long_chat_keep_every_turn(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert _ask(emulator, "start").returncode == 0
    chat_ = LongChat(emulator, "-c")
    assert chat_.say("c0") == "echo: c0\n"
    failures: list[str] = []

    def writer(p: int) -> None:
        for i in range(10):
            done = _ask(emulator, "-c", f"p{p}-{i}")
            if done.returncode != 0 or done.stdout != f"echo: p{p}-{i}\n":
                failures.append(done.stderr)

    threads = [threading.Thread(target=writer, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for n in range(1, 5):  # the chat goes on while the others write
        assert chat_.say(f"c{n}") == f"echo: c{n}\n"
    for t in threads:
        t.join(timeout=120)
    assert chat_.say("c5") == "echo: c5\n"
    err = chat_.close()
    assert failures == [] and "warning" not in err
    s = store()
    assert len(s.conversations()) == 1
    got = contents(s, s.conversations()[0].id)
    expected = ["start"] + [f"c{n}" for n in range(6)]
    expected += [f"p{p}-{i}" for p in range(4) for i in range(10)]
    # Every question and every answer, once each; writers' rows interleave, but each answer
    # comes after its own question.
    questions = [m for m in got if not m.startswith("echo: ")]
    answers = [m for m in got if m.startswith("echo: ")]
    assert sorted(questions) == sorted(expected)
    assert sorted(answers) == sorted(f"echo: {q}" for q in expected)
    assert all(got.index(q) < got.index(f"echo: {q}") for q in expected)
    assert len(got) == 2 * len(expected) == 94


def test_undo_before_another_writers_turn_forks(env: dict[str, str], emulator: Emulator) -> None:
    assert _ask(emulator, "start").returncode == 0
    chat_ = LongChat(emulator, "-c")
    assert chat_.say("mine") == "echo: mine\n"
    assert _ask(emulator, "-c", "theirs").returncode == 0
    chat_.command("/undo")
    assert chat_.say("again") == "echo: again\n"
    err = chat_.close()
    assert "another process has written to conversation" in err
    s = store()
    old, new = sorted(s.conversations(), key=lambda c: c.created)
    assert contents(s, old.id) == [
        "start", "echo: start", "mine", "echo: mine", "theirs", "echo: theirs"
    ]  # fmt: skip
    assert contents(s, new.id) == ["start", "echo: start", "again", "echo: again"]


def test_undo_of_a_turn_after_another_writers_deletes_only_it(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert _ask(emulator, "start").returncode == 0
    chat_ = LongChat(emulator, "-c")
    assert _ask(emulator, "-c", "theirs").returncode == 0
    assert chat_.say("mine") == "echo: mine\n"
    chat_.command("/undo")
    err = chat_.close()
    assert "another process" not in err
    s = store()
    assert len(s.conversations()) == 1
    assert contents(s, s.conversations()[0].id) == [
        "start", "echo: start", "theirs", "echo: theirs"
    ]  # fmt: skip


# -- a tool round ended early ---------------------------------------------------------------


def _tool_runtime(env: dict[str, str], answer: Callable[[str], str]) -> Runtime:
    base = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
    return Runtime(
        env={**base, **env},
        stdin=io.BytesIO(b""),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_tty=True,
        stdout_tty=False,
        stderr_tty=True,
        sleep=lambda _s: None,
        read_line=answer,
    )


def _ctrl_c(prompt: str) -> str:
    raise KeyboardInterrupt


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_ctrl_c_at_the_approval_prompt_leaves_a_conversation_valid_to_send(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, api: str
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(f'[[tools]]\nname = "run_shell"\ncommand = [{json.dumps(sys.executable)}]\n')
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[
                {"id": "c1", "name": "run_shell", "arguments": "{}"},
                {"id": "c2", "name": "run_shell", "arguments": "{}"},
            ],
            finish_reason="tool_calls",
        )
    )
    rt = _tool_runtime(env, _ctrl_c)
    result = CliRunner().invoke(app, ["ask", "--api", api, "--tools", str(tools), "go"], obj=rt)
    assert result.exit_code == 130
    r = invoke(["ask", "--api", api, "-c", "next"], env=env)
    assert r.code == 0, r.err
    sent = emulator.requests[-1].json["messages"]
    if api == "openai":
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
        assert [m["tool_call_id"] for m in sent[2:4]] == ["c1", "c2"]
        assert all("cancelled by the user" in m["content"] for m in sent[2:4])
    else:
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        results = [b for b in sent[2]["content"] if b["type"] == "tool_result"]
        assert [b["tool_use_id"] for b in results] == ["c1", "c2"]
        assert all(b["is_error"] for b in results)
        assert sent[2]["content"][-1] == {"type": "text", "text": "next"}


def test_ctrl_c_at_the_approval_prompt_in_chat_says_what_happened(
    emulator: Emulator, tmp_path: Path
) -> None:
    from mlchat import tools as toolmod
    from mlchat.toolloop import ToolSession
    from mlchat.types import ToolCall
    from tests.test_repl import chat as repl_chat
    from tests.test_repl import sent

    tools = tmp_path / "tools.toml"
    tools.write_text(f'[[tools]]\nname = "run_shell"\ncommand = [{json.dumps(sys.executable)}]\n')

    def approve(call: ToolCall) -> Literal["yes", "no", "always"]:
        raise KeyboardInterrupt

    emulator.script(
        Reply.chat(
            "",
            tool_calls=[{"id": "c1", "name": "run_shell", "arguments": "{}"}],
            finish_reason="tool_calls",
        )
    )
    session = ToolSession(toolmod.load(tools), approve)
    c = repl_chat(emulator, "go", "next", tools=session, interactive=True)
    assert "the tool call was cancelled" in c.err
    assert "partial reply" not in c.err
    assert [m["role"] for m in sent(emulator)[-1]] == ["user", "assistant", "tool", "user"]


# -- a reply cut off by max_tokens ----------------------------------------------------------


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_reply_cut_off_by_the_length_limit_says_so(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(Reply.chat("the first half of", finish_reason="length"))
    r = invoke(["ask", "--api", api, "tell me"], env=env)
    assert r.code == 0
    assert r.out == "the first half of\n"
    assert "warning: the reply stopped at the max_tokens limit" in r.err
    assert "--max-tokens" in r.err
    emulator.script(Reply.chat("whole"))
    r = invoke(["ask", "--api", api, "tell me"], env=env)
    assert "max_tokens" not in r.err


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_continue_joins_the_rest_to_the_cut_off_reply(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(
        Reply.chat("the first half of", finish_reason="length"),
        Reply.chat(" the story."),
    )
    r = chat(["tell me", "/continue", "/exit"], env, "--api", api)
    assert r.code == 0, r.err
    assert "/continue asks for the rest" in r.err
    second = emulator.requests[1].json["messages"]
    assert second[-1]["role"] == "user" and "cut off" in str(second[-1]["content"])
    s = store()
    assert contents(s, s.conversations()[0].id) == ["tell me", "the first half of the story."]
    _, records = s.record(s.conversations()[0].id)
    assert [r.status for r in records] == ["ok", "ok"]
    r = chat(["and then?"], env, "-c")
    sent = [m["content"] for m in emulator.requests[-1].json["messages"]]
    assert sent[-2:] == ["the first half of the story.", "and then?"]


def test_continue_with_nothing_to_continue_is_one_line(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = chat(["/continue"], env)
    assert "nothing to continue" in r.err and emulator.requests == []


# -- a message that failed ------------------------------------------------------------------


def test_a_failed_message_goes_with_the_next_one_and_the_chat_says_so(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.error(400), Reply.chat("both answered"))
    r = chat(["first try", "second"], env)
    assert "your previous message got no reply, so it is sent again with this one" in r.err
    assert "first try" in r.err.splitlines()[-1]
    sent = [m["content"] for m in emulator.requests[-1].json["messages"]]
    assert sent == ["first try", "second"]
    s = store()
    assert contents(s, s.conversations()[0].id) == ["first try", "second", "both answered"]


def test_a_message_after_a_reply_has_no_such_note(env: dict[str, str], emulator: Emulator) -> None:
    r = chat(["one", "two"], env)
    assert "no reply" not in r.err


# -- a store that can be read but not written ------------------------------------------------


def _immutable(paths: list[Path], on: bool) -> bool:
    """chattr +i / -i: read-only even for root (for whom chmod changes nothing)."""
    try:
        done = subprocess.run(
            ["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True, timeout=10
        )
    except OSError:
        return False
    return done.returncode == 0


def test_a_read_only_store_can_be_read_and_only_writing_warns(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert chat(["alpha", "/save keep"], env).code == 0
    s = store()
    path = s.path
    s.close()
    for extra in path.parent.glob(path.name + "-*"):  # a closed store leaves none, normally
        extra.unlink()
    frozen = [path, path.parent]
    if not _immutable(frozen, True):
        pytest.skip("chattr +i is not available here")
    try:
        listed = invoke(["sessions", "list"], env=env)
        assert listed.code == 0, listed.err
        assert "keep" in listed.out
        shown = invoke(["sessions", "show", "keep"], env=env)
        assert shown.code == 0 and "alpha" in shown.out
        asked = invoke(["ask", "-c", "beta"], env=env)
        assert asked.code == 0 and asked.out == "echo: beta\n"
        assert asked.err.count("warning") == 1 and "not being saved" in asked.err
        removed = invoke(["sessions", "rm", "--yes", "keep"], env=env)
        assert removed.code == 3 and "readonly" in removed.err
    finally:
        _immutable(frozen, False)
    assert contents(store(), "keep") == ["alpha", "echo: alpha"]


# -- resuming says what it resumed ----------------------------------------------------------


def test_resuming_says_what_was_resumed(emulator: Emulator) -> None:
    from mlchat.session import Conversation
    from mlchat.types import Message
    from tests.test_repl import chat as repl_chat

    convo = Conversation(
        model="m",
        messages=[
            Message("user", "old question"),
            Message("assistant", "old answer"),
            Message("user", "how do lifetimes work?"),
            Message("assistant", "A lifetime names a scope.\nMore lines."),
        ],
        id="abcd1234",
        name="rust-notes",
    )
    c = repl_chat(emulator, convo=convo, interactive=True)
    resumed = [line for line in c.err.splitlines() if line.startswith("resumed")]
    assert resumed == [
        "resumed rust-notes: 4 messages · you: how do lifetimes work? · model: A lifetime "
        "names a scope.…"
    ]
    fresh = repl_chat(emulator, interactive=True)
    assert "resumed" not in fresh.err


# -- server numbers are checked -------------------------------------------------------------


@pytest.mark.parametrize("api", ["openai", "anthropic"])
@pytest.mark.parametrize("n", [10**25, int("9" * 400), -5], ids=["1e25", "400-digit", "negative"])
def test_a_nonsensical_usage_is_left_out_with_a_warning_and_the_reply_saved(
    env: dict[str, str], emulator: Emulator, api: str, n: int
) -> None:
    names = ("prompt_tokens", "completion_tokens") if api == "openai" else ("input_tokens",)
    usage = dict.fromkeys(names, n) | (
        {"output_tokens": 3} if api == "anthropic" else {"total_tokens": n}
    )
    emulator.script(Reply.chat("counted", usage=usage))
    r = invoke(["ask", "--api", api, "--json", "q"], env=env)
    assert r.code == 0, r.err
    doc = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert doc["text"] == "counted"
    assert r.err.count("token count that is no sane number") == 1
    emulator.script(Reply.chat("saved too", usage=usage))
    r = chat(["again"], env, "--api", api)
    assert r.code == 0 and "no sane number" in r.err
    s = store()
    assert contents(s, s.conversations()[0].id) == ["again", "saved too"]


def test_a_sane_usage_gives_no_warning(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--json", "q"], env=env)
    assert r.code == 0 and "sane" not in r.err
    assert json.loads(r.out)["usage"]["input_tokens"] > 0
