"""Property-based tests of everything that reads the wire: random bytes, random chunkings and
mutated real chunks (wrong types, nulls, huge numbers, deep nesting, lone surrogates, unknown
fields and block types, events dropped, repeated or out of order) go through the SSE decoder and
both dialects' decoders, streamed and whole, and on through what consumes a reply (`--json`, the
one-line tool displays, the request that sends the turn back). The property: a reply, or one of
mlchat's own typed errors (MlchatError), never anything else.

Profiles: `ci` (the default) runs few examples, within a few seconds in all; `thorough` many:
    HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest -q tests/test_wire_fuzz.py
"""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlchat.errors import MlchatError, ProtocolError
from mlchat.providers import get_provider
from mlchat.providers.anthropic import messages_json
from mlchat.runtime import Runtime
from mlchat.session import Reply
from mlchat.sse import SSEDecoder, SSEEvent
from mlchat.types import ChatRequest, Dialect, Message, Params
from mlchat.ui.toolcalls import show_call, show_server_tool

_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile(
    "ci", max_examples=15, deadline=None, database=None, suppress_health_check=_QUIET
)
settings.register_profile(
    "thorough",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "3000")),
    deadline=None,
    database=None,
    suppress_health_check=_QUIET,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DIALECTS: list[Dialect] = ["openai", "anthropic"]
Draw = Callable[[st.SearchStrategy[Any]], Any]

# -- real chunks, as the services send them -------------------------------------------------------

OPENAI_STREAM: list[Any] = [
    {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-x",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ],
    },
    {"choices": [{"index": 0, "delta": {"reasoning_content": "Let me think."}}]},
    {"choices": [{"index": 0, "delta": {"content": "Hello "}}]},
    {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "world"}]}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city"'},
                        }
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ': "P"}'}}]},
            }
        ]
    },
    {"choices": [{"index": 0, "delta": {"refusal": "I can't."}}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {
        "choices": [],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    },
    "[DONE]",
]

ANTHROPIC_STREAM: list[Any] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 1, "cache_read_input_tokens": 34, "output_tokens": 1},
        },
    },
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Hmm."},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "s"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi "}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "citations_delta", "citation": {"type": "web_search_result_location"}},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {
            "type": "server_tool_use",
            "id": "srv_1",
            "name": "web_search",
            "input": {},
        },
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"query": '},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '"weather"}'},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "content_block_start",
        "index": 3,
        "content_block": {
            "type": "web_search_tool_result",
            "tool_use_id": "srv_1",
            "content": [{"type": "web_search_result", "url": "https://x", "title": "X"}],
        },
    },
    {"type": "content_block_stop", "index": 3},
    {
        "type": "content_block_start",
        "index": 4,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 4,
        "delta": {"type": "input_json_delta", "partial_json": '{"a": 1}'},
    },
    {"type": "content_block_stop", "index": 4},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 9},
    },
    {"type": "message_stop"},
]

OPENAI_WHOLE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello",
                "reasoning_content": "think",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get", "arguments": '{"a": 1}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}

ANTHROPIC_WHOLE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [
        {"type": "thinking", "thinking": "Hmm", "signature": "s"},
        {"type": "text", "text": "Hi"},
        {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}},
        {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
        {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"a": 1}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 5, "output_tokens": 6, "cache_creation_input_tokens": 2},
}

STREAMS = {"openai": OPENAI_STREAM, "anthropic": ANTHROPIC_STREAM}
WHOLES = {"openai": OPENAI_WHOLE, "anthropic": ANTHROPIC_WHOLE}

# -- hostile values --------------------------------------------------------------------------------

# Values JSON cannot carry through json.dumps are markers, swapped for their raw text afterwards.
RAW = {
    "@@HUGE@@": "9" * 5000,  # over Python's 4,300-digit int() limit
    "@@NEGHUGE@@": "-" + "7" * 400,
    "@@BIGFLOAT@@": "1e400",  # json.loads makes it inf
    "@@NAN@@": "NaN",
    "@@INF@@": "-Infinity",
    "@@DEEP@@": "[" * 5000 + "]" * 5000,
    "@@DEEPOBJ@@": '{"a":' * 3000 + "1" + "}" * 3000,
    "@@NEST200@@": "[" * 200 + "]" * 200,  # deeper than mlchat's limit, within Python's
}

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "\x1b[31m", "\u202e", "\x00"]),
    st.sampled_from(list(RAW)),
    # The same as text, where JSON text is expected (tool arguments, partial_json).
    st.sampled_from(list(RAW.values())),
    st.sampled_from(['{"a": ', '{"a": 1}', "[1, 2]", '"s"', "1e999", '{"query": "\\ud800"}']),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
