"""Wire fidelity through the real CLI against the emulator: refusals, tools the service runs itself,
broken block protocol, tool arguments that are not JSON. Each test checks the exit code, the one
line on stderr, and what stdout and `--json` carry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlchat.errors import EXIT_NETWORK, EXIT_REFUSED
from tests.conftest import invoke
from tests.emulator import Emulator, Reply

APIS = ["openai", "anthropic"]
REFUSAL = "I can't help with that."


def named(name: str, body: dict[str, object]) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **body})}\n\n"


MESSAGE_START = named("message_start", {"message": {"id": "m", "content": [], "model": "x"}})
TEXT_START = named("content_block_start", {"index": 0, "content_block": {"type": "text"}})


def text_delta(text: str, index: int = 0) -> str:
    return named(
        "content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": text}}
    )


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("api", APIS)
def test_refusal_is_the_reply_with_its_own_exit_status(
    env: dict[str, str], emulator: Emulator, api: str, stream: bool
) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL, chunk_size=4))
    args = ["ask", "--api", api, "how do I pick a lock"] + ([] if stream else ["--no-stream"])
    r = invoke(args, env=env)
    assert r.code == EXIT_REFUSED == 7
    assert r.out == REFUSAL + "\n"
    assert r.err == "mlchat: error: the model refused to answer\n"


@pytest.mark.parametrize("api", APIS)
def test_refusal_in_json(env: dict[str, str], emulator: Emulator, api: str) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL, chunk_size=4))
    r = invoke(["ask", "--api", api, "--json", "pick a lock"], env=env)
    assert r.code == EXIT_REFUSED
    doc = json.loads(r.out)
    assert doc["refusal"] == REFUSAL
    assert doc["finish_reason"] == "refusal"
    assert doc["text"] == REFUSAL
    assert "error" not in doc


def test_an_answer_has_no_refusal(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--json", "hi"], env=env)
    assert r.code == 0
    doc = json.loads(r.out)
    assert doc["refusal"] is None and doc["finish_reason"] == "stop"


def test_refusal_is_saved(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL))
    assert invoke(["ask", "pick a lock"], env=env).code == EXIT_REFUSED
    r = invoke(["sessions", "show"], env=env)
    assert r.code == 0, r.err
    assert REFUSAL in r.out


def test_refusal_with_a_schema_is_not_a_schema_error(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL))
    r = invoke(["ask", "--json-mode", "pick a lock"], env=env)
    assert r.code == EXIT_REFUSED
    assert r.out == REFUSAL + "\n"


# -- tools the service runs itself -------------------------------------------------------------

SEARCH = {
    "name": "web_search",
    "input": {"query": "weather in Paris"},
    "result": [{"type": "web_search_result", "url": "https://example.com", "title": "Paris"}],
}


@pytest.mark.parametrize("stream", [True, False])
def test_server_tool_is_shown_in_one_line_and_never_a_local_call(
    env: dict[str, str], emulator: Emulator, stream: bool
) -> None:
    emulator.script(Reply.chat("Sunny.", server_tools=[SEARCH], chunk_size=5))
    args = ["ask", "--api", "anthropic", "weather?"] + ([] if stream else ["--no-stream"])
    r = invoke(args, env=env)
    assert r.code == 0, r.err
    assert r.out == "Sunny.\n"
    assert r.err == "mlchat: searched the web: weather in Paris\n"


@pytest.mark.parametrize("stream", [True, False])
def test_server_tool_in_json_apart_from_tool_calls(
    env: dict[str, str], emulator: Emulator, stream: bool
) -> None:
    emulator.script(Reply.chat("Sunny.", server_tools=[SEARCH], chunk_size=5))
    args = ["ask", "--api", "anthropic", "--json", "weather?"]
    r = invoke(args + ([] if stream else ["--no-stream"]), env=env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["tool_calls"] == []
    use, result = doc["server_tools"]
    assert use == {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "weather in Paris"},
    }
    assert result["type"] == "web_search_tool_result"
    assert result["content"][0]["url"] == "https://example.com"


def test_server_tool_with_tools_runs_nothing_and_sends_nothing_back(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "mark.py").write_text(f"open({str(marker)!r}, 'w')\n")
    tools = tmp_path / "tools.toml"
    tools.write_text(
        f"""
