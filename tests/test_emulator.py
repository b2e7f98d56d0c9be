"""Tests of the ModelsLab emulator itself, with plain sync httpx over real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.emulator import DEFAULT_MODELS, Emulator, Reply, count_prompt_tokens

REPO = Path(__file__).resolve().parent.parent

MESSAGES = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "What is the capital of France?"},
]
TOOL = {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(server: Emulator) -> Iterator[Emulator]:
    server.reset()
    server.models = [dict(m) for m in DEFAULT_MODELS]
    yield server
    server.reset()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # One client for the module: creating one costs ~30 ms (TLS context), even for plain HTTP.
    with httpx.Client(timeout=5.0) as c:
        yield c


def parse_sse(raw: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """Strict little SSE parser: returns (events, comments); checks the framing as it goes."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-40:]!r}"
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    for block in text[:-2].split("\n\n"):
        assert block, "empty SSE block (three newlines in a row)"
        event: dict[str, Any] = {"event": None, "data": []}
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("event: "):
                event["event"] = line[len("event: ") :]
            elif line.startswith("data: "):
                event["data"].append(line[len("data: ") :])
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        if event["data"]:
            event["data"] = "\n".join(event["data"])
            events.append(event)
        else:
            assert event["event"] is None, "event: line without data"
    return events, comments


def post_stream(
    client: httpx.Client, url: str, body: dict[str, Any]
) -> tuple[httpx.Response, bytes]:
    with client.stream("POST", url, json=body) as response:
        raw = b"".join(response.iter_raw())
    return response, raw


def openai_chunks(raw: bytes) -> list[Any]:
    events, _ = parse_sse(raw)
    return [e["data"] if e["data"] == "[DONE]" else json.loads(e["data"]) for e in events]


def anthropic_events(raw: bytes) -> list[dict[str, Any]]:
    events, comments = parse_sse(raw)
    assert comments == []
    out = []
    for event in events:
        data = json.loads(event["data"])
        assert event["event"] == data["type"], "event: name must match data.type"
        out.append(data)
    return out


def read_until_error(response: httpx.Response) -> tuple[bytes, BaseException | None]:
    received = b""
    try:
        for piece in response.iter_raw():
            received += piece
    except httpx.HTTPError as exc:
        return received, exc
    return received, None


# ---------------------------------------------------------------------------------------------
# OpenAI dialect
# ---------------------------------------------------------------------------------------------


