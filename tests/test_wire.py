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


@pytest.mark.parametrize("api", APIS)
def test_refusal_in_chat_is_marked_and_the_chat_goes_on(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL, chunk_size=4), Reply.chat("Here is a story."))
    r = invoke(["chat", "--api", api], env=env, stdin=b"pick a lock\ntell a story\n")
    assert r.code == 0, r.err
    assert r.out == REFUSAL + "\nHere is a story.\n"
    assert r.err == "(the model refused to answer)\n"
    sent = emulator.requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": REFUSAL}


@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_stopped_by_the_content_filter_says_so(
    env: dict[str, str], emulator: Emulator, stream: bool
) -> None:
    emulator.script(Reply.chat("The first half", finish_reason="content_filter", chunk_size=4))
    r = invoke(["ask", "--json", "q"] + ([] if stream else ["--no-stream"]), env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out)["finish_reason"] == "content_filter"
    assert r.err == (
        "mlchat: warning: the service's content filter stopped the reply: it may be cut off\n"
    )


@pytest.mark.parametrize("api", APIS)
def test_refusal_with_extract_is_shown_on_stderr(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL))
    r = invoke(["ask", "--api", api, "-x", "write a lock picker"], env=env)
    assert r.code == EXIT_REFUSED
    assert r.out == ""
    assert r.err == f"{REFUSAL}\nmlchat: error: the model refused to answer\n"


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
    "started-out-of-order": [
        MESSAGE_START,
        named("content_block_start", {"index": 1, "content_block": {"type": "text"}}),
        text_delta("Half an ", 1),
        TEXT_START,
    ],
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


@pytest.mark.parametrize("api", APIS)
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


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    "arguments", ["[" * 5000 + "]" * 5000, '{"a": ' + "9" * 5000 + "}", '{"city": "Par']
)
def test_unreadable_tool_arguments_are_answered_with_an_error_and_sent_back(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, api: str, arguments: str
) -> None:
    """The tool loop answers the model with an error result, and the turn goes back to the
    service readable: never an internal error while building the next request."""
    marker = tmp_path / "ran"
    (tmp_path / "mark.py").write_text(f"open({str(marker)!r}, 'w')\n")
    tools = tmp_path / "tools.toml"
    tools.write_text(
        f"""
[[tools]]
name = "lookup"
description = "d"
command = [{json.dumps(sys.executable)}, {json.dumps(str(tmp_path / "mark.py"))}]
[tools.parameters]
type = "object"
"""
    )
    call = {"id": "call_1", "name": "lookup", "arguments": arguments}
    emulator.script(
        Reply.chat("", tool_calls=[call], finish_reason="tool_calls"), Reply.chat("Done.")
    )
    r = invoke(["ask", "--api", api, "--tools", str(tools), "-y", "--json", "q"], env=env)
    assert r.code == 0, r.err
    assert "internal error" not in r.err
    doc = json.loads(r.out)
    assert doc["text"] == "Done."
    (sent,) = doc["tool_calls"]
    assert sent["is_error"] is True and sent["arguments"] is None
    assert not marker.exists()  # never run with arguments it cannot read
    messages = emulator.requests[-1].json["messages"]
    if api == "anthropic":
        use = messages[-2]["content"][-1]
        assert use["type"] == "tool_use" and use["input"] == {}
        result = messages[-1]["content"][0]
        assert result["type"] == "tool_result" and result["is_error"] is True
    else:
        assert messages[-2]["tool_calls"][0]["function"]["arguments"] == arguments
        assert messages[-1]["role"] == "tool" and "error" in messages[-1]["content"]


# -- usage, the answering model, hints, sampling defaults ---------------------------------------


def test_anthropic_cache_tokens_are_input_tokens(env: dict[str, str], emulator: Emulator) -> None:
    usage = {"input_tokens": 1, "output_tokens": 5, "cache_read_input_tokens": 34}
    emulator.script(Reply.chat("hi", usage=usage), Reply.chat("hi", usage=usage))
    for stream in ([], ["--no-stream"]):
        r = invoke(["ask", "--api", "anthropic", "--json", "q", *stream], env=env)
        assert r.code == 0, r.err
        got = json.loads(r.out)["usage"]
        assert got["input_tokens"] == 35 and got["cached_input_tokens"] == 34
        assert got["total_tokens"] == 40