[[tools]]
name = "web_search"
description = "never to be run"
command = [{json.dumps(sys.executable)}, {json.dumps(str(tmp_path / "mark.py"))}]
[tools.parameters]
type = "object"
"""
    )
    emulator.script(Reply.chat("Sunny.", server_tools=[SEARCH]), Reply.chat("second round"))
    r = invoke(["ask", "--api", "anthropic", "--tools", str(tools), "-y", "weather?"], env=env)
    assert r.code == 0, r.err
    assert r.out == "Sunny.\n"
    assert len(emulator.requests) == 1  # no invented tool_use / tool_result round
    assert not marker.exists()
    # The next turn leaves the server blocks out, consistently: only the text goes back.
    r = invoke(["ask", "--api", "anthropic", "-c", "and tomorrow?"], env=env)
    assert r.code == 0, r.err
    sent = emulator.requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": "Sunny."}


# -- broken protocol ------------------------------------------------------------------------------

BROKEN = {
    "delta-never-started": [MESSAGE_START, TEXT_START, text_delta("Half an "), text_delta("x", 3)],
    "started-twice": [MESSAGE_START, TEXT_START, text_delta("Half an "), TEXT_START],
    "delta-after-stop": [
        MESSAGE_START,
        TEXT_START,
        text_delta("Half an "),
        named("content_block_stop", {"index": 0}),
        text_delta("answer"),
    ],
    "wrong-delta-kind": [
        MESSAGE_START,
        TEXT_START,
        text_delta("Half an "),
        named(
            "content_block_delta",
            {"index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}},
        ),
    ],
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_block_protocol_is_an_error_and_keeps_the_partial_reply(
    env: dict[str, str], emulator: Emulator, case: str
) -> None:
    emulator.script(Reply.sse(BROKEN[case]))
    r = invoke(["ask", "--api", "anthropic", "hi"], env=env)
    assert r.code == EXIT_NETWORK
    assert r.out == "Half an \n"
    warning, error = r.err.splitlines()
    assert warning == "mlchat: warning: the reply above is incomplete"
    assert error.startswith("mlchat: error: the stream ")
    assert "content block" in error
    assert len(emulator.requests) == 1  # content had arrived: never retried


@pytest.mark.parametrize(
    ("api", "frames"),
    [
        ("openai", ["data: [DONE]\n\n"]),
        ("openai", ['data: {"choices": []}\n\n', "data: [DONE]\n\n"]),
        ("anthropic", [MESSAGE_START, named("message_stop", {})]),
    ],
)
def test_a_stream_with_no_stop_reason_and_no_content_is_an_error(
    env: dict[str, str], emulator: Emulator, api: str, frames: list[str]
) -> None:
    emulator.script(*[Reply.sse(frames)] * 3)
    r = invoke(["ask", "--api", api, "--json", "hi"], env=env)
    assert r.code == EXIT_NETWORK
    doc = json.loads(r.out)
    assert "neither" in doc["error"]["message"]
    assert doc["error"]["exit_code"] == EXIT_NETWORK
    assert r.err.startswith("mlchat: error: the stream ended with neither")


@pytest.mark.parametrize("api", APIS)
def test_a_whole_reply_with_no_stop_reason_and_no_content_is_an_error(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    body: dict[str, object] = (
        {"choices": [{"message": {"content": None}, "finish_reason": None}]}
        if api == "openai"
        else {"type": "message", "content": [], "stop_reason": None}
    )
    emulator.script(*[Reply.json(body)] * 3)
    r = invoke(["ask", "--api", api, "--no-stream", "hi"], env=env)
    assert r.code == EXIT_NETWORK
    assert r.out == ""
    assert r.err.startswith("mlchat: error: the reply has neither content nor a")


# -- tool arguments that are not JSON ---------------------------------------------------------


@pytest.mark.parametrize("api", ["openai"])
def test_invalid_tool_arguments_are_marked_in_json(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    calls = [
        {"id": "call_1", "name": "good", "arguments": '{"city": "Paris"}'},
        {"id": "call_2", "name": "bad", "arguments": '{"city": "Par'},
        {"id": "call_3", "name": "list", "arguments": "[1, 2]"},
    ]
    emulator.script(Reply.chat("", tool_calls=calls, finish_reason="tool_calls"))
    r = invoke(["ask", "--api", api, "--json", "weather?"], env=env)
    assert r.code == 0, r.err
    good, bad, listed = json.loads(r.out)["tool_calls"]
    assert good == {"id": "call_1", "name": "good", "arguments": {"city": "Paris"}}
    assert bad["arguments"] is None
    assert bad["arguments_text"] == '{"city": "Par'
    assert bad["arguments_error"].startswith("not valid JSON")
    assert listed["arguments"] is None and listed["arguments_error"] == "not a JSON object"