def test_openai_stream_default_echo(emu: Emulator, client: httpx.Client) -> None:
    body = {"model": "minimax-minimax-m1", "stream": True, "messages": MESSAGES}
    response, raw = post_stream(client, f"{emu.base_url}/chat/completions", body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert raw.startswith(b": OPENROUTER PROCESSING\n\n")
    chunks = openai_chunks(raw)
    assert chunks[0] == {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    assert chunks[-1] == "[DONE]"
    usage_chunk = chunks[-2]
    prompt = count_prompt_tokens(body)
    assert prompt == (3 + 3) + (3 + 6)  # system message + user message
    assert usage_chunk == {
        "choices": [],
        "usage": {"prompt_tokens": 15, "completion_tokens": 7, "total_tokens": 22},
    }
    assert chunks[-3]["choices"][0]["finish_reason"] == "stop"
    content = [c["choices"][0]["delta"].get("content", "") for c in chunks[1:-3]]
    assert len(content) > 1
    assert "".join(content) == "echo: What is the capital of France?"
    assert all("id" not in c and "model" not in c for c in chunks[:-1])


def test_openai_stream_reasoning_tools_ids(emu: Emulator, client: httpx.Client) -> None:
    emu.script(
        Reply.chat(
            "Let me check.",
            reasoning="Weather needs a tool.",
            tool_calls=[TOOL, {"name": "get_time", "arguments": {"tz": "CET"}}],
            finish_reason="tool_calls",
            chunk_size=4,
            ids=True,
            comment=False,
        )
    )
    body = {"model": "m-1", "stream": True, "messages": MESSAGES}
    _, raw = post_stream(client, f"{emu.base_url}/chat/completions", body)
    assert not raw.startswith(b":")
    chunks = openai_chunks(raw)
    assert chunks[-1] == "[DONE]"
    data = [c for c in chunks[:-1] if c["choices"]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m-1" for c in data)
    assert len({c["id"] for c in data}) == 1
    deltas = [c["choices"][0]["delta"] for c in data]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    assert reasoning == "Weather needs a tool."
    text_pieces = [d["content"] for d in deltas if d.get("content")]
    assert "".join(text_pieces) == "Let me check."
    assert all(len(p) <= 4 for p in text_pieces)
    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    for delta in deltas:
        for frag in delta.get("tool_calls", []):
            fragments[frag["index"]] = fragments.get(frag["index"], 0) + 1
            if frag["index"] not in calls:
                assert frag["type"] == "function" and "id" in frag and "name" in frag["function"]
                calls[frag["index"]] = {"id": frag["id"], "name": frag["function"]["name"], "a": ""}
            else:
                assert "id" not in frag and "name" not in frag["function"]
            calls[frag["index"]]["a"] += frag["function"]["arguments"]
    assert calls == {
        0: {"id": "call_1", "name": "get_weather", "a": '{"city":"Paris"}'},
        1: {"id": "call_2", "name": "get_time", "a": '{"tz":"CET"}'},
    }
    assert all(n >= 2 for n in fragments.values())
    assert data[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_stream_minimal(emu: Emulator, client: httpx.Client) -> None:
    emu.script(
        Reply.chat(
            "a b",
            comment=False,
            role_chunk=False,
            usage_chunk=False,
            done=False,
            finish_reason=None,
        )
    )
    body = {"model": "m", "stream": True, "messages": MESSAGES}
    _, raw = post_stream(client, f"{emu.base_url}/chat/completions", body)
    assert openai_chunks(raw) == [
        {"choices": [{"index": 0, "delta": {"content": "a"}}]},
        {"choices": [{"index": 0, "delta": {"content": " b"}}]},
    ]


def test_openai_non_stream(emu: Emulator, client: httpx.Client) -> None:
    emu.script(
        Reply.chat("", reasoning="hmm", tool_calls=[TOOL], finish_reason="tool_calls", usage=None),
        Reply.chat(
            "Paris.", usage={"prompt_tokens": 25, "completion_tokens": 8, "total_tokens": 33}
        ),
    )
    url = f"{emu.base_url}/chat/completions"
    response = client.post(url, json={"model": "m", "messages": MESSAGES})
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    data = response.json()
    assert data["object"] == "chat.completion" and data["model"] == "m" and "usage" not in data
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "reasoning_content": "hmm",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    data = client.post(url, json={"model_id": "x", "messages": MESSAGES}).json()
    assert data["model"] == "x"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "Paris."}
    assert data["usage"] == {"prompt_tokens": 25, "completion_tokens": 8, "total_tokens": 33}


def test_stream_false_override_answers_json(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("plain", stream=False))
    body = {"model": "m", "stream": True, "messages": MESSAGES}
    response, raw = post_stream(client, f"{emu.base_url}/chat/completions", body)
    assert response.headers["content-type"] == "application/json"
    assert json.loads(raw)["choices"][0]["message"]["content"] == "plain"


def test_chat_status_and_headers(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("x", status=201, headers={"X-RateLimit-Remaining": "3"}))
    response = client.post(f"{emu.base_url}/chat/completions", json={"messages": MESSAGES})
    assert response.status_code == 201
    assert response.headers["x-ratelimit-remaining"] == "3"


# ---------------------------------------------------------------------------------------------
# Anthropic dialect
# ---------------------------------------------------------------------------------------------


def test_anthropic_stream(emu: Emulator, client: httpx.Client) -> None:
    emu.script(
        Reply.chat(
            "It is sunny.",
            reasoning="Need weather.",
            tool_calls=[TOOL],
            finish_reason="tool_calls",
        )
    )
    body = {"model": "claude-ish", "max_tokens": 50, "stream": True, "messages": MESSAGES[1:]}
    body["system"] = "You are helpful."
    response, raw = post_stream(client, f"{emu.base_url}/v1/messages", body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = anthropic_events(raw)
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert "ping" in types
    start = events[0]["message"]
    assert start["model"] == "claude-ish" and start["id"].startswith("msg_")
    assert start["usage"]["input_tokens"] == 12
    blocks: dict[int, dict[str, Any]] = {}
    for event in events:
        if event["type"] == "content_block_start":
            blocks[event["index"]] = {"block": event["content_block"], "acc": "", "open": True}
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            key = {"thinking_delta": "thinking", "text_delta": "text"}.get(delta["type"])
            blocks[event["index"]]["acc"] += delta[key or "partial_json"]
            assert blocks[event["index"]]["open"]
        elif event["type"] == "content_block_stop":
            blocks[event["index"]]["open"] = False
    assert [b["block"]["type"] for b in blocks.values()] == ["thinking", "text", "tool_use"]
    assert blocks[0]["acc"] == "Need weather."
    assert blocks[1]["acc"] == "It is sunny."
    tool_block = {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}
    assert blocks[2]["block"] == tool_block
    assert json.loads(blocks[2]["acc"]) == {"city": "Paris"}
    assert not any(b["open"] for b in blocks.values())
    delta_event = events[-2]
    assert delta_event["delta"]["stop_reason"] == "tool_use"
    assert delta_event["usage"]["output_tokens"] == 6


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("stop_sequence", "stop_sequence"),
        (None, None),
    ],
)
def test_anthropic_non_stream(
    emu: Emulator, client: httpx.Client, finish: str | None, stop: str | None
) -> None:
    emu.script(Reply.chat("Hi", reasoning="r", tool_calls=[TOOL], finish_reason=finish))
    body = {"model": "m", "max_tokens": 5, "messages": MESSAGES[1:]}
    data = client.post(f"{emu.base_url}/v1/messages", json=body).json()
    assert data["type"] == "message" and data["role"] == "assistant" and data["model"] == "m"
    assert data["stop_reason"] == stop
    assert data["content"] == [
        {"type": "thinking", "thinking": "r", "signature": "emulator-signature"},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert data["usage"] == {"input_tokens": 9, "output_tokens": 3}


def test_anthropic_default_echo_with_content_blocks(emu: Emulator, client: httpx.Client) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "ping pong"}]}],
    }
    data = client.post(f"{emu.base_url}/v1/messages", json=body).json()
    assert data["content"] == [{"type": "text", "text": "echo: ping pong"}]
    assert data["stop_reason"] == "end_turn"


