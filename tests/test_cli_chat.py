"""`mlchat chat` wired to the store, the tools and the shared options, through the CLI with piped
input (the plain line reader) against the emulator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlchat.cli.common import open_store
from tests.conftest import invoke
from tests.emulator import Emulator, Reply


def chat(lines: list[str], env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return invoke(["chat", *args], env=env, stdin=("\n".join(lines) + "\n").encode())


def test_a_piped_chat_is_saved_turn_by_turn(env: dict[str, str], emulator: Emulator) -> None:
    r = chat(["hello", "and then?", "/exit"], env)
    assert r.code == 0, r.err
    assert r.out == "echo: hello\necho: and then?\n"
    second = emulator.requests[1].json["messages"]
    assert [m["content"] for m in second] == ["hello", "echo: hello", "and then?"]
    store = open_store(create=False)
    assert store is not None
    convo = store.latest()
    assert convo is not None
    assert [m.content for m in convo.messages] == [
        "hello",
        "echo: hello",
        "and then?",
        "echo: and then?",
    ]


def test_continue_and_session_resume(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "first question"], env=env)
    assert r.code == 0
    r = chat(["second question"], env, "-c")
    assert r.code == 0, r.err
    sent = [m["content"] for m in emulator.requests[1].json["messages"]]
    assert sent == ["first question", "echo: first question", "second question"]

    r = chat(["/save project-x", "/exit"], env, "-c")
    assert r.code == 0, r.err
    assert "saved as project-x" in r.err
    invoke(["ask", "unrelated"], env=env)  # now the latest conversation is another one
    r = chat(["third"], env, "--session", "project-x")
    assert r.code == 0, r.err
    sent = [m["content"] for m in emulator.requests[-1].json["messages"]]
    assert sent[:4] == [
        "first question",
        "echo: first question",
        "second question",
        "echo: second question",
    ]
    assert sent[-1] == "third"


def test_load_switches_conversation(env: dict[str, str], emulator: Emulator) -> None:
    chat(["about cats", "/save cats"], env)
    r = chat(["about dogs", "/load cats", "more cats"], env)
    assert r.code == 0, r.err
    assert "loaded cats" in r.err
    sent = [m["content"] for m in emulator.requests[-1].json["messages"]]
    assert sent == ["about cats", "echo: about cats", "more cats"]


def test_no_log_saves_nothing(env: dict[str, str], emulator: Emulator) -> None:
    r = chat(["secret stuff"], env, "--no-log")
    assert r.code == 0, r.err
    store = open_store(create=False)
    assert store is None or store.latest() is None


def test_continue_and_session_together_is_a_usage_error(env: dict[str, str]) -> None:
    r = chat(["hi"], env, "-c", "--session", "x")
    assert r.code == 2 and "either -c/--continue or --session" in r.err


def test_unknown_session_is_an_error(env: dict[str, str], emulator: Emulator) -> None:
    chat(["hi"], env)
    r = chat(["hello"], env, "--session", "nope-nope")
    assert r.code != 0 and "nope-nope" in r.err
    assert len(emulator.requests) == 1


def test_reasoning_flags_exclude_each_other(env: dict[str, str]) -> None:
    r = chat(["hi"], env, "--show-reasoning", "--hide-reasoning")
    assert r.code == 2 and "exclude each other" in r.err


def test_tools_in_a_chat(env: dict[str, str], emulator: Emulator, tmp_path: Path) -> None:
    script = tmp_path / "clock.py"
    script.write_text(
        "import json, sys\nargs = json.load(sys.stdin)\nprint('12:00 in ' + args['tz'])\n"
    )
    tools = tmp_path / "tools.json"
    tools.write_text(
        json.dumps(
            [
                {
                    "name": "clock",
                    "description": "The time in a time zone",
                    "command": [sys.executable, str(script)],
                    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
                }
            ]
        )
    )
    call = {"id": "call_7", "name": "clock", "arguments": '{"tz": "UTC"}'}
    emulator.script(
        Reply.chat("", tool_calls=[call], finish_reason="tool_calls"),
        Reply.chat("It is noon."),
    )
    r = chat(["/tools", "what time is it?"], env, "--tools", str(tools), "--yes")
    assert r.code == 0, r.err
    assert "clock: The time in a time zone" in r.out
    assert r.out.endswith("It is noon.\n")
    assert emulator.requests[1].json["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_7",
        "content": "12:00 in UTC\n",
    }
    store = open_store(create=False)
    assert store is not None
    convo = store.latest()
    assert convo is not None
    assert [m.role for m in convo.messages] == ["user", "assistant", "tool", "assistant"]


def test_tools_need_yes_in_a_piped_chat(env: dict[str, str], tmp_path: Path) -> None:
    tools = tmp_path / "t.json"
    tools.write_text(json.dumps([{"name": "x", "command": "true"}]))
    r = chat(["hi"], env, "--tools", str(tools))
    assert r.code == 2 and "--tools needs --yes" in r.err


def test_the_background_model_fetch_caches_the_list(
    env: dict[str, str], emulator: Emulator
) -> None:
    """What /model <Tab> runs in its thread when no list is cached: fetch, quietly, and cache."""
    import io

    from mlchat import config, models
    from mlchat.cli.chat import _fetch_models
    from mlchat.runtime import Runtime
    from tests.emulator import DEFAULT_MODELS

    s = config.resolve(config.Flags(), env, {})
    err = io.StringIO()
    _fetch_models(Runtime(env=env, stderr=err, stdin_tty=False, stderr_tty=True), s)
    ids = models.cached_ids(s.base_url, models.cache_path())
    assert sorted(ids) == sorted(m["id"] for m in DEFAULT_MODELS)
    assert err.getvalue() == ""  # nothing drawn under the prompt
    assert [r.path for r in emulator.requests] == ["/v1/models"]


def test_load_alone_lists_the_saved_conversations(env: dict[str, str], emulator: Emulator) -> None:
    assert chat(["name a sorting algorithm", "/save sorting"], env).code == 0
    assert chat(["what is a monad?"], env).code == 0
    r = chat(["/load"], env)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "saved conversations, most recent first (/load ID or NAME):"
    assert len(lines) == 3  # both, and not the (empty) chat this one is
    assert "what is a monad?" in lines[1]
    assert "sorting" in lines[2] and "2 msgs" in lines[2] and "name a sorting algorithm" in lines[2]
    picked = lines[2].split()[0]
    r = chat(["/load " + picked, "/history"], env)
    assert "loaded " + picked in r.err and "name a sorting algorithm" in r.out
