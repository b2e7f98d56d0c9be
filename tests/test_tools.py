"""Loading tool definitions and running tool commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlchat import tools
from mlchat.errors import UsageError
from mlchat.types import ToolCall

ECHO = """
import json, sys
args = json.load(sys.stdin)
if args.get("fail"):
    print("boom", file=sys.stderr)
    sys.exit(3)
if args.get("sleep"):
    import time
    time.sleep(args["sleep"])
print(json.dumps({"got": args}))
"""


@pytest.fixture
def toolfile(tmp_path: Path) -> Path:
    script = tmp_path / "echo_tool.py"
    script.write_text(ECHO)
    path = tmp_path / "tools.toml"
    path.write_text(
        f"""
# a comment
[[tools]]
name = "echo"
description = "Echo the arguments"
command = [{json.dumps(sys.executable)}, "echo_tool.py"]
timeout = 2

[tools.parameters]
type = "object"
required = ["text"]
[tools.parameters.properties.text]
type = "string"
"""
    )
    return path


def test_load_toml(toolfile: Path) -> None:
    loaded = tools.load(toolfile)
    tool = loaded["echo"]
    assert tool.spec.description == "Echo the arguments"
    assert tool.spec.parameters["required"] == ["text"]
    assert tool.timeout == 2
    assert tool.cwd == str(toolfile.parent)


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"name": "now", "command": "date -u"}]))
    loaded = tools.load(path)
    assert loaded["now"].argv == ("date", "-u")
    assert loaded["now"].spec.parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "defines no tools"),
        ("[[tools]]\nname = 'a b'\ncommand = 'x'\n", "name must be"),
        ("[[tools]]\nname = 'a'\n", "command must be"),
        ("[[tools]]\nname = 'a'\ncommand = 'x'\ntimeout = -1\n", "timeout must be"),
        ("[[tools]]\nname = 'a'\ncommand = 'x'\n[[tools]]\nname = 'a'\ncommand = 'y'\n", "twice"),
        ("[[tools]\n", "does not parse"),
    ],
)
def test_bad_files_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        tools.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read tools file"):
        tools.load(tmp_path / "nope.toml")


def call(args: str, name: str = "echo") -> ToolCall:
    return ToolCall("call_1", name, args)


def test_run_success(toolfile: Path) -> None:
    tool = tools.load(toolfile)["echo"]
    result = tools.run(tool, call('{"text": "hi"}'))
    assert not result.is_error
    assert json.loads(result.content) == {"got": {"text": "hi"}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ('{"text": ', "not valid JSON"),
        ('{"other": 1}', '$: "text" is a required property'),
        ('{"text": "x", "fail": true}', "exited with status 3: boom"),
        ('{"text": "x", "sleep": 5}', "timed out after 2 s"),
    ],
)
def test_run_failures_are_reported_not_raised(toolfile: Path, args: str, message: str) -> None:
    tool = tools.load(toolfile)["echo"]
    result = tools.run(tool, call(args))
    assert result.is_error
    assert message in result.content


def test_unknown_tool_and_missing_command(tmp_path: Path) -> None:
    assert tools.run(None, call("{}", "nope")).content.startswith("error: there is no tool")
    path = tmp_path / "t.toml"
    path.write_text("[[tools]]\nname = 'x'\ncommand = 'definitely-not-a-command-xyz'\n")
    result = tools.run(tools.load(path)["x"], call("{}", "x"))
    assert result.is_error and "could not start" in result.content


DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize(
    ("args", "parameters", "message"),
    [
        ('{"text": ' + DEEP + "}", {"type": "object"}, "nested too deeply"),
        (
            '{"n": ' + "9" * 400 + "}",
            {"properties": {"n": {"maximum": 10.5}}},
            "$.n: 999999…(400 digits) is greater than the maximum of 10.5",
        ),
        ('{"n": ' + "9" * 5000 + "}", {"type": "object"}, "not valid JSON"),
        ('{"n": 1}', {"properties": {"n": {"type": "strange"}}}, "cannot be checked"),
    ],
    ids=["3000-deep", "400-digit-vs-maximum", "5000-digit", "unusable-schema"],
)
def test_hostile_arguments_are_an_error_result(
    tmp_path: Path, args: str, parameters: dict[str, object], message: str
) -> None:
    from mlchat.types import ToolSpec

    tool = tools.Tool(ToolSpec("t", "", parameters), ("true",), 2)
    result = tools.run(tool, call(args, "t"))
    assert result.is_error
    assert message in result.content
    assert len(result.content) < 500


def test_hostile_arguments_do_not_end_the_conversation(tmp_path: Path) -> None:
    """Through `ask --tools`: the model is told, answers, and mlchat exits 0."""
    from tests.conftest import FAKE_KEY, invoke
    from tests.emulator import Emulator, Reply

    path = tmp_path / "tools.toml"
    path.write_text(
        '[[tools]]\nname = "t"\ncommand = "true"\n'
        '[tools.parameters.properties.n]\ntype = "integer"\nmaximum = 10.5\n'
    )
    with Emulator() as emu:
        emu.script(
            Reply.chat(
                "",
                tool_calls=[
                    {"id": "c1", "name": "t", "arguments": '{"n": ' + DEEP + "}"},
                    {"id": "c2", "name": "t", "arguments": '{"n": ' + "9" * 400 + "}"},
                ],
                finish_reason="tool_calls",
            ),
            Reply.chat("sorry"),
        )
        env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emu.base_url}
        r = invoke(["ask", "--tools", str(path), "-y", "go"], env=env)
        assert r.code == 0, r.err
        assert r.out == "sorry\n"
        results = emu.requests[1].json["messages"][-2:]
    assert [m["tool_call_id"] for m in results] == ["c1", "c2"]
    assert "nested too deeply" in results[0]["content"]
    assert "is greater than the maximum of 10.5" in results[1]["content"]


@pytest.mark.parametrize("timeout", ["inf", "1e308", "nan"])
def test_timeouts_past_a_day_are_refused(tmp_path: Path, timeout: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(f"[[tools]]\nname = 'a'\ncommand = 'x'\ntimeout = {timeout}\n")
    with pytest.raises(UsageError, match="timeout must be"):
        tools.load(path)