# ---------------------------------------------------------------------------------------------
# Recording, scripting, routing
# ---------------------------------------------------------------------------------------------


def test_requests_recorded(emu: Emulator, client: httpx.Client) -> None:
    body = {"model": "m", "messages": MESSAGES}
    client.post(
        f"{emu.base_url}/chat/completions?key=abc",
        json=body,
        headers={"Authorization": "Bearer sk-1", "X-Api-Key": "sk-1"},
    )
    client.get(f"{emu.base_url}/v1/models")
    first, second = emu.requests
    assert first.method == "POST" and first.path == "/chat/completions" and first.query == "key=abc"
    assert first.headers["authorization"] == "Bearer sk-1"
    assert first.headers["x-api-key"] == "sk-1"
    assert first.headers["content-type"] == "application/json"
    assert first.json == body and json.loads(first.body) == body
    assert second.method == "GET" and second.path == "/v1/models" and second.json is None
    assert emu.last_request is second
    emu.reset()
    assert emu.requests == []


def test_script_fifo_then_default(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("one"), Reply.error(500))
    emu.script(Reply.chat("three"))
    assert emu.pending == 3
    url = f"{emu.base_url}/chat/completions"
    body = {"messages": [{"role": "user", "content": "yo"}]}
    assert client.post(url, json=body).json()["choices"][0]["message"]["content"] == "one"
    assert client.get(f"{emu.base_url}/v1/models").status_code == 500  # any route pops
    assert client.post(url, json=body).json()["choices"][0]["message"]["content"] == "three"
    assert client.post(url, json=body).json()["choices"][0]["message"]["content"] == "echo: yo"
    assert emu.pending == 0
    with pytest.raises(TypeError):
        emu.script("not a reply")  # type: ignore[arg-type]


def test_unknown_path_and_method(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("kept"))
    response = client.post(f"{emu.base_url}/v1/chat/completions", json={})
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "not found"}}
    assert client.get(f"http://127.0.0.1:{emu.port}/elsewhere").status_code == 404
    assert client.get(f"{emu.base_url}/chat/completions").status_code == 405
    assert emu.pending == 1  # none of these consumed the scripted reply
    assert [r.path for r in emu.requests] == [
        "/v1/chat/completions",
        "/elsewhere",
        "/chat/completions",
    ]


