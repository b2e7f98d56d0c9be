"""`mlchat ask` through the CLI with an injected Runtime, against the emulator over real HTTP."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply


def test_argument_prompt_streams_plain_text(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("Paris is the capital.", chunk_size=3))
    r = invoke(["ask", "capital of France?"], env=env)
    assert r.code == 0, r.err
    assert r.out == "Paris is the capital.\n"
    assert r.err == ""
    body = emulator.requests[0].json
    assert body["messages"] == [{"role": "user", "content": "capital of France?"}]
    assert body["model"] == body["model_id"] == "minimax-minimax-m1"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # The seed page's playground defaults are sent explicitly.
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 1000)
    assert body["frequency_penalty"] == body["presence_penalty"] == 0
    assert emulator.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_stdin_then_blank_line_then_argument(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "summarise"], env=env, stdin=b"line one\nline two\n")
    assert r.code == 0
    assert emulator.requests[0].json["messages"][0]["content"] == "line one\nline two\n\nsummarise"


def test_stdin_only(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask"], env=env, stdin="héllo wörld 世界".encode())
    assert r.code == 0
    assert r.out == "echo: héllo wörld 世界\n"


@pytest.mark.parametrize("stdin", [b"", b"   \n\n  \t\n"])
@pytest.mark.parametrize("args", [["ask"], ["ask", "   "]])
def test_no_prompt_is_a_usage_error_without_request(
    env: dict[str, str], emulator: Emulator, stdin: bytes, args: list[str]
) -> None:
    r = invoke(args, env=env, stdin=stdin)
    assert r.code == 2
    assert r.out == ""
    assert r.err.startswith("mlchat: error: no prompt")
    assert emulator.requests == []


def test_flags_reach_the_openai_body(env: dict[str, str], emulator: Emulator) -> None:
    args = ["ask", "hi", "-m", "meta-llama-3-8B-instruct", "-s", "Be terse", "-t", "0.2"]
    args += ["--top-p", "0.5", "--max-tokens", "50", "--frequency-penalty", "0.5"]
    args += ["--presence-penalty", "-1", "--stop", "END", "--stop", "STOP", "--seed", "7"]
    r = invoke(args, env=env)
    assert r.code == 0, r.err
    body = emulator.requests[0].json
    assert body["model"] == body["model_id"] == "meta-llama-3-8B-instruct"
    assert body["messages"][0] == {"role": "system", "content": "Be terse"}
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.5
    assert body["max_tokens"] == 50
    assert body["frequency_penalty"] == 0.5
    assert body["presence_penalty"] == -1
    assert body["stop"] == ["END", "STOP"]
    assert body["seed"] == 7


def test_anthropic_dialect(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("Bonjour", reasoning="thinking hard"))
    r = invoke(["ask", "--api", "anthropic", "-s", "sys", "--max-tokens", "64", "hi"], env=env)
    assert r.code == 0, r.err
    assert r.out == "Bonjour\n"  # reasoning never goes to stdout
    req = emulator.requests[0]
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == FAKE_KEY
    assert req.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.json["system"] == "sys"
    assert req.json["max_tokens"] == 64
    assert "frequency_penalty" not in req.json and "model_id" not in req.json


def test_anthropic_warns_about_penalties(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--api", "anthropic", "--frequency-penalty", "1", "hi"], env=env)
    assert r.code == 0
    assert "frequency_penalty is not part of the anthropic dialect" in r.err
    assert "frequency_penalty" not in emulator.requests[0].json


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "2.5"], "temperature must be between 0 and 2"),
        (["--api", "anthropic", "-t", "1.5"], "temperature must be between 0 and 1"),
        (["--top-p", "1.1"], "top_p must be between 0 and 1"),
        (["--frequency-penalty", "-3"], "frequency_penalty must be between -2 and 2"),
        (["--max-tokens", "0"], "max_tokens must be >= 1"),
        (["--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d", "--stop", "e"], "at most 4"),
        (["--api", "gemini"], "--api must be one of openai, anthropic"),
        (["--base-url", "ftp://x"], "base URL must start with http"),
    ],
)
def test_invalid_parameters_are_usage_errors(
    env: dict[str, str], emulator: Emulator, args: list[str], message: str
) -> None:
    r = invoke(["ask", *args, "hi"], env=env)
    assert r.code == 2, r.err
    assert message in r.err
    assert r.err.count("\n") <= 2
    assert emulator.requests == []


def test_no_key_exits_3_without_request(emulator: Emulator) -> None:
    r = invoke(["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3
    assert "MODELSLAB_API_KEY" in r.err
    assert emulator.requests == []


def test_model_env_overrides_default(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "hi"], env={**env, "MLCHAT_MODEL": "deepseek-ai-DeepSeek-V3"})
    assert r.code == 0
    assert emulator.requests[0].json["model"] == "deepseek-ai-DeepSeek-V3"
    r = invoke(["ask", "-m", "x-model", "hi"], env={**env, "MLCHAT_MODEL": "other"})
    assert emulator.requests[1].json["model"] == "x-model"


def test_base_url_flag_beats_environment(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(
        ["ask", "--base-url", emulator.base_url + "/", "hi"],
        env={**env, "MODELSLAB_BASE_URL": "http://127.0.0.1:9/nowhere"},
    )
    assert r.code == 0, r.err
    assert emulator.requests[0].path == "/chat/completions"


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_no_stream(env: dict[str, str], emulator: Emulator, api: str) -> None:
    r = invoke(["ask", "--no-stream", "--api", api, "hi"], env=env)
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert emulator.requests[0].json["stream"] is False
    assert "stream_options" not in emulator.requests[0].json


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_json_output(env: dict[str, str], emulator: Emulator, api: str) -> None:
    emulator.script(
        Reply.chat(
            "42",
            reasoning="deep thought",
            usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        )
    )
    r = invoke(["ask", "--json", "--api", api, "answer?"], env=env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc == {
        "text": "42",
        "reasoning": "deep thought",
        "model": "minimax-minimax-m1",
        "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
        "finish_reason": "stop",
        "refusal": None,
        "tool_calls": [],
        "cost": 0.0000042,  # 5 x $0.40/1M + 1 x $2.20/1M, the shipped price of the default model
    }
    assert r.out.count("\n") == 1


def test_json_output_with_tool_calls(env: dict[str, str], emulator: Emulator) -> None:
    call = {"id": "call_9", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    emulator.script(Reply.chat("", tool_calls=[call], finish_reason="tool_calls"))
    r = invoke(["ask", "--json", "weather?"], env=env)
    doc = json.loads(r.out)
    assert doc["tool_calls"] == [
        {"id": "call_9", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert doc["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("reply", "code", "fragment"),
    [
        (Reply.error(401, {"status": "error", "message": "Invalid API key"}), 3, "Invalid API key"),
        (Reply.error(403), 3, "HTTP 403"),
        (Reply.error(400, {"error": {"message": "bad temperature"}}), 4, "bad temperature"),
        (Reply.error(402), 4, "credits"),
        (
            Reply.error(404, {"status": "error", "messege": "Model not found: x"}),
            4,
            "Model not found",
        ),
        (Reply.error(413), 4, "HTTP 413"),
        (Reply.error(422), 4, "HTTP 422"),
        (
            Reply.error(200, {"status": "error", "message": "Provider returned error"}),
            4,
            "Provider",
        ),
        (
            Reply.error(429, {"status": "error", "message": "Rate limit", "retry_after": 300}),
            5,
            "Rate",
        ),
        (
            Reply.raw(
                502,
                b"<html><title>502 Bad Gateway</title><body>x</body></html>",
                content_type="text/html",
            ),
            6,
            "502 Bad Gateway",
        ),
    ],
)
def test_error_shapes_map_to_exit_codes(
    env: dict[str, str], emulator: Emulator, reply: Reply, code: int, fragment: str
) -> None:
    emulator.script(reply, reply, reply)
    r = invoke(["ask", "--retries", "0", "hi"], env=env)
    assert r.code == code, r.err
    assert r.out == ""
    first = r.err.splitlines()[0]
    assert first.startswith("mlchat: error: ") and fragment in first
    assert "Traceback" not in r.err and "<body>" not in r.err
    assert FAKE_KEY not in r.err


def test_mid_stream_error_keeps_partial_text(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(
        Reply.sse(
            [
                {"choices": [{"delta": {"content": "partial "}}]},
                {"choices": [{"delta": {"content": "answer"}}]},
                {"status": "error", "message": "Provider returned error"},
            ]
        )
    )
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 4
    assert r.out == "partial answer\n"
    assert "Provider returned error" in r.err
    assert "incomplete" in r.err


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_dropped_stream_is_incomplete_exit_6(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(Reply.chat("one two three four five six", chunk_size=4, drop_after=4))
    r = invoke(["ask", "--api", api, "hi"], env=env)
    assert r.code == 6, r.err
    assert r.out.endswith("\n") and len(r.out) > 1
    assert "closed the connection before the reply was complete" in r.err


def test_stream_without_done_but_with_finish_reason_is_complete(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat("whole", done=False))
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0, r.err
    assert r.out == "whole\n"


def test_json_error_document_keeps_partial(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("some words here", chunk_size=5, drop_after=3, finish_reason=None))
    r = invoke(["ask", "--json", "hi"], env=env)
    assert r.code == 6
    doc = json.loads(r.out)
    assert doc["incomplete"] is True and doc["error"]["exit_code"] == 6
    assert doc["text"]


def test_terminal_output_renders_markdown(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("# Title\n\nSome **bold** text.\n\n```python\nprint(1)\n```\n"))
    r = invoke(["ask", "hi"], env={**env, "TERM": "xterm-256color"}, stdout_tty=True)
    assert r.code == 0, r.err
    assert "Title" in r.out and "**" not in r.out and "```" not in r.out
    assert "\x1b[" in r.out


def test_no_color_and_plain(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("Some **bold** text."), Reply.chat("Some **bold** text."))
    r = invoke(["ask", "hi"], env={**env, "NO_COLOR": "1", "TERM": "xterm"}, stdout_tty=True)
    assert "\x1b[3" not in r.out and "bold" in r.out and "**" not in r.out
    r = invoke(["ask", "--plain", "hi"], env=env, stdout_tty=True)
    assert r.out == "Some **bold** text.\n"


def test_debug_shows_requests_with_key_masked(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["--debug", "ask", "hi"], env=env)
    assert r.code == 0
    assert "POST " in r.err and "/chat/completions -> 200" in r.err
    assert FAKE_KEY not in r.err


def test_debug_traceback_on_error_masks_key(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(401, {"status": "error", "message": f"bad key {FAKE_KEY}"}))
    r = invoke(["--debug", "ask", "hi"], env=env)
    assert r.code == 3
    assert "Traceback" in r.err
    assert FAKE_KEY not in r.err and FAKE_KEY not in r.out


def test_version() -> None:
    r = invoke(["--version"])
    assert r.code == 0 and r.out.startswith("mlchat ")
