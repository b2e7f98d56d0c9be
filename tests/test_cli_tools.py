"""Structured output (--json-mode, --schema) and tool calling (--tools) through `mlchat ask`,
against the emulator, in both dialects."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlchat.cli import app
from mlchat.cli.common import open_store
from mlchat.runtime import Runtime
from tests.conftest import Run, invoke
from tests.emulator import Emulator, Reply

TOOL_SCRIPT = """
import json, os, sys, time
args = json.load(sys.stdin)
with open(os.environ["TOOL_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if args.get("fail"):
    sys.exit("it broke")
if args.get("sleep"):
    time.sleep(args["sleep"])
print("weather in " + args["city"] + ": sunny")
"""


@pytest.fixture
def toolfile(tmp_path: Path) -> Path:
    (tmp_path / "weather.py").write_text(TOOL_SCRIPT)
    path = tmp_path / "tools.toml"
    path.write_text(
        f"""
pass_env = ["TOOL_LOG"]

[[tools]]
name = "get_weather"
description = "The weather in a city"
command = [{json.dumps(sys.executable)}, "weather.py"]
timeout = 1
[tools.parameters]
type = "object"
required = ["city"]
properties.city = {{ type = "string" }}
properties.fail = {{ type = "boolean" }}
properties.sleep = {{ type = "number" }}
"""
    )
    return path


@pytest.fixture
def tool_env(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    log = tmp_path / "tool.log"
    os.environ["TOOL_LOG"] = str(log)  # passed to the tool through the file's pass_env
    yield {**env, "TOOL_LOG": str(log)}
    os.environ.pop("TOOL_LOG", None)


def tool_runs(env: dict[str, str]) -> list[dict[str, object]]:
    path = Path(env["TOOL_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def call(args: str, ident: str = "call_1") -> dict[str, str]:
    return {"id": ident, "name": "get_weather", "arguments": args}


def tty_invoke(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[Run, list[str]]:
    """Run with stdin and stderr on a 'terminal', answering approval prompts from `answers`."""
    out, err = io.StringIO(), io.StringIO()
    asked: list[str] = []

    def read_line(prompt: str) -> str:
        asked.append(prompt)
        if not answers:
            raise EOFError
        return answers.pop(0)

    base = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
    rt = Runtime(
        env={**base, **env},
        stdin=io.BytesIO(b""),
        stdout=out,
        stderr=err,
        stdin_tty=True,
        stdout_tty=False,
        stderr_tty=True,
        sleep=lambda _s: None,
        read_line=read_line,
    )
    result = CliRunner().invoke(app, args, obj=rt)
    return Run(result.exit_code, out.getvalue(), err.getvalue() + result.stderr, rt), asked


# -- structured output -----------------------------------------------------------------------


def test_json_mode_sends_response_format_and_prints_compact(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat('{"primes": [2, 3, 5]}', chunk_size=4))
    r = invoke(["ask", "--json-mode", "three primes as JSON"], env=env)
    assert r.code == 0, r.err
    assert r.out == '{"primes": [2, 3, 5]}\n'
    assert emulator.requests[0].json["response_format"] == {"type": "json_object"}


def test_json_mode_pretty_on_a_terminal_and_fences_stripped(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat('```json\n{"a": 1}\n```'))
    r = invoke(["ask", "--json-mode", "x"], env=env, stdout_tty=True)
    assert r.code == 0, r.err
    assert r.out == '{\n  "a": 1\n}\n'


def test_json_mode_invalid_reply_exits_4(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("Sure! Here it is: {oops"))
    r = invoke(["ask", "--json-mode", "x"], env=env)
    assert r.code == 4
    assert r.out == ""
    # what the model sent is not lost: it is on stderr, before the error
    assert r.err.startswith("mlchat: the model sent:\nSure! Here it is: {oops\n")
    assert "mlchat: error: the reply is not valid JSON" in r.err


def test_a_reply_that_fails_validation_is_in_json_too(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat('{"name": "Ada", "age": -3}'), Reply.chat('{"age": 1} \x1b[31m'))
    r = invoke(["ask", "--json", "--schema", json.dumps(SCHEMA), "who?"], env=env)
    assert r.code == 4
    doc = json.loads(r.out)
    assert doc["text"] == '{"name": "Ada", "age": -3}'
    assert doc["error"]["exit_code"] == 4
    assert "does not match the schema" in doc["error"]["message"]
    r = invoke(["ask", "--schema", json.dumps(SCHEMA), "who?"], env=env)
    assert r.code == 4 and r.out == ""
    assert "\x1b" not in r.err  # shown on stderr, made harmless
    assert r.err.startswith('mlchat: the model sent:\n{"age": 1} ')


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}


def test_schema_openai_pass(env: dict[str, str], emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "person.json"
    path.write_text(json.dumps(SCHEMA))
    emulator.script(Reply.chat('{"name": "Ada", "age": 36}'))
    r = invoke(["ask", "--schema", str(path), "who?"], env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"name": "Ada", "age": 36}
    fmt = emulator.requests[0].json["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"] == SCHEMA


def test_schema_validation_failure_exits_4(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat('{"name": "Ada", "age": -3}'))
    r = invoke(["ask", "--schema", json.dumps(SCHEMA), "who?"], env=env)
    assert r.code == 4
    assert r.out == ""
    assert "does not match the schema: $.age: -3 is less than the minimum of 0" in r.err


def test_schema_anthropic_is_a_forced_tool(env: dict[str, str], emulator: Emulator) -> None:
    args = json.dumps({"name": "Ada", "age": 36})
    emulator.script(
        Reply.chat(
            "", tool_calls=[{"name": "respond", "arguments": args}], finish_reason="tool_calls"
        )
    )
    r = invoke(["ask", "--api", "anthropic", "--schema", json.dumps(SCHEMA), "who?"], env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"name": "Ada", "age": 36}
    body = emulator.requests[0].json
    assert body["tools"] == [
        {
            "name": "respond",
            "description": "Give the answer as structured data.",
            "input_schema": SCHEMA,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert "response_format" not in body


def test_rejected_response_format_suggests_the_other_mode(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.error(200, {"status": "error", "message": "Provider returned error"}))
    r = invoke(["ask", "--json-mode", "x"], env=env)
    assert r.code == 4
    assert "Provider returned error" in r.err
    assert "hint: this model may not support JSON mode" in r.err


def test_bad_schema_argument(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--schema", "{not json", "x"], env=env)
    assert r.code == 2 and "--schema is not valid JSON" in r.err
    r = invoke(["ask", "--schema", "/nonexistent/schema.json", "x"], env=env)
    assert r.code == 2 and "cannot read /nonexistent/schema.json" in r.err
    assert emulator.requests == []


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_bad_schema_is_a_usage_error_before_any_request(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, api: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"type": "object", "properties": {"age": {"type": "integr"}}}')
    cases = [
        ('{"type": "objekt"}', '$.type: "objekt" is not a type'),
        (str(path), '$.properties.age.type: "integr" is not a type'),
        ('{"type": "string", "pattern": "(("}', '$.pattern: "((" is not a "regex"'),
    ]
    for schema, message in cases:
        r = invoke(["ask", "--api", api, "--schema", schema, "x"], env=env)
        assert r.code == 2, r.err
        assert r.out == ""
        assert len(r.err.splitlines()) == 1, r.err
        assert r.err.startswith(f"mlchat: error: --schema is not a usable JSON Schema: {message}")
    assert emulator.requests == []


def test_a_reply_is_validated_against_a_hostile_pattern_in_bounded_time(
    env: dict[str, str], emulator: Emulator
) -> None:
    # ^(a+)+$ against 40 a's and a "!" takes hours with a backtracking engine (Python's re):
    # this test would hit pytest's timeout. It is answered at once, as a mismatch (exit 4).
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": "^(a+)+$"}}}
    emulator.script(Reply.chat(json.dumps({"id": "a" * 40 + "!"})))
    r = invoke(["ask", "--schema", json.dumps(schema), "id?"], env=env)
    assert r.code == 4
    assert '$.id: "aaaaaaaaaa' in r.err and 'does not match "^(a+)+$"' in r.err


# -- tools -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_a_tools_file_with_a_bad_schema_is_refused_at_load(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, command: str
) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(
        """
[[tools]]
name = "get_weather"
command = ["true"]
parameters = { type = "object", properties = { city = { type = "objekt" } } }
"""
    )
    args = [command, "--tools", str(path), "--yes"] + (["weather?"] if command == "ask" else [])
    r = invoke(args, env=env, stdin=b"weather?\n")
    assert r.code == 2, r.err
    assert r.err.startswith(
        f"mlchat: error: {path}: tool 1 (get_weather): parameters is not a usable JSON Schema: "
        '$.properties.city.type: "objekt" is not a type'
    )
    assert len(r.err.splitlines()) == 1
    assert emulator.requests == []


def test_arguments_that_break_the_schema_are_an_error_result_for_the_model(
    tool_env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "weather.py").write_text(TOOL_SCRIPT)
    path = tmp_path / "tools.toml"
    path.write_text(
        f"""
[[tools]]
name = "get_weather"
command = [{json.dumps(sys.executable)}, "weather.py"]
[tools.parameters]
type = "object"
properties.city = {{ type = "string", pattern = "^(a+)+$" }}
properties.days = {{ type = "integer", maximum = 10 }}
"""
    )
    emulator.script(
        Reply.chat(
            "", tool_calls=[call('{"days": ' + "9" * 400 + "}")], finish_reason="tool_calls"
        ),
        Reply.chat("", tool_calls=[call('{"city": "' + "a" * 40 + '!"}', "call_2")]),
        Reply.chat("Sorry."),
    )
    r = invoke(["ask", "--tools", str(path), "--yes", "weather?"], env=tool_env)
    assert r.code == 0, r.err
    assert tool_runs(tool_env) == []  # nothing ran
    messages = emulator.requests[2].json["messages"]
    first, second = messages[-3]["content"], messages[-1]["content"]
    assert first.startswith("error: the arguments do not fit the schema: $.days: 999999…(400")
    assert "is greater than the maximum of 10" in first and len(first) < 400
    assert second.startswith('error: the arguments do not fit the schema: $.city: "aaaa')


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_multi_round_tool_loop(
    tool_env: dict[str, str], emulator: Emulator, toolfile: Path, api: str, stream: bool
) -> None:
    emulator.script(
        Reply.chat(
            "Let me check. ", tool_calls=[call('{"city": "Paris"}')], finish_reason="tool_calls"
        ),
        Reply.chat("", tool_calls=[call('{"city": "Oslo"}', "call_2")], finish_reason="tool_calls"),
        Reply.chat("Paris and Oslo are sunny.", chunk_size=5),
    )
    args = ["ask", "--api", api, "--tools", str(toolfile), "--yes", "weather?"]
    r = invoke(args if stream else [*args, "--no-stream"], env=tool_env)
    assert r.code == 0, r.err
    assert r.out == "Let me check. \nParis and Oslo are sunny.\n"
    assert all(req.json["stream"] is stream for req in emulator.requests)
    assert tool_runs(tool_env) == [{"city": "Paris"}, {"city": "Oslo"}]
    assert "tool call: get_weather" in r.err
    assert len(emulator.requests) == 3
    third = emulator.requests[2].json["messages"]
    if api == "openai":
        assert emulator.requests[0].json["tools"][0]["function"]["name"] == "get_weather"
        assert third[1]["tool_calls"][0]["id"] == "call_1"
        assert third[2] == {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": "weather in Paris: sunny\n",
        }
    else:
        assert emulator.requests[0].json["tools"][0]["input_schema"]["required"] == ["city"]
        assert third[1]["content"][1]["type"] == "tool_use"
        result = third[2]["content"][0]
        assert result["type"] == "tool_result" and result["tool_use_id"] == "call_1"
        assert result["content"] == "weather in Paris: sunny\n"


def test_tools_need_yes_without_a_terminal(
    tool_env: dict[str, str], emulator: Emulator, toolfile: Path
) -> None:
    r = invoke(["ask", "--tools", str(toolfile), "weather?"], env=tool_env)
    assert r.code == 2
    assert "--tools needs --yes when not on a terminal" in r.err
    assert emulator.requests == []


def test_approval_refused_is_reported_to_the_model(
    tool_env: dict[str, str], emulator: Emulator, toolfile: Path
) -> None:
    emulator.script(
        Reply.chat("", tool_calls=[call('{"city": "Paris"}')], finish_reason="tool_calls"),
        Reply.chat("OK, I won't."),
    )
    r, asked = tty_invoke(["ask", "--tools", str(toolfile), "weather?"], tool_env, ["n"])
    assert r.code == 0, r.err
    assert tool_runs(tool_env) == []
    assert asked == ["Run get_weather? [y]es / [n]o / [a]lways / [v]iew all: "]
    tool_message = emulator.requests[1].json["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "declined" in tool_message["content"]


def test_always_approves_the_tool_for_the_session(
    tool_env: dict[str, str], emulator: Emulator, toolfile: Path
) -> None:
    emulator.script(
        Reply.chat("", tool_calls=[call('{"city": "A"}')], finish_reason="tool_calls"),
        Reply.chat("", tool_calls=[call('{"city": "B"}', "call_2")], finish_reason="tool_calls"),
        Reply.chat("done"),
    )
    r, asked = tty_invoke(["ask", "--tools", str(toolfile), "weather?"], tool_env, ["maybe", "a"])
    assert r.code == 0, r.err
    assert tool_runs(tool_env) == [{"city": "A"}, {"city": "B"}]
    assert len(asked) == 2  # the unclear answer was asked again; "a" covered the second call
    assert "answer y, n, a or v" in r.err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ('{"city": "X", "fail": true}', "exited with status 1: it broke"),
        ('{"city": "X", "sleep": 5}', "timed out after 1 s"),
        ('{"city": ', "not valid JSON"),
        ('{"town": "X"}', 'do not fit the schema: $: "city" is a required property'),
    ],
)
def test_failing_tool_calls_are_reported_to_the_model(
    tool_env: dict[str, str], emulator: Emulator, toolfile: Path, args: str, fragment: str
) -> None:
    emulator.script(
        Reply.chat("", tool_calls=[call(args)], finish_reason="tool_calls"),
        Reply.chat("Sorry."),
    )
    r = invoke(
        ["ask", "--api", "anthropic", "--tools", str(toolfile), "-y", "weather?"], env=tool_env
    )
    assert r.code == 0, r.err
    result = emulator.requests[1].json["messages"][-1]["content"][0]
    assert result["is_error"] is True
    assert fragment in result["content"]
    assert "tool get_weather failed: error: " in r.err


def test_round_limit(tool_env: dict[str, str], emulator: Emulator, toolfile: Path) -> None:
    loop = Reply.chat("", tool_calls=[call('{"city": "P"}')], finish_reason="tool_calls")
    emulator.script(loop, loop, loop)
    r = invoke(["ask", "--tools", str(toolfile), "-y", "--max-rounds", "2", "x"], env=tool_env)
    assert r.code == 4
    assert "still calling tools after 2 rounds" in r.err
    assert len(emulator.requests) == 3
    assert len(tool_runs(tool_env)) == 2


def test_json_output_and_store_keep_tool_calls(
    tool_env: dict[str, str], emulator: Emulator, toolfile: Path
) -> None:
    emulator.script(
        Reply.chat("", tool_calls=[call('{"city": "Rome"}')], finish_reason="tool_calls"),
        Reply.chat("Sunny in Rome."),
    )
    r = invoke(["ask", "--json", "--tools", str(toolfile), "-y", "weather?"], env=tool_env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["text"] == "Sunny in Rome."
    assert doc["tool_calls"] == [
        {
            "id": "call_1",
            "name": "get_weather",
            "arguments": {"city": "Rome"},
            "result": "weather in Rome: sunny\n",
            "is_error": False,
        }
    ]
    store = open_store(create=False)
    assert store is not None
    convo = store.latest()
    assert convo is not None
    roles = [m.role for m in convo.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert convo.messages[1].tool_calls[0].name == "get_weather"
    assert convo.messages[2].tool_call_id == "call_1"
    assert convo.messages[2].content == "weather in Rome: sunny\n"


def test_bad_tools_file(env: dict[str, str], emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[[tools]]\nname = 'x'\n")
    r = invoke(["ask", "--tools", str(path), "-y", "hi"], env=env)
    assert r.code == 2 and "command must be" in r.err
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ('{"n": ' + "[" * 3000 + "]" * 3000 + "}", "nested too deeply"),
        (
            '{"n": ' + "9" * 400 + "}",
            "$.n: 999999…(400 digits) is greater than the maximum of 10.5",
        ),
    ],
    ids=["3000-deep", "400-digit"],
)
def test_hostile_structured_reply_exits_4(
    env: dict[str, str], emulator: Emulator, reply: str, fragment: str
) -> None:
    emulator.script(Reply.chat(reply))
    schema = '{"type": "object", "properties": {"n": {"maximum": 10.5}}}'
    r = invoke(["ask", "--schema", schema, "n?"], env=env)
    assert r.code == 4, r.err
    assert fragment in r.err
