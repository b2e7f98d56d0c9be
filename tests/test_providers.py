"""mlchat.providers: request building, stream and whole-reply decoding, error shapes, common."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from mlchat.errors import (
    EXIT_CONFIG,
    EXIT_NETWORK,
    EXIT_RATE_LIMITED,
    EXIT_REJECTED,
    ApiError,
    AuthError,
    IncompleteReply,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
)
from mlchat.providers import Provider, StreamDecoder, get_provider
from mlchat.providers.anthropic import PROVIDER as ANTHROPIC
from mlchat.providers.anthropic import count_tokens_request
from mlchat.providers.common import (
    KEY_HINT,
    decode_count,
    decode_models,
    http_error,
    raise_if_error,
    retry_after,
)
from mlchat.providers.openai import PROVIDER as OPENAI
from mlchat.session import Reply
from mlchat.sse import SSEEvent
from mlchat.types import (
    AnsweredBy,
    ChatRequest,
    Finished,
    HttpRequest,
    Message,
    ModelInfo,
    Params,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)

KEY = "ml-test-key-0123456789"
MODEL = "minimax-minimax-m1"

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a location",
    parameters={
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}
FULL_PARAMS = Params(
    temperature=0.7,
    top_p=0.9,
    max_tokens=256,
    frequency_penalty=0.5,
    presence_penalty=-0.5,
    stop=("END", "###"),
    seed=42,
)
# A tool round trip: the user asks, the model calls a tool, the result comes back, the user
# follows up.
TOOL_TURNS = (
    Message("user", "Weather in Paris?"),
    Message(
        "assistant",
        "Let me check.",
        tool_calls=(
            ToolCall("call_1", "get_weather", '{"location": "Paris"}'),
            ToolCall("call_2", "get_weather", '{"location": "Lyon"}'),
        ),
    ),
    Message("tool", '{"temp": 20}', tool_call_id="call_1"),
    Message("tool", "boom", tool_call_id="call_2", is_error=True),
    Message("user", "And tomorrow?"),
)


def sse(data: Any, event: str = "message") -> SSEEvent:
    return SSEEvent(data if isinstance(data, str) else json.dumps(data), event=event)


def feed(decoder: StreamDecoder, events: list[SSEEvent], *, end: bool = True) -> list[StreamEvent]:
    """The decoded events, without the answering model (tested on its own)."""
    out: list[StreamEvent] = []
    for ev in events:
        out += decoder.event(ev)
    if end:
        out += decoder.end()
    return [e for e in out if not isinstance(e, AnsweredBy)]


def whole(provider: Provider, payload: Any) -> list[StreamEvent]:
    return [e for e in provider.decode_response(payload) if not isinstance(e, AnsweredBy)]


def accumulate(events: list[StreamEvent]) -> Reply:
    reply = Reply()
    for ev in events:
        reply.add(ev)
    return reply


def oa_chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> Any:
    choice: dict[str, Any] = {"index": 0, "delta": delta or {}}
    if finish is not None:
        choice["finish_reason"] = finish
    return sse({"choices": [choice], **extra})


# ============================================================================================
# build_request: OpenAI
# ============================================================================================


def test_get_provider() -> None:
    assert get_provider("openai") is OPENAI
    assert get_provider("anthropic") is ANTHROPIC
    assert OPENAI.name == "openai"
    assert ANTHROPIC.name == "anthropic"


def test_openai_minimal_request() -> None:
    req = OPENAI.build_request(ChatRequest(MODEL, (Message("user", "hi"),)), KEY)
    assert req == HttpRequest(
        "POST",
        "/chat/completions",
        {
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        },
        {
            "model": MODEL,
            "model_id": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )


def test_openai_full_request() -> None:
    req = ChatRequest(
        MODEL,
        (Message("user", "hi"), Message("assistant", "hello"), Message("user", "JSON please")),
        system="Be brief.",
        params=FULL_PARAMS,
        tools=(WEATHER,),
        tool_choice="auto",
        response_format={"type": "json_object"},
    )
    http = OPENAI.build_request(req, KEY)
    assert http.json == {
        "model": MODEL,
        "model_id": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "JSON please"},
        ],
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 256,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "stop": ["END", "###"],
        "seed": 42,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the current weather for a location",
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # The body must survive a JSON round trip unchanged (no tuples, no mappingproxies).
    assert json.loads(json.dumps(http.json)) == http.json
    assert OPENAI.unsupported_params(FULL_PARAMS) == []


def test_openai_zero_values_are_sent() -> None:
    params = Params(temperature=0.0, frequency_penalty=0.0, presence_penalty=0.0, seed=0)
    body = OPENAI.build_request(ChatRequest(MODEL, (), params=params), KEY).json
    assert body is not None
    assert (body["temperature"], body["frequency_penalty"], body["presence_penalty"]) == (0, 0, 0)
    assert body["seed"] == 0


def test_openai_no_stream_request() -> None:
    http = OPENAI.build_request(ChatRequest(MODEL, (Message("user", "hi"),), stream=False), KEY)
    assert http.json is not None
    assert http.json["stream"] is False
    assert "stream_options" not in http.json
    assert http.headers["Accept"] == "application/json"


def test_openai_tool_turns() -> None:
    body = OPENAI.build_request(ChatRequest(MODEL, TOOL_TURNS), KEY).json
    assert body is not None
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Lyon"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "boom"},
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_openai_assistant_tool_call_without_text_has_null_content() -> None:
    msg = Message("assistant", "", tool_calls=(ToolCall("c", "f", "{}"),))
    body = OPENAI.build_request(ChatRequest(MODEL, (msg,)), KEY).json
    assert body is not None
    assert body["messages"][0]["content"] is None


@pytest.mark.parametrize(
    ("choice", "openai", "anthropic"),
    [
        ("auto", "auto", {"type": "auto"}),
        ("none", "none", {"type": "none"}),
        ("required", "required", {"type": "any"}),
        (
            "get_weather",
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice_mapping(choice: str, openai: Any, anthropic: Any) -> None:
    req = ChatRequest(MODEL, (Message("user", "hi"),), tools=(WEATHER,), tool_choice=choice)
    oa = OPENAI.build_request(req, KEY).json
    an = ANTHROPIC.build_request(req, KEY).json
    assert oa is not None and an is not None
    assert oa["tool_choice"] == openai
    assert an["tool_choice"] == anthropic


def test_no_tool_choice_no_tools_sent() -> None:
    req = ChatRequest(MODEL, (Message("user", "hi"),))
    for provider in (OPENAI, ANTHROPIC):
        body = provider.build_request(req, KEY).json
        assert body is not None
        assert "tools" not in body and "tool_choice" not in body


# ============================================================================================
# build_request: Anthropic
# ============================================================================================

ANTHROPIC_HEADERS = {
    "Authorization": f"Bearer {KEY}",
    "x-api-key": KEY,
    "anthropic-version": "2023-06-01",
    "Content-Type": "application/json",
}


def test_anthropic_minimal_request() -> None:
    req = ANTHROPIC.build_request(ChatRequest(MODEL, (Message("user", "hi"),)), KEY)
    assert req == HttpRequest(
        "POST",
        "/v1/messages",
        {**ANTHROPIC_HEADERS, "Accept": "text/event-stream"},
        {
            "model": MODEL,
            "max_tokens": 1000,  # required by the dialect, so always present
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
    )


def test_anthropic_full_request() -> None:
    req = ChatRequest(
        MODEL,
        (Message("user", "hi"), Message("assistant", "hello"), Message("user", "more")),
        system="Be brief.",
        params=FULL_PARAMS,
        tools=(WEATHER,),
        tool_choice="required",
        stream=False,
    )
    http = ANTHROPIC.build_request(req, KEY)
    assert http.headers == {**ANTHROPIC_HEADERS, "Accept": "application/json"}
    assert http.json == {
        "model": MODEL,
        "max_tokens": 256,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "more"},
        ],
        "system": "Be brief.",
        "temperature": 0.7,
        "top_p": 0.9,
        "stop_sequences": ["END", "###"],
        "tools": [
            {
                "name": "get_weather",
                "description": "Get the current weather for a location",
                "input_schema": WEATHER_SCHEMA,
            }
        ],
        "tool_choice": {"type": "any"},
        "stream": False,
    }
    assert json.loads(json.dumps(http.json)) == http.json


@pytest.mark.parametrize(
    ("params", "unsupported"),
    [
        (Params(), []),
        (FULL_PARAMS, ["frequency_penalty", "presence_penalty", "seed"]),
        (Params(frequency_penalty=0.0, presence_penalty=0.0), []),
        (Params(presence_penalty=1.0), ["presence_penalty"]),
        (Params(seed=0), ["seed"]),
        (Params(temperature=0.5, top_p=0.5, max_tokens=5, stop=("x",)), []),
    ],
)
def test_anthropic_unsupported_params(params: Params, unsupported: list[str]) -> None:
    assert ANTHROPIC.unsupported_params(params) == unsupported
    body = ANTHROPIC.build_request(ChatRequest(MODEL, (), params=params), KEY).json
    assert body is not None
    for name in ("frequency_penalty", "presence_penalty", "seed", "stop", "model_id"):
        assert name not in body


def test_anthropic_system_messages_go_top_level() -> None:
    msgs = (Message("system", "Rule one."), Message("system", "Rule two."), Message("user", "hi"))
    body = ANTHROPIC.build_request(ChatRequest(MODEL, msgs), KEY).json
    assert body is not None
    assert body["system"] == "Rule one.\n\nRule two."
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    # An explicit system prompt wins over system messages.
    body = ANTHROPIC.build_request(ChatRequest(MODEL, msgs, system="Explicit."), KEY).json
    assert body is not None
    assert body["system"] == "Explicit."


def test_anthropic_tool_turns() -> None:
    body = ANTHROPIC.build_request(ChatRequest(MODEL, TOOL_TURNS), KEY).json
    assert body is not None
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"location": "Lyon"},
                },
            ],
        },
        # Both tool results and the next user text are merged into one user turn.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp": 20}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": "boom",
                    "is_error": True,
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        ("   ", {}),
        ("not json", {}),
        ("[1, 2]", {"value": [1, 2]}),
    ],
)
def test_anthropic_tool_use_input(arguments: str, expected: Any) -> None:
    msg = Message("assistant", "", tool_calls=(ToolCall("t1", "f", arguments),))
    body = ANTHROPIC.build_request(ChatRequest(MODEL, (msg,)), KEY).json
    assert body is not None
    assert body["messages"] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": expected}],
        }
    ]


def test_anthropic_consecutive_user_turns_merge() -> None:
    msgs = (Message("user", "one"), Message("user", "two"))
    body = ANTHROPIC.build_request(ChatRequest(MODEL, msgs), KEY).json
    assert body is not None
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        }
    ]


def test_count_tokens_request() -> None:
    req = count_tokens_request(MODEL, (Message("user", "hi"),), "Be brief.", KEY)
    assert req == HttpRequest(
        "POST",
        "/v1/messages/count_tokens",
        {**ANTHROPIC_HEADERS, "Accept": "application/json"},
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "system": "Be brief."},
    )
    no_system = count_tokens_request(MODEL, (Message("user", "hi"),), None, KEY)
    assert no_system.json is not None and "system" not in no_system.json


# ============================================================================================
# OpenAI stream decoding
# ============================================================================================


def test_openai_stream_text() -> None:
    events = [
        sse("{}"),
        sse(
            {
                "id": "gen-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "served-model-name",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            }
        ),
        oa_chunk({"content": "héllo "}),
        oa_chunk({"content": "世界 🎉"}),
        oa_chunk({}, finish="stop"),
        sse({"choices": [], "usage": {"prompt_tokens": 17, "completion_tokens": 10}}),
        sse("[DONE]"),
    ]
    out = feed(OPENAI.new_decoder(), events)
    assert out == [
        TextDelta("héllo "),
        TextDelta("世界 🎉"),
        Usage(17, 10),
        Finished("stop"),
    ]


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        ({"content": "plain"}, [TextDelta("plain")]),
        ({"content": None}, []),
        ({"content": ""}, []),
        ({"role": "assistant"}, []),
        (
            {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            [TextDelta("ab")],
        ),
        (
            {"content": [{"text": "no type"}, {"type": "image_url", "text": "x"}]},
            [TextDelta("no type")],
        ),
        ({"content": ["bare", " strings"]}, [TextDelta("bare strings")]),
        ({"reasoning_content": "thinking…"}, [ReasoningDelta("thinking…")]),
        ({"reasoning": "thinking too"}, [ReasoningDelta("thinking too")]),
        ({"reasoning_content": None, "reasoning": "fallback"}, [ReasoningDelta("fallback")]),
        ({"reasoning": "why", "content": "what"}, [ReasoningDelta("why"), TextDelta("what")]),
        ({"reasoning": ""}, []),
    ],
)
def test_openai_stream_delta_shapes(delta: dict[str, Any], expected: list[StreamEvent]) -> None:
    dec = OPENAI.new_decoder()
    assert dec.event(oa_chunk(delta)) == expected


def test_openai_stream_message_instead_of_delta() -> None:
    dec = OPENAI.new_decoder()
    ev = sse({"choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}]})
    assert feed(dec, [ev]) == [TextDelta("whole"), Finished("stop")]


def test_openai_stream_other_choices_ignored() -> None:
    dec = OPENAI.new_decoder()
    ev = sse(
        {
            "choices": [
                {"index": 1, "delta": {"content": "second"}},
                {"index": 0, "delta": {"content": "first"}},
                "garbage",
            ]
        }
    )
    assert dec.event(ev) == [TextDelta("first")]


def test_openai_stream_tool_call_fragments() -> None:
    def call(index: int | None = None, **fields: Any) -> dict[str, Any]:
        c: dict[str, Any] = {k: v for k, v in fields.items() if k in ("id", "type")}
        if index is not None:
            c["index"] = index
        fn = {k: v for k, v in fields.items() if k in ("name", "arguments")}
        if fn:
            c["function"] = fn
        return c

    events = [
        oa_chunk({"role": "assistant", "content": None}),
        oa_chunk(
            {
                "tool_calls": [
                    call(0, id="call_a", type="function", name="get_weather", arguments="")
                ]
            }
        ),
        oa_chunk({"tool_calls": [call(0, arguments='{"loca')]}),
        # A fragment repeating the id and name, as some upstreams do.
        oa_chunk({"tool_calls": [call(0, id="call_a", name="get_weather", arguments='tion": ')]}),
        oa_chunk({"tool_calls": [call(0, arguments='"Paris"}')]}),
        oa_chunk({"tool_calls": [call(1, id="call_b", name="get_time", arguments="{}")]}),
        # An empty id/name later on must not erase the first one.
        oa_chunk({"tool_calls": [call(1, id="", name="", arguments="")]}),
        oa_chunk({}, finish="tool_calls"),
        sse("[DONE]"),
    ]
    out = feed(OPENAI.new_decoder(), events)
    assert out[:3] == [
        ToolCallDelta(0, "call_a", "get_weather", ""),
        ToolCallDelta(0, None, None, '{"loca'),
        ToolCallDelta(0, "call_a", "get_weather", 'tion": '),
    ]
    assert out[-1] == Finished("tool_calls")
    reply = accumulate(out)
    assert reply.tool_calls == (
        ToolCall("call_a", "get_weather", '{"location": "Paris"}'),
        ToolCall("call_b", "get_time", "{}"),
    )
    assert reply.text == ""
    assert reply.finish_reason == "tool_calls"


def test_openai_stream_tool_calls_without_index_use_position() -> None:
    dec = OPENAI.new_decoder()
    ev = oa_chunk(
        {
            "tool_calls": [
                {"id": "x", "function": {"name": "f", "arguments": {"a": 1}}},
                {"id": "y", "function": {"name": "g", "arguments": "{}"}},
                "not a call",
            ]
        }
    )
    assert dec.event(ev) == [
        ToolCallDelta(0, "x", "f", '{"a": 1}'),  # dict arguments are re-encoded as JSON text
        ToolCallDelta(1, "y", "g", "{}"),
    ]


def test_openai_tool_call_ids_missing_everywhere_get_placeholders() -> None:
    reply = accumulate(
        [ToolCallDelta(0, name="f", arguments="{}"), ToolCallDelta(3, name="g", arguments="{}")]
    )
    assert reply.tool_calls == (ToolCall("call_0", "f", "{}"), ToolCall("call_3", "g", "{}"))


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 17, "completion_tokens": 10, "total_tokens": 27}, Usage(17, 10)),
        ({"input_tokens": 5, "output_tokens": 6}, Usage(5, 6)),
        ({"prompt_tokens": 3}, Usage(3, None)),
        ({}, Usage(None, None)),
    ],
)
def test_openai_usage_only_chunk(usage: dict[str, int], expected: Usage) -> None:
    dec = OPENAI.new_decoder()
    assert dec.event(sse({"id": "gen-1", "choices": [], "usage": usage})) == [expected]


def test_openai_usage_null_is_ignored() -> None:
    dec = OPENAI.new_decoder()
    assert dec.event(sse({"choices": [], "usage": None})) == []


def test_openai_chunks_without_id_object_model() -> None:
    dec = OPENAI.new_decoder()
    assert dec.event(sse({"choices": [{"delta": {"content": "x"}}]})) == [TextDelta("x")]
    assert dec.event(sse({"choices": [{"index": None, "delta": {"content": "y"}}]})) == [
        TextDelta("y")
    ]
    assert dec.event(sse({})) == []
    assert dec.event(sse("[1, 2]")) == []


@pytest.mark.parametrize("data", ["[DONE]", " [DONE] ", "[DONE]\n"])
def test_openai_done(data: str) -> None:
    dec = OPENAI.new_decoder()
    assert not dec.done
    assert dec.event(oa_chunk({"content": "a"})) == [TextDelta("a")]
    assert dec.event(sse(data)) == [Finished(None)]
    assert dec.done
    # Anything after the end marker is ignored, even an error.
    assert dec.event(oa_chunk({"content": "late"})) == []
    assert dec.event(sse({"status": "error", "message": "late"})) == []
    assert dec.end() == []


def test_openai_done_carries_the_finish_reason() -> None:
    dec = OPENAI.new_decoder()
    assert feed(dec, [oa_chunk({"content": "a"}, finish="length"), sse("[DONE]")]) == [
        TextDelta("a"),
        Finished("length"),
    ]


def test_openai_empty_data_ignored() -> None:
    dec = OPENAI.new_decoder()
    assert dec.event(sse("")) == []
    assert dec.event(sse("  \n ")) == []


def test_openai_end_without_done_or_finish_reason_is_incomplete() -> None:
    dec = OPENAI.new_decoder()
    assert dec.event(oa_chunk({"content": "partial"})) == [TextDelta("partial")]
    with pytest.raises(IncompleteReply) as info:
        dec.end()
    assert info.value.exit_code == EXIT_NETWORK


def test_openai_end_with_finish_reason_but_no_done() -> None:
    dec = OPENAI.new_decoder()
    out = feed(dec, [oa_chunk({"content": "whole"}, finish="stop")])
    assert out == [TextDelta("whole"), Finished("stop")]
    assert dec.done
    assert dec.end() == []


def test_openai_finish_reason_empty_string_is_not_a_finish() -> None:
    dec = OPENAI.new_decoder()
    dec.event(oa_chunk({"content": "x"}, finish=""))
    with pytest.raises(IncompleteReply):
        dec.end()


# ============================================================================================
# Error shapes, in stream chunks and whole bodies
# ============================================================================================

ERROR_SHAPES = [
    pytest.param(
        {"status": "error", "message": "Provider returned error"},
        RequestRejected,
        "Provider returned error",
        id="status-message",
    ),
    pytest.param(
        {"status": "error", "messege": "Model not found: nope"},
        RequestRejected,
        "Model not found: nope",
        id="messege-typo",
    ),
    pytest.param({"status": "error"}, RequestRejected, "the service reported an error", id="bare"),
    pytest.param({"status": "failed", "message": "x"}, RequestRejected, "x", id="status-failed"),
    pytest.param(
        {"error": {"message": "bad request", "type": "invalid_request_error"}},
        RequestRejected,
        "bad request",
        id="openai-error-object",
    ),
    pytest.param({"error": "plain text"}, RequestRejected, "plain text", id="error-string"),
    pytest.param(
        {"error": {"code": "x"}, "message": "outer"}, RequestRejected, "outer", id="outer-message"
    ),
    pytest.param(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ServerError,
        "Overloaded",
        id="anthropic-overloaded",
    ),
    pytest.param(
        {"type": "error", "error": {"type": "api_error", "message": "boom"}},
        ServerError,
        "boom",
        id="anthropic-api-error",
    ),
    pytest.param(
        {"error": {"message": "upstream", "code": "server_error"}},
        ServerError,
        "upstream",
        id="server-error-code",
    ),
    pytest.param(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        RateLimited,
        "slow down",
        id="anthropic-rate-limit",
    ),
    pytest.param(
        {"status": "error", "message": "Rate limit exceeded. Maximum 5 queued requests allowed."},
        RateLimited,
        "Rate limit exceeded",
        id="rate-limit-words",
    ),
    pytest.param(
        {"type": "error", "error": {"type": "authentication_error", "message": "no"}},
        AuthError,
        "no",
        id="anthropic-auth",
    ),
    pytest.param(
        {"status": "error", "message": "Invalid API key"}, AuthError, "Invalid API key", id="key"
    ),
    pytest.param(
        {"error": {"message": {"nested": "detail"}}},
        RequestRejected,
        '{"nested": "detail"}',
        id="nested-message",
    ),
]


@pytest.mark.parametrize(("payload", "cls", "text"), ERROR_SHAPES)
def test_error_shapes_in_openai_stream(
    payload: dict[str, Any], cls: type[ApiError], text: str
) -> None:
    dec = OPENAI.new_decoder()
    dec.event(oa_chunk({"content": "before"}))
    with pytest.raises(cls) as info:
        dec.event(sse(payload))
    assert type(info.value) is cls
    assert text in info.value.message
    assert info.value.status == 200


@pytest.mark.parametrize(("payload", "cls", "text"), ERROR_SHAPES)
def test_error_shapes_in_anthropic_stream(
    payload: dict[str, Any], cls: type[ApiError], text: str
) -> None:
    dec = ANTHROPIC.new_decoder()
    with pytest.raises(cls) as info:
        dec.event(sse(payload, event="error"))
    assert type(info.value) is cls
    assert text in info.value.message


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
@pytest.mark.parametrize(("payload", "cls", "text"), ERROR_SHAPES)
def test_error_shapes_in_whole_replies(
    provider: Provider, payload: dict[str, Any], cls: type[ApiError], text: str
) -> None:
    with pytest.raises(cls) as info:
        whole(provider, payload)
    assert type(info.value) is cls
    assert text in info.value.message


def test_rate_limit_body_carries_retry_after() -> None:
    with pytest.raises(RateLimited) as info:
        raise_if_error({"status": "error", "message": "Rate limit exceeded", "retry_after": 30})
    assert info.value.retry_after == 30
    assert info.value.exit_code == EXIT_RATE_LIMITED
    assert "30" in (info.value.hint or "")


@pytest.mark.parametrize(
    "payload",
    [
        {"error": None, "choices": []},
        {"error": "", "choices": []},
        {"error": {}, "choices": []},
        {"error": False},
        {"status": "success"},
        {"status": 200},
        [1, 2],
        "text",
        None,
    ],
)
def test_not_errors(payload: Any) -> None:
    raise_if_error(payload)


def test_openai_error_event_name_marks_error() -> None:
    dec = OPENAI.new_decoder()
    with pytest.raises(RequestRejected, match="went wrong"):
        dec.event(sse({"message": "went wrong"}, event="error"))


def test_anthropic_error_event_without_type() -> None:
    dec = ANTHROPIC.new_decoder()
    with pytest.raises(RequestRejected, match="went wrong"):
        dec.event(sse({"message": "went wrong"}, event="error"))


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
@pytest.mark.parametrize("data", ["{not json", '{"choices": [', "nan-sense"])
def test_malformed_json_is_protocol_error(provider: Provider, data: str) -> None:
    dec = provider.new_decoder()
    with pytest.raises(ProtocolError) as info:
        dec.event(sse(data))
    assert info.value.exit_code == EXIT_NETWORK


# ============================================================================================
# Anthropic stream decoding
# ============================================================================================


def an(event: str, **body: Any) -> SSEEvent:
    return sse({"type": event, **body}, event=event)


def block_start(index: int, block: dict[str, Any]) -> SSEEvent:
    return an("content_block_start", index=index, content_block=block)


def block_delta(index: int, delta: dict[str, Any]) -> SSEEvent:
    return an("content_block_delta", index=index, delta=delta)


def message_start(input_tokens: int = 15) -> SSEEvent:
    return an(
        "message_start",
        message={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": MODEL,
            "stop_reason": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        },
    )


def message_delta(reason: str | None, output_tokens: int | None = 30) -> SSEEvent:
    body: dict[str, Any] = {"delta": {"stop_reason": reason, "stop_sequence": None}}
    if output_tokens is not None:
        body["usage"] = {"output_tokens": output_tokens}
    return an("message_delta", **body)


def test_anthropic_stream_full() -> None:
    events = [
        message_start(),
        an("ping"),
        block_start(0, {"type": "thinking", "thinking": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
        block_delta(0, {"type": "thinking_delta", "thinking": "think."}),
        block_delta(0, {"type": "signature_delta", "signature": "abc"}),
        an("content_block_stop", index=0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "text_delta", "text": "héllo "}),
        an("ping"),
        block_delta(1, {"type": "text_delta", "text": "世界 🎉"}),
        block_delta(1, {"type": "text_delta", "text": ""}),
        an("content_block_stop", index=1),
        block_start(2, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        block_delta(2, {"type": "input_json_delta", "partial_json": ""}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '{"location": '}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        an("content_block_stop", index=2),
        block_start(3, {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}),
        block_delta(3, {"type": "input_json_delta", "partial_json": "{}"}),
        an("content_block_stop", index=3),
        message_delta("tool_use"),
        an("message_stop"),
    ]
    dec = ANTHROPIC.new_decoder()
    out = feed(dec, events)
    assert dec.done
    assert out == [
        Usage(15, None),
        ReasoningDelta("Let me "),
        ReasoningDelta("think."),
        TextDelta("héllo "),
        TextDelta("世界 🎉"),
        ToolCallDelta(0, "toolu_1", "get_weather", ""),
        ToolCallDelta(0, None, None, ""),
        ToolCallDelta(0, None, None, '{"location": '),
        ToolCallDelta(0, None, None, '"Paris"}'),
        ToolCallDelta(1, "toolu_2", "get_time", ""),
        ToolCallDelta(1, None, None, "{}"),
        Usage(None, 30),
        Finished("tool_calls"),
    ]
    reply = accumulate(out)
    assert reply.text == "héllo 世界 🎉"
    assert reply.reasoning == "Let me think."
    assert reply.tool_calls == (
        ToolCall("toolu_1", "get_weather", '{"location": "Paris"}'),
        ToolCall("toolu_2", "get_time", "{}"),
    )
    assert reply.usage == Usage(15, 30)
    assert reply.usage.total_tokens == 45
    assert reply.finish_reason == "tool_calls"
    assert reply.finished


def test_anthropic_text_in_block_start() -> None:
    dec = ANTHROPIC.new_decoder()
    assert dec.event(block_start(0, {"type": "text", "text": "already"})) == [TextDelta("already")]
    assert dec.event(block_start(1, {"type": "thinking", "thinking": "hm"})) == [
        ReasoningDelta("hm")
    ]


def test_anthropic_tool_input_given_whole() -> None:
    dec = ANTHROPIC.new_decoder()
    out = feed(
        dec,
        [
            block_start(0, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": [1]}}),
            an("content_block_stop", index=0),
            message_delta("tool_use", None),
            an("message_stop"),
        ],
    )
    assert accumulate(out).tool_calls == (ToolCall("t", "f", '{"a": [1]}'),)


def test_anthropic_input_json_delta_without_block_start_is_broken() -> None:
    dec = ANTHROPIC.new_decoder()
    with pytest.raises(ProtocolError, match="content block 4, which was never started"):
        dec.event(block_delta(4, {"type": "input_json_delta", "partial_json": '{"x"'}))


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
    ],
)
def test_anthropic_stop_reasons(stop_reason: str | None, finish: str | None) -> None:
    dec = ANTHROPIC.new_decoder()
    out = feed(dec, [message_start(), message_delta(stop_reason), an("message_stop")])
    assert out[-1] == Finished(finish)
    body = whole(ANTHROPIC, {"type": "message", "content": [], "stop_reason": stop_reason})
    assert body[-1] == Finished(finish)


def test_anthropic_unknown_events_and_deltas_ignored() -> None:
    dec = ANTHROPIC.new_decoder()
    events = [
        an("ping"),
        an("something_new", payload=1),
        block_start(0, {"type": "server_tool_use", "id": "s"}),
        block_start(1, {"type": "redacted_thinking", "data": "xx"}),
        block_delta(1, {"type": "citations_delta", "citation": {}}),
        block_delta(1, {"type": "text_delta", "text": 5}),
        block_delta(1, {}),
        sse(""),
        sse("[1]"),
        sse({"no": "type"}, event="message"),
    ]
    assert feed(dec, events, end=False) == []
    assert not dec.done


def test_anthropic_events_after_message_stop_ignored() -> None:
    dec = ANTHROPIC.new_decoder()
    feed(dec, [message_delta("end_turn"), an("message_stop")], end=False)
    assert dec.done
    assert dec.event(block_delta(0, {"type": "text_delta", "text": "late"})) == []
    assert dec.event(an("error", error={"type": "overloaded_error", "message": "x"})) == []
    assert dec.end() == []


def test_anthropic_type_from_event_line_when_body_lacks_it() -> None:
    dec = ANTHROPIC.new_decoder()
    dec.event(block_start(0, {"type": "text", "text": ""}))
    ev = SSEEvent(
        json.dumps({"index": 0, "delta": {"type": "text_delta", "text": "x"}}),
        event="content_block_delta",
    )
    assert dec.event(ev) == [TextDelta("x")]


def test_anthropic_message_delta_usage_variants() -> None:
    dec = ANTHROPIC.new_decoder()
    assert dec.event(an("message_delta", delta={})) == []
    assert dec.event(an("message_delta", delta={}, usage={"input_tokens": 3})) == [Usage(3, None)]
    assert dec.event(an("message_delta", delta={}, usage={"x": 1})) == []
    assert dec.event(an("message_start", message={})) == []


def test_anthropic_end_without_message_stop() -> None:
    dec = ANTHROPIC.new_decoder()
    dec.event(message_start())
    dec.event(block_start(0, {"type": "text", "text": ""}))
    dec.event(block_delta(0, {"type": "text_delta", "text": "partial"}))
    with pytest.raises(IncompleteReply):
        dec.end()


def test_anthropic_end_with_stop_reason_but_no_message_stop() -> None:
    dec = ANTHROPIC.new_decoder()
    dec.event(block_start(0, {"type": "text", "text": ""}))
    dec.event(block_delta(0, {"type": "text_delta", "text": "whole"}))
    dec.event(message_delta("max_tokens"))
    assert dec.end() == [Finished("length")]
    assert dec.done
    assert dec.end() == []


def test_anthropic_error_after_content() -> None:
    dec = ANTHROPIC.new_decoder()
    dec.event(block_start(0, {"type": "text", "text": ""}))
    assert dec.event(block_delta(0, {"type": "text_delta", "text": "a"})) == [TextDelta("a")]
    with pytest.raises(ServerError) as info:
        dec.event(an("error", error={"type": "overloaded_error", "message": "Overloaded"}))
    assert info.value.kind == "overloaded_error"
    assert info.value.exit_code == EXIT_NETWORK


# ============================================================================================
# decode_response (non-streaming)
# ============================================================================================


def test_openai_decode_response_documented() -> None:
    payload = {
        "id": "chat-abc123",
        "object": "chat.completion",
        "created": 1712345678,
        "model": "qwen3.5-122b-a10b",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The capital of France is Paris.",
                    "reasoning_content": "Easy.",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 25, "completion_tokens": 8, "total_tokens": 33},
    }
    assert whole(OPENAI, payload) == [
        ReasoningDelta("Easy."),
        TextDelta("The capital of France is Paris."),
        Usage(25, 8),
        Finished("stop"),
    ]


def test_openai_decode_response_tool_calls() -> None:
    payload = {
        "id": "chat-abc123",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc123",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location": "San Francisco, CA"}',
                            },
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    out = whole(OPENAI, payload)
    assert out == [
        ToolCallDelta(0, "call_abc123", "get_weather", '{"location": "San Francisco, CA"}'),
        Finished("tool_calls"),
    ]
    assert accumulate(out).tool_calls == (
        ToolCall("call_abc123", "get_weather", '{"location": "San Francisco, CA"}'),
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"content": [{"text": "Hello"}, {"type": "text", "text": "!"}]}, [TextDelta("Hello!")]),
        ({"content": None}, []),
        ({"content": ""}, []),
        ({"reasoning": "r"}, [ReasoningDelta("r")]),
    ],
)
def test_openai_decode_response_content_shapes(
    message: dict[str, Any], expected: list[StreamEvent]
) -> None:
    payload = {"choices": [{"message": message, "finish_reason": "stop"}]}
    assert whole(OPENAI, payload) == [*expected, Finished("stop")]


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"id": "gen-1", "choices": []}, "the reply has no choices"),
        ({"id": "gen-1"}, "the reply has no choices"),
        ({"message": "Provider returned error"}, "Provider returned error"),
        ({"choices": None}, "the reply has no choices"),
        ([], "the reply has no choices"),
        (None, "the reply has no choices"),
    ],
)
def test_openai_decode_response_no_choices(payload: Any, text: str) -> None:
    with pytest.raises(RequestRejected) as info:
        whole(OPENAI, payload)
    assert text in info.value.message
    assert info.value.exit_code == EXIT_REJECTED


def test_anthropic_decode_response_documented() -> None:
    payload = {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Hmm."},
            {"type": "text", "text": "The capital of France is Paris."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"l": "SF"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time"},
            {"type": "unknown_block"},
            "junk",
        ],
        "model": MODEL,
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 15, "output_tokens": 8},
    }
    out = whole(ANTHROPIC, payload)
    assert out == [
        ReasoningDelta("Hmm."),
        TextDelta("The capital of France is Paris."),
        ToolCallDelta(0, "toolu_1", "get_weather", '{"l": "SF"}'),
        ToolCallDelta(1, "toolu_2", "get_time", "{}"),
        Usage(15, 8),
        Finished("stop"),
    ]


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"id": "msg_1", "type": "message"}, "the reply has no content"),
        ({"content": "a string"}, "the reply has no content"),
        ({"message": "upstream says no"}, "upstream says no"),
        (None, "the reply has no content"),
    ],
)
def test_anthropic_decode_response_no_content(payload: Any, text: str) -> None:
    with pytest.raises(RequestRejected, match=text):
        whole(ANTHROPIC, payload)


# ============================================================================================
# common: http_error, retry_after, decode_models, decode_count
# ============================================================================================


@pytest.mark.parametrize(
    ("status", "cls", "exit_code"),
    [
        (400, RequestRejected, EXIT_REJECTED),
        (402, RequestRejected, EXIT_REJECTED),
        (404, RequestRejected, EXIT_REJECTED),
        (413, RequestRejected, EXIT_REJECTED),
        (422, RequestRejected, EXIT_REJECTED),
        (401, AuthError, EXIT_CONFIG),
        (403, AuthError, EXIT_CONFIG),
        (429, RateLimited, EXIT_RATE_LIMITED),
        (408, ServerError, EXIT_NETWORK),
        (500, ServerError, EXIT_NETWORK),
        (502, ServerError, EXIT_NETWORK),
        (503, ServerError, EXIT_NETWORK),
        (504, ServerError, EXIT_NETWORK),
        (529, ServerError, EXIT_NETWORK),
    ],
)
def test_http_error_status_mapping(status: int, cls: type[ApiError], exit_code: int) -> None:
    body = json.dumps({"status": "error", "message": "Something happened"}).encode()
    err = http_error(status, {"Content-Type": "application/json"}, body)
    assert type(err) is cls
    assert err.exit_code == exit_code
    assert err.status == status
    assert err.message == f"HTTP {status}: Something happened"


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, "Invalid API key", KEY_HINT),
        (402, "Insufficient credits.", "add credits in your ModelsLab dashboard"),
        (400, "Insufficient credits.", "add credits in your ModelsLab dashboard"),
        (404, "nope", "no such API path: check the base URL (--base-url or MODELSLAB_BASE_URL)"),
        (404, "Model not found", "run `mlchat models` to see the available model ids"),
        (400, "unknown model: x", "run `mlchat models` to see the available model ids"),
        (400, "Model not found: x", "run `mlchat models` to see the available model ids"),
        (413, "too big", "the prompt is too large for this model"),
        (400, "prompt is required", None),
    ],
)
def test_http_error_hints(status: int, message: str, hint: str | None) -> None:
    err = http_error(status, {}, json.dumps({"status": "error", "message": message}).encode())
    assert err.hint == hint


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {"status": "error", "message": "Rate limit", "retry_after": 30}, 30.0),
        ({}, {"status": "error", "message": "Rate limit", "retry_after": 2.5}, 2.5),
        ({"retry-after-ms": "1500"}, {"status": "error"}, 1.5),
        ({"Retry-After": "7"}, {"status": "error"}, 7.0),
        ({"retry-after": "0"}, {"status": "error"}, 0.0),
        ({"Retry-After": "-3"}, {"status": "error"}, None),  # a negative wait means nothing
        ({"Retry-After": "soon"}, {"status": "error"}, None),
        ({}, {"status": "error", "retry_after": "30"}, 30.0),  # numeric strings are accepted
        ({}, {"status": "error", "retry_after": True}, None),
        ({}, {"status": "error", "retry_after": -1}, None),
        ({}, {"status": "error"}, None),
        # The body wins over headers; milliseconds win over seconds.
        ({"Retry-After": "99"}, {"status": "error", "retry_after": 3}, 3.0),
        ({"Retry-After": "99", "Retry-After-Ms": "250"}, {"status": "error"}, 0.25),
        ({"Retry-After-Ms": "x", "Retry-After": "4"}, {"status": "error"}, 4.0),
    ],
)
def test_http_error_429_retry_after(
    headers: dict[str, str], body: dict[str, Any], expected: float | None
) -> None:
    err = http_error(429, headers, json.dumps(body).encode())
    assert isinstance(err, RateLimited)
    assert err.retry_after == expected
    assert err.exit_code == EXIT_RATE_LIMITED


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    wait = retry_after({"Retry-After": format_datetime(when, usegmt=True)})
    assert wait is not None and 115 <= wait <= 121
    past = datetime.now(UTC) - timedelta(hours=1)
    assert retry_after({"Retry-After": format_datetime(past, usegmt=True)}) == 0.0
    err = http_error(503, {"Retry-After": format_datetime(when, usegmt=True)}, b"")
    assert isinstance(err, ServerError)
    assert err.retry_after is not None and 115 <= err.retry_after <= 121


HTML_PAGE = (
    b"""<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>502 Bad
     Gateway &amp; friends</title>
  <style>body { font-family: sans-serif; }</style>
  <script>var secret = "do not show";</script>