def test_malformed_json_default_400(emu: Emulator, client: httpx.Client) -> None:
    response = client.post(
        f"{emu.base_url}/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert emu.requests[0].json is None and emu.requests[0].body == b"{not json"


def test_models_default_and_settable(emu: Emulator, client: httpx.Client) -> None:
    data = client.get(f"{emu.base_url}/v1/models").json()
    assert data["object"] == "list"
    ids = [m["id"] for m in data["data"]]
    assert "minimax-minimax-m1" in ids and "Qwen/Qwen2.5-VL-72B-Instruct-together" in ids
    assert "meta-llama-3-8B-instruct" in ids
    assert "deepseek-ai-DeepSeek-R1-Distill-Llama-70B" in ids
    for model in data["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
    emu.models = [{"id": "only", "object": "model", "created": 1, "owned_by": "me"}]
    assert client.get(f"{emu.base_url}/v1/models").json()["data"][0]["id"] == "only"


def test_count_tokens_default(emu: Emulator, client: httpx.Client) -> None:
    url = f"{emu.base_url}/v1/messages/count_tokens"
    body: dict[str, Any] = {"model": "m", "system": "You are helpful.", "messages": MESSAGES[1:]}
    assert client.post(url, json=body).json() == {"input_tokens": 3 + 3 + 6}
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "two words"}]},
            {"role": "assistant", "content": "one"},
        ],
    }
    assert client.post(url, json=body).json() == {"input_tokens": 2 + 3 + 1 + 3}