# Names the decoders look at, so mutations hit the fields that matter more often than chance.
FIELDS = [
    "type", "index", "delta", "content", "content_block", "text", "thinking", "partial_json",
    "input", "id", "name", "tool_calls", "function", "arguments", "choices", "finish_reason",
    "stop_reason", "usage", "model", "message", "error", "status", "refusal", "reasoning",
    "reasoning_content", "input_tokens", "output_tokens", "prompt_tokens", "completion_tokens",
    "cache_read_input_tokens", "prompt_tokens_details", "cached_tokens", "retry_after", "code",
    "tool_use_id",
]  # fmt: skip
TYPES = [
    "text", "thinking", "tool_use", "server_tool_use", "mcp_tool_use", "web_search_tool_result",
    "tool_result", "redacted_thinking", "text_delta", "input_json_delta", "thinking_delta",
    "citations_delta", "error", "message_start", "message_stop", "content_block_start",
    "content_block_delta", "content_block_stop", "message_delta", "image", "future_block",
]  # fmt: skip


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def mutate(draw: Draw, doc: Any) -> Any:
    """One change to a JSON document: a value replaced (by any hostile value), a key deleted or
    added, a `type` made unknown."""
    doc = copy.deepcopy(doc)
    path = draw(st.sampled_from(_paths(doc)))
    how = draw(st.sampled_from(["replace", "delete", "add", "retype"]))
    node = doc
    for step in path:
        node = node[step]
    if how == "delete" and path:
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
        return doc
    if how == "add" and isinstance(node, dict):
        node[draw(st.sampled_from([*FIELDS, "x_unknown"]))] = draw(json_values)
        return doc
    if how == "retype" and isinstance(node, dict):
        node["type"] = draw(st.sampled_from(TYPES))
        return doc
    return _set(doc, path, draw(json_values))


def dumps(doc: Any) -> str:
    text = json.dumps(doc)
    for marker, raw in RAW.items():
        text = text.replace(f'"{marker}"', raw)
    return text