def test_cached_tokens_on_the_usage_line(env: dict[str, str], emulator: Emulator) -> None:
    usage = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}
    emulator.script(
        Reply.chat("hi", usage={**usage, "prompt_tokens_details": {"cached_tokens": 32}})
    )
    r = invoke(["ask", "--usage", "q"], env=env)
    assert r.code == 0, r.err
    assert r.err.startswith("usage: 40 in (32 cached) + 2 out = 42 tokens")


def test_cost_uses_cache_prices_where_known() -> None:
    from mlchat import prices
    from mlchat.types import Usage

    table = {"m": prices.Price(input=1.0, output=2.0, cache_read=0.1)}
    # 10 uncached at $1, 90 cached at $0.10, 10 written at the full input price, 5 out at $2.
    got = prices.cost("m", Usage(110, 5, 90, 10), table)
    assert got == pytest.approx((10 + 9 + 10 + 10) / 1e6)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("api", APIS)
def test_json_model_is_the_model_that_answered(
    env: dict[str, str], emulator: Emulator, api: str, stream: bool
) -> None:
    emulator.script(Reply.chat("hi", model="minimax-m1-2026-04"))
    args = ["ask", "--api", api, "--json", "q"] + ([] if stream else ["--no-stream"])
    r = invoke(args, env=env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["model"] == "minimax-m1-2026-04"
    assert doc["requested_model"] == "minimax-minimax-m1"


def exported(env: dict[str, str]) -> list[dict[str, object]]:
    r = invoke(["sessions", "export", "-f", "json"], env=env)
    assert r.code == 0, r.err
    messages: list[dict[str, object]] = json.loads(r.out)["messages"]
    return messages


@pytest.mark.parametrize("api", APIS)
def test_the_store_records_the_model_that_answered_and_the_one_asked_for(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(Reply.chat("hi", model="minimax-m1-2026-04"))
    assert invoke(["ask", "--api", api, "q"], env=env).code == 0
    reply = exported(env)[-1]
    assert reply["model"] == "minimax-m1-2026-04"
    assert reply["requested_model"] == "minimax-minimax-m1"
    assert reply["finish_reason"] == "stop"  # end_turn, in the Anthropic dialect
    # Answered by the model asked for: nothing apart.
    emulator.script(Reply.chat("hi", model="minimax-minimax-m1"))
    assert invoke(["ask", "--api", api, "q"], env=env).code == 0
    reply = exported(env)[-1]
    assert (reply["model"], reply["requested_model"]) == ("minimax-minimax-m1", None)


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("api", APIS)
def test_the_store_marks_a_refusal(
    env: dict[str, str], emulator: Emulator, api: str, stream: bool
) -> None:
    emulator.script(Reply.chat(refusal=REFUSAL, chunk_size=4))
    args = ["ask", "--api", api, "pick a lock"] + ([] if stream else ["--no-stream"])
    assert invoke(args, env=env).code == EXIT_REFUSED
    reply = exported(env)[-1]
    assert (reply["content"], reply["finish_reason"], reply["status"]) == (
        REFUSAL,
        "refusal",
        "ok",
    )


def test_same_model_has_no_requested_model(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("hi", ids=True))
    doc = json.loads(invoke(["ask", "--json", "q"], env=env).out)
    assert doc["model"] == "minimax-minimax-m1" and "requested_model" not in doc


def test_404_for_a_path_hints_at_the_base_url(env: dict[str, str], emulator: Emulator) -> None:
    wrong = {**env, "MODELSLAB_BASE_URL": emulator.base_url + "/v2"}
    for args in (["models"], ["ask", "q"]):
        r = invoke(args, env=wrong)
        assert r.code == 4
        assert "hint: no such API path: check the base URL" in r.err
        assert "mlchat models" not in r.err


def test_404_for_an_unknown_model_hints_at_models(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(404))
    r = invoke(["ask", "q"], env=env)
    assert r.code == 4
    assert r.err.splitlines()[-1] == "hint: run `mlchat models` to see the available model ids"


def test_anthropic_sends_top_p_only_when_set(env: dict[str, str], emulator: Emulator) -> None:
    assert invoke(["ask", "--api", "anthropic", "q"], env=env).code == 0
    assert "top_p" not in emulator.requests[-1].json
    assert emulator.requests[-1].json["temperature"] == 0.7
    assert invoke(["ask", "--api", "anthropic", "--top-p", "0.5", "q"], env=env).code == 0
    assert emulator.requests[-1].json["top_p"] == 0.5
    assert invoke(["ask", "q"], env=env).code == 0
    assert emulator.requests[-1].json["top_p"] == 0.9  # the OpenAI dialect keeps the playground's


# -- hostile or malformed data ------------------------------------------------------------------

HOSTILE = {
    "retry-non-ascii-digits": [
        "retry: ٣٣\n" + 'data: {"choices":[{"delta":{"content":"ok"}}]}\n\n'
    ],
    "long-int": ['data: {"choices":[], "usage": {"prompt_tokens": ' + "9" * 5000 + "}}\n\n"],
    "deep-nesting": ["data: " + "[" * 5000 + "]" * 5000 + "\n\n"],
    "tool-calls-true": ['data: {"choices":[{"delta":{"tool_calls":true,"content":"ok"}}]}\n\n'],
    "huge-usage": [
        'data: {"choices":[{"delta":{"content":"ok"}}],"usage":{"prompt_tokens":1e400}}\n\n'
    ],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_stream_never_exits_1(env: dict[str, str], emulator: Emulator, case: str) -> None:
    emulator.script(*[Reply.sse([*HOSTILE[case], "data: [DONE]\n\n"])] * 3)
    r = invoke(["ask", "--json", "q"], env=env)
    assert r.code in (0, 6), r.err
    assert "internal error" not in r.err and "Traceback" not in r.err
    json.loads(r.out)
    if r.code:
        assert len(r.err.splitlines()) == 1


def test_whole_reply_with_tool_calls_true(env: dict[str, str], emulator: Emulator) -> None:
    body = {
        "choices": [{"message": {"content": "ok", "tool_calls": True}, "finish_reason": "stop"}]
    }
    emulator.script(Reply.json(body))
    r = invoke(["ask", "--no-stream", "--json", "q"], env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out)["tool_calls"] == []


def test_lone_surrogates_in_text_and_error(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(
        Reply.sse(['data: {"choices":[{"delta":{"content":"a\\ud800b"}}]}\n\n', "data: [DONE]\n\n"])
    )
    r = invoke(["ask", "--json", "q"], env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out)["text"] == "a\ufffdb"
    emulator.script(Reply.error(400, '{"status": "error", "message": "bad \\udfff thing"}'))
    r = invoke(["ask", "--json", "q"], env=env)
    assert r.code == 4
    assert json.loads(r.out)["error"]["message"] == "HTTP 400: bad \ufffd thing"


@pytest.mark.parametrize("api", APIS)
def test_lone_surrogates_in_tool_arguments(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    # The arguments are JSON text that escapes a lone surrogate: found by the fuzz suite.
    calls = [{"id": "c1", "name": "get_weather", "arguments": '{"city": "Par\\ud800is"}'}]
    emulator.script(Reply.chat(tool_calls=calls))
    r = invoke(["ask", "--api", api, "--json", "q"], env=env)
    assert r.code == 0, r.err
    (call,) = json.loads(r.out)["tool_calls"]
    assert call["arguments"] == {"city": "Par\ufffdis"}
    assert "\\ud800" not in r.out


@pytest.mark.parametrize(
    "headers_body",
    [
        ({"Retry-After": "1e20"}, None),
        ({}, {"status": "error", "message": "slow", "retry_after": int("9" * 400)}),
    ],
)
def test_absurd_waits_are_capped(
    env: dict[str, str], emulator: Emulator, headers_body: tuple[dict[str, str], object]
) -> None:
    headers, body = headers_body
    default = {"status": "error", "message": "slow"}
    emulator.script(Reply.error(429, body if isinstance(body, dict) else default, headers=headers))
    r = invoke(["ask", "q"], env=env)
    assert r.code == 5
    assert "168 h" in r.err  # a week, and no sleep


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (["--timeout", "1e308"], {}),
        (["--max-time", "1e308"], {}),
        ([], {"MLCHAT_TIMEOUT": "1e308"}),
        (["--retries", "100000"], {}),
    ],
)
def test_user_numbers_out_of_range_are_usage_errors(
    env: dict[str, str], emulator: Emulator, args: list[str], extra_env: dict[str, str]
) -> None:
    r = invoke(["ask", *args, "q"], env={**env, **extra_env})
    assert r.code == 2
    assert r.err.startswith("mlchat: error: ")
    assert emulator.requests == []


@pytest.mark.parametrize(
    "text",
    [
        "timeout = 99999999999999999999\n",
        "timeout = " + "9" * 400 + "\n",
        "stop = " + "[" * 5000 + "]" * 5000 + "\n",
    ],
)
def test_config_numbers_and_nesting_are_config_errors(
    env: dict[str, str], emulator: Emulator, text: str
) -> None:
    r = invoke(["config", "path"], env=env)
    path = Path(r.out.strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    r = invoke(["ask", "q"], env=env)
    assert r.code == 3, r.err
    assert r.err.startswith("mlchat: error: ")
    assert emulator.requests == []


@pytest.mark.parametrize(
    "entry", ['command = "echo \'unbalanced"', 'command = "echo"\ntimeout = 1e300']
)
def test_tools_file_bad_command_or_timeout(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, entry: str
) -> None:
    tools = tmp_path / "tools.toml"
    tools.write_text(f'[[tools]]\nname = "t"\ndescription = "d"\n{entry}\n')
    r = invoke(["ask", "--tools", str(tools), "-y", "q"], env=env)
    assert r.code == 2, r.err
    assert r.err.startswith("mlchat: error: ") and len(r.err.splitlines()) == 1
    assert emulator.requests == []


# -- the watchdog and --max-time -----------------------------------------------------------------

USAGE_ONLY = 'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0}}\n\n'
USAGE_DELTA = named("message_delta", {"delta": {}, "usage": {"output_tokens": 1}})


@pytest.mark.parametrize(("api", "frame"), [("openai", USAGE_ONLY), ("anthropic", USAGE_DELTA)])
def test_usage_only_events_do_not_feed_the_watchdog(
    env: dict[str, str], emulator: Emulator, api: str, frame: str
) -> None:
    frames = [MESSAGE_START] if api == "anthropic" else []
    emulator.script(*[Reply.sse(frames + [frame] * 40, delay=0.05)] * 3)
    r = invoke(["ask", "--api", api, "q"], env={**env, "MLCHAT_IDLE_TIMEOUT": "0.4"})
    assert r.code == EXIT_NETWORK
    assert "only keep-alives" in r.err


@pytest.mark.parametrize("source", ["flag", "env", "config"])
def test_max_time_is_an_overall_deadline(
    env: dict[str, str], emulator: Emulator, source: str
) -> None:
    emulator.script(Reply.chat("one two three four five six seven eight", chunk_size=4, delay=0.15))
    args, extra = ["ask", "q"], {}
    if source == "flag":
        args = ["ask", "--max-time", "0.5", "q"]
    elif source == "env":
        extra = {"MLCHAT_MAX_TIME": "0.5"}
    else:
        path = Path(invoke(["config", "path"], env=env).out.strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("max_time = 0.5\n")
    r = invoke(args, env={**env, **extra})
    assert r.code == EXIT_NETWORK, r.err
    assert r.out.startswith("one ") and not r.out.startswith("one two three four five six")
    assert "--max-time" in r.err
    assert "mlchat: warning: the reply above is incomplete" in r.err