# ---------------------------------------------------------------------------------------------
# Errors and raw bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400, 401, 402, 403, 404, 429, 500, 503])
def test_error_default_bodies(emu: Emulator, client: httpx.Client, status: int) -> None:
    emu.script(Reply.error(status))
    body = {"model": "m", "stream": True, "messages": MESSAGES}
    response = client.post(f"{emu.base_url}/chat/completions", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["status"] == "error" and isinstance(data["message"], str) and data["message"]
    if status == 429:
        assert data["retry_after"] == 1


def test_error_custom_bodies(emu: Emulator, client: httpx.Client) -> None:
    emu.script(
        Reply.error(200, {"error": {"message": "Provider returned error", "code": "502"}}),
        Reply.error(401, '{"messege": "typo"}', headers={"Retry-After": "7"}),
        Reply.raw(502, b"<html><body>Bad Gateway</body></html>", content_type="text/html"),
        Reply.json({"data": []}, status=200),
    )
    url = f"{emu.base_url}/chat/completions"
    response = client.post(url, json={"messages": MESSAGES})
    assert response.status_code == 200
    assert response.json()["error"]["message"] == "Provider returned error"
    response = client.post(url, json={"messages": MESSAGES})
    assert response.status_code == 401 and response.text == '{"messege": "typo"}'
    assert response.headers["retry-after"] == "7"
    response = client.post(url, json={"messages": MESSAGES})
    assert response.status_code == 502 and response.headers["content-type"] == "text/html"
    assert response.content == b"<html><body>Bad Gateway</body></html>"
    assert client.post(url, json={"messages": MESSAGES}).json() == {"data": []}


# ---------------------------------------------------------------------------------------------
# Raw SSE, splitting, dropping, hanging, pinging, delays
# ---------------------------------------------------------------------------------------------


def test_raw_sse_verbatim(emu: Emulator, client: httpx.Client) -> None:
    emu.script(
        Reply.sse(
            [": hello\n\n", {"status": "error", "message": "boom"}, b"data: [DONE]\n\n"],
            headers={"X-Extra": "1"},
        )
    )
    response, raw = post_stream(client, f"{emu.base_url}/chat/completions", {"stream": True})
    assert response.headers["x-extra"] == "1"
    assert raw == (b': hello\n\ndata: {"status":"error","message":"boom"}\n\ndata: [DONE]\n\n')


def test_raw_sse_drop(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.sse([{"choices": []}], drop=True))
    with client.stream("POST", f"{emu.base_url}/chat/completions", json={}) as response:
        received, error = read_until_error(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert received == b'data: {"choices":[]}\n\n'


@pytest.mark.parametrize("route", ["/chat/completions", "/v1/messages"])
def test_split_bytes_keeps_bytes_intact(emu: Emulator, client: httpx.Client, route: str) -> None:
    text = "Grüße, 世界! 🙂 ok"
    split = 5 if route == "/chat/completions" else 11
    emu.script(Reply.chat(text, split_bytes=split), Reply.chat(text, split_bytes=16))
    body = {"model": "m", "stream": True, "messages": MESSAGES}
    _, raw = post_stream(client, f"{emu.base_url}{route}", body)
    if route == "/chat/completions":
        chunks = openai_chunks(raw)
        pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks[:-1] if c["choices"]]
    else:
        events = anthropic_events(raw)
        pieces = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(pieces) == text
    body["stream"] = False
    data = client.post(f"{emu.base_url}{route}", json=body).json()
    got = data["choices"][0]["message"]["content"] if "choices" in data else data["content"][0]
    assert got in (text, {"type": "text", "text": text})


def test_drop_after_stream(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("one two three four five", drop_after=3))
    body = {"model": "m", "stream": True, "messages": MESSAGES}
    with client.stream("POST", f"{emu.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        received, error = read_until_error(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    events, comments = parse_sse(received)
    assert comments == ["OPENROUTER PROCESSING"]
    assert len(events) == 3  # role chunk + "one" + " two"
    assert b"[DONE]" not in received
    # The server keeps working after a drop.
    assert client.get(f"{emu.base_url}/v1/models").status_code == 200


def test_drop_after_anthropic_and_non_stream(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("a b c", drop_after=1), Reply.chat("a b c", drop_after=10))
    body = {"model": "m", "stream": True, "messages": MESSAGES[1:]}
    with client.stream("POST", f"{emu.base_url}/v1/messages", json=body) as response:
        received, error = read_until_error(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert [e["type"] for e in anthropic_events(received)] == ["message_start"]
    body["stream"] = False
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(f"{emu.base_url}/v1/messages", json=body)


def test_hang_gives_read_timeout(emu: Emulator) -> None:
    emu.script(Reply.hang(10))
    timeout = httpx.Timeout(5.0, read=0.2)
    started = time.monotonic()
    with httpx.Client(timeout=timeout) as c:
        body = {"stream": True, "messages": MESSAGES}
        with c.stream("POST", f"{emu.base_url}/chat/completions", json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            with pytest.raises(httpx.ReadTimeout):
                b"".join(response.iter_raw())
    assert time.monotonic() - started < 2


def test_stop_wakes_hanging_handlers() -> None:
    emu = Emulator().start()
    emu.script(Reply.hang(30))
    result: list[BaseException | None] = []

    def request() -> None:
        try:
            with httpx.Client(timeout=10) as c:
                c.post(f"{emu.base_url}/chat/completions", json={"stream": True}).read()
            result.append(None)
        except httpx.HTTPError as exc:
            result.append(exc)

    thread = threading.Thread(target=request)
    thread.start()
    deadline = time.monotonic() + 2
    while not emu.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    emu.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 1.5
    assert len(result) == 1 and isinstance(result[0], httpx.RemoteProtocolError)
    emu.stop()  # idempotent


@pytest.mark.parametrize("route", ["/chat/completions", "/v1/messages"])
def test_pings_then_drop(emu: Emulator, client: httpx.Client, route: str) -> None:
    emu.script(Reply.pings(3, 0.03))
    body = {"model": "m", "stream": True, "messages": MESSAGES[1:]}
    with client.stream("POST", f"{emu.base_url}{route}", json=body) as response:
        received, error = read_until_error(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    events, comments = parse_sse(received)
    if route == "/chat/completions":
        assert events == [] and comments == ["ping"] * 3
    else:
        assert comments == [] and [e["event"] for e in events] == ["ping"] * 3


def test_delay_spreads_events(emu: Emulator, client: httpx.Client) -> None:
    emu.script(Reply.chat("a b", delay=0.04, comment=False, usage_chunk=False))
    body = {"stream": True, "messages": MESSAGES}
    arrivals: list[float] = []
    started = time.monotonic()
    with client.stream("POST", f"{emu.base_url}/chat/completions", json=body) as response:
        for _ in response.iter_lines():
            arrivals.append(time.monotonic() - started)
    # role, "a", " b", finish, [DONE]: 4 gaps of 40 ms
    assert arrivals[-1] >= 0.15


def test_client_disconnect_is_silent(
    emu: Emulator, client: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.script(Reply.chat("x " * 200, delay=0.005))
    body = {"stream": True, "messages": MESSAGES}
    with client.stream("POST", f"{emu.base_url}/chat/completions", json=body) as response:
        next(response.iter_raw())
    time.sleep(0.1)  # let the server hit the broken pipe
    assert client.get(f"{emu.base_url}/v1/models").status_code == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ---------------------------------------------------------------------------------------------
# By hand: python -m tests.emulator
# ---------------------------------------------------------------------------------------------


def test_cli_prints_url_and_serves() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--prefix", "/custom/llm", "--delay", "0.001"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        name, _, url = line.partition("=")
        assert name == "MODELSLAB_BASE_URL"
        assert url.startswith("http://127.0.0.1:") and url.endswith("/custom/llm")
        with httpx.Client(timeout=5) as c:
            body = {"stream": True, "messages": [{"role": "user", "content": "hi"}]}
            text = c.post(f"{url}/chat/completions", json=body).text
        assert '"content":"echo:"' in text and '"content":" hi"' in text
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=5)
        assert proc.returncode == 0
        assert err == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