def sse_bytes(dialect: Dialect, events: list[Any]) -> bytes:
    out = []
    for doc in events:
        if doc == "[DONE]":
            out.append("data: [DONE]\n\n")
            continue
        data = dumps(doc)
        name = doc.get("type") if isinstance(doc, dict) else None
        if dialect == "anthropic" and isinstance(name, str):
            out.append(f"event: {name}\ndata: {data}\n\n")
        else:
            out.append(f"data: {data}\n\n")
    return "".join(out).encode("utf-8", errors="surrogatepass")


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut at random places (often one byte at a time at the start, where the BOM and
    the first field are)."""
    if not data:
        return [b""]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=30))))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


@st.composite
def mutated_streams(draw: st.DrawFn, dialect: Dialect) -> list[Any]:
    events: list[Any] = copy.deepcopy(STREAMS[dialect])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["value", "value", "drop", "repeat", "swap", "foreign"]))
        i = draw(st.integers(0, len(events) - 1))
        if how == "value" and events[i] != "[DONE]":
            events[i] = mutate(draw, events[i])
        elif how == "drop" and len(events) > 1:
            del events[i]
        elif how == "repeat":
            events.insert(i, copy.deepcopy(events[i]))
        elif how == "swap":
            j = draw(st.integers(0, len(events) - 1))
            events[i], events[j] = events[j], events[i]
        elif how == "foreign":
            other = STREAMS["anthropic" if dialect == "openai" else "openai"]
            events.insert(i, copy.deepcopy(draw(st.sampled_from(other))))
    return events


# -- what a reply goes through -------------------------------------------------------------------


def stream(dialect: Dialect, chunks: list[bytes], max_event: int | None = None) -> Reply:
    """The client's streaming path without the socket: bytes -> SSE events -> stream events ->
    the reply."""
    provider = get_provider(dialect)
    decoder = provider.new_decoder()
    sse = SSEDecoder(max_event) if max_event else SSEDecoder()
    reply = Reply()

    def take(events: list[SSEEvent]) -> bool:
        for ev in events:
            for out in decoder.event(ev):
                reply.add(out)
            if decoder.done:
                return True
        return False

    for chunk in chunks:
        if take(sse.feed(chunk)):
            return reply
    if not take(sse.close()):
        for out in decoder.end():
            reply.add(out)
    return reply


def whole(dialect: Dialect, text: str) -> Reply:
    from mlchat.providers.common import loads

    reply = Reply()
    for ev in get_provider(dialect).decode_response(loads(text)):
        reply.add(ev)
    return reply


def consume(reply: Reply) -> None:
    """Everything downstream of the decoders that reads a reply: the `--json` document (as
    UTF-8, as stdout takes it), the one-line tool displays, and the turn sent back in both
    dialects."""
    json.dumps(reply.to_json("asked"), ensure_ascii=False).encode("utf-8")
    err = io.StringIO()
    rt = Runtime(env={}, stdout=io.StringIO(), stderr=err, stdout_tty=False, stderr_tty=False)
    for call in reply.tool_calls:
        show_call(rt, call)
    for tool in reply.server_tools:
        show_server_tool(rt, tool)
    err.getvalue().encode("utf-8")
    messages = (Message("user", "hi"), reply.message())
    for dialect in DIALECTS:
        req = ChatRequest(model="m", messages=messages, params=Params(), stream=True)
        body = get_provider(dialect).build_request(req, "k").json
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    json.dumps(messages_json(messages)).encode("utf-8")


def only_typed_errors(run: Callable[[], Reply]) -> Reply | MlchatError:
    try:
        reply = run()
    except MlchatError as exc:
        assert exc.message and "\n" not in exc.message
        exc.message.encode("utf-8")
        return exc
    consume(reply)
    return reply


# -- the properties --------------------------------------------------------------------------------


@given(data=st.binary(max_size=300), cut=st.data())
def test_sse_decoder_takes_any_bytes_in_any_chunking(data: bytes, cut: st.DataObject) -> None:
    decoder = SSEDecoder()
    whole_events = decoder.feed(data) + decoder.close()
    decoder = SSEDecoder()
    pieces: list[SSEEvent] = []
    for chunk in cut.draw(chunkings(data)):
        pieces += decoder.feed(chunk)
    pieces += decoder.close()
    assert pieces == whole_events  # chunking never changes what the stream says
    for ev in pieces:
        ev.data.encode("utf-8")
        ev.event.encode("utf-8")


@given(
    data=st.lists(
        st.sampled_from(
            [b"data: x", b"data:", b"retry: 5", b"event: e", b"id: 1", b":c", b"\r", b"\n", b"\r\n"]
        ),
        max_size=40,
    ).map(b"".join),
    cut=st.data(),
)
def test_sse_framing_is_independent_of_chunking(data: bytes, cut: st.DataObject) -> None:
    decoder = SSEDecoder()
    expected = decoder.feed(data) + decoder.close()
    decoder = SSEDecoder()
    got: list[SSEEvent] = []
    for chunk in cut.draw(chunkings(data)):
        got += decoder.feed(chunk)
    got += decoder.close()
    assert got == expected


@given(
    data=st.binary(min_size=70, max_size=400).map(
        lambda b: b.translate(bytes.maketrans(b"\r\n", b"xx"))
    ),
    cut=st.data(),
)
def test_sse_size_limit_is_a_protocol_error(data: bytes, cut: st.DataObject) -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(ProtocolError):  # an mlchat error (exit 6), however the bytes are cut
        for chunk in cut.draw(chunkings(b"data: " + data + b"\n")):
            decoder.feed(chunk)
        decoder.close()


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.binary(max_size=400), cut=st.data())
def test_random_bytes_through_a_decoder(dialect: Dialect, data: bytes, cut: st.DataObject) -> None:
    only_typed_errors(lambda: stream(dialect, cut.draw(chunkings(data))))


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_random_json_events_through_a_decoder(dialect: Dialect, data: st.DataObject) -> None:
    events = data.draw(st.lists(json_values, max_size=6))
    body = sse_bytes(dialect, [*events, "[DONE]"] if dialect == "openai" else events)
    only_typed_errors(lambda: stream(dialect, data.draw(chunkings(body))))


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_real_stream_in_any_chunking_means_the_same(dialect: Dialect, data: st.DataObject) -> None:
    body = sse_bytes(dialect, STREAMS[dialect])
    expected = stream(dialect, [body])
    got = stream(dialect, data.draw(chunkings(body)))
    assert got.to_json("m") == expected.to_json("m")
    assert got.finished and got.text


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_mutated_real_stream_gives_a_reply_or_a_typed_error(
    dialect: Dialect, data: st.DataObject
) -> None:
    body = sse_bytes(dialect, data.draw(mutated_streams(dialect)))
    only_typed_errors(lambda: stream(dialect, data.draw(chunkings(body))))


@pytest.mark.parametrize("dialect", DIALECTS)
@given(data=st.data())
def test_mutated_whole_reply_gives_a_reply_or_a_typed_error(
    dialect: Dialect, data: st.DataObject
) -> None:
    doc = WHOLES[dialect]
    for _ in range(data.draw(st.integers(1, 3))):
        doc = mutate(data.draw, doc)
    only_typed_errors(lambda: whole(dialect, dumps(doc)))


HOSTILE = [*RAW, *RAW.values()]  # each raw value as JSON, and as a string where text goes


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("value", range(len(HOSTILE)))
def test_every_hostile_value_at_every_place_of_a_real_reply(dialect: Dialect, value: int) -> None:
    """Each hostile value at each place of a real stream and a real whole reply,
    deterministically (the random tests may miss a combination)."""
    hostile = HOSTILE[value]
    for i, doc in enumerate(STREAMS[dialect]):
        for path in _paths(doc)[1:] if doc != "[DONE]" else []:
            events = copy.deepcopy(STREAMS[dialect])
            events[i] = _set(events[i], path, hostile)
            body = sse_bytes(dialect, events)
            only_typed_errors(lambda b=body: stream(dialect, [b]))  # type: ignore[misc]
    for path in _paths(WHOLES[dialect])[1:]:
        text = dumps(_set(copy.deepcopy(WHOLES[dialect]), path, hostile))
        only_typed_errors(lambda t=text: whole(dialect, t))  # type: ignore[misc]