</head>
<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p>
"""
    + b"<p>filler</p>\n" * 500
    + b"</body></html>"
)


@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        (HTML_PAGE, "text/html; charset=utf-8", "HTTP 502: 502 Bad Gateway & friends"),
        (HTML_PAGE, "", "HTTP 502: 502 Bad Gateway & friends"),
        (
            b"<html><body><h1>Service <b>Unavailable</b></h1><p>x</p></body></html>",
            "text/html",
            "HTTP 502: Service Unavailable",
        ),
        (
            b"<html><style>p{}</style><body><p>Just   text\nhere</p></body></html>",
            "text/html",
            "HTTP 502: Just text here",
        ),
        (b"<html></html>", "text/html", "HTTP 502: an HTML page"),
        (
            b"upstream connect error\nor disconnect",
            "text/plain",
            "HTTP 502: upstream connect error or disconnect",
        ),
        (b"", "", "HTTP 502 with an empty body"),
        (b"   \n", "text/plain", "HTTP 502 with an empty body"),
        (b'{"detail": "no"}', "application/json", 'HTTP 502: {"detail": "no"}'),
        (b"{broken json", "application/json", "HTTP 502: {broken json"),
    ],
)
def test_http_error_bodies_summarised(body: bytes, ctype: str, expected: str) -> None:
    err = http_error(502, {"Content-Type": ctype}, body)
    assert isinstance(err, ServerError)
    assert err.message == expected
    assert "\n" not in err.message
    assert "filler" not in err.message and "secret" not in err.message


def test_http_error_long_text_truncated() -> None:
    err = http_error(400, {}, b"x" * 5000)
    assert "\n" not in err.message
    assert len(err.message) <= 320
    assert err.message.endswith("…")


def test_http_error_with_status_200() -> None:
    err = http_error(200, {"Content-Type": "text/html"}, b"<title>Login required</title>")
    assert err.message == "the service: Login required"
    assert err.status == 200


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {
                "object": "list",
                "data": [
                    {
                        "id": "Qwen/Qwen2.5-VL",
                        "object": "model",
                        "created": 1712345678,
                        "owned_by": "Qwen",
                    },
                    {
                        "id": "meta-llama/Llama-3.1-70B-Instruct",
                        "object": "model",
                        "owned_by": "Meta",
                    },
                ],
            },
            [
                ModelInfo("Qwen/Qwen2.5-VL", "Qwen", 1712345678, None),
                ModelInfo("meta-llama/Llama-3.1-70B-Instruct", "Meta", None, None),
            ],
        ),
        (
            {
                "data": [
                    {
                        "type": "model",
                        "id": "claude-like",
                        "display_name": "Claude Like",
                        "created_at": "2025-02-19T00:00:00Z",
                    }
                ],
                "has_more": False,
                "first_id": "claude-like",
                "last_id": "claude-like",
            },
            [ModelInfo("claude-like", None, 1739923200, "Claude Like")],
        ),
        (
            {
                "data": [
                    {
                        "id": "m",
                        "owned_by": "x",
                        "context_length": 1000000,
                        "pricing": {"input": 0.4},
                        "capabilities": ["tools"],
                    }
                ]
            },
            [ModelInfo("m", "x", None, None, 1000000)],
        ),
        (
            {"data": {"items": [{"model_id": "slug", "provider": "p", "name": "Slug"}]}},
            [ModelInfo("slug", "p", None, "Slug")],
        ),
        (
            {
                "data": [
                    {"id": "ok"},
                    {"id": ""},
                    {"id": 5},
                    {"owned_by": "no id"},
                    None,
                    7,
                    ["list"],
                    "bare-id",
                    {"id": "dates", "created": True, "created_at": "not a date"},
                    {"id": "typed", "owned_by": 3, "display_name": ["x"]},
                ]
            },
            [
                ModelInfo("ok"),
                ModelInfo("bare-id"),
                ModelInfo("dates"),
                ModelInfo("typed"),
            ],
        ),
        ([{"id": "top-level-list"}], [ModelInfo("top-level-list")]),
        ({"data": []}, []),
    ],
)
def test_decode_models(payload: Any, expected: list[ModelInfo]) -> None:
    assert decode_models(payload) == expected


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({"object": "list"}, ProtocolError),
        ({"data": "nope"}, ProtocolError),
        (None, ProtocolError),
        ({"status": "error", "message": "Invalid API key"}, AuthError),
        ({"error": {"message": "down", "type": "api_error"}}, ServerError),
    ],
)
def test_decode_models_errors(payload: Any, cls: type[Exception]) -> None:
    with pytest.raises(cls):
        decode_models(payload)


def test_decode_count() -> None:
    assert decode_count({"input_tokens": 15}) == 15
    assert decode_count({"input_tokens": 0, "extra": 1}) == 0


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({}, ProtocolError),
        ({"input_tokens": "15"}, ProtocolError),
        ({"input_tokens": True}, ProtocolError),
        ({"input_tokens": 1.5}, ProtocolError),
        (None, ProtocolError),
        ({"status": "error", "message": "bad"}, RequestRejected),
    ],
)
def test_decode_count_errors(payload: Any, cls: type[Exception]) -> None:
    with pytest.raises(cls):
        decode_count(payload)


def test_openai_stream_tool_calls_without_index_across_chunks() -> None:
    # Gemini behind OpenAI-compatible proxies omits `index`: each call arrives whole in its own
    # chunk, or as an id-carrying head followed by index-less argument fragments.
    events = [
        oa_chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}}]}),
        oa_chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": ""}}]}),
        oa_chunk({"tool_calls": [{"function": {"arguments": '{"y":'}}]}),
        oa_chunk({"tool_calls": [{"id": "b", "function": {"arguments": " 2}"}}]}),
        oa_chunk({}, finish="tool_calls"),
        sse("[DONE]"),
    ]
    reply = accumulate(feed(OPENAI.new_decoder(), events))
    assert reply.tool_calls == (ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", '{"y": 2}'))


def test_openrouter_numeric_error_code_in_a_stream_is_a_server_error() -> None:
    # OpenRouter relays the upstream's status as error.code inside an HTTP 200 stream.
    decoder = get_provider("openai").new_decoder()
    chunk = {"error": {"code": 502, "message": "Upstream error"}, "choices": []}
    with pytest.raises(ServerError) as caught:
        decoder.event(SSEEvent(json.dumps(chunk)))
    assert caught.value.status == 502 and caught.value.exit_code == 6
