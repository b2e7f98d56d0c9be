"""mlchat.client.Client over httpx.MockTransport (and a few runs against the loopback emulator).

The fake server records every request and answers from a FIFO of canned replies whose bodies are
byte streams delivered in chosen chunks; a chunk list may hold an exception (raised at that point,
like a dropped connection or a read timeout) or a callable (run at that point, e.g. to advance the
fake clock). Waits go to an injected `sleep` that records them, so no test really sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mlchat import __version__
from mlchat.client import Client, RetryPolicy, Timeouts
from mlchat.errors import (
    EXIT_CONFIG,
    EXIT_NETWORK,
    EXIT_RATE_LIMITED,
    EXIT_REJECTED,
    AuthError,
    ConnectFailed,
    IncompleteReply,
    MlchatError,
    NetworkError,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
    StreamTimeout,
)
from mlchat.providers import Provider
from mlchat.providers.anthropic import PROVIDER as ANTHROPIC
from mlchat.providers.openai import PROVIDER as OPENAI
from mlchat.session import Reply as Accumulator
from mlchat.session import run_turn
from mlchat.types import (
    ChatRequest,
    Finished,
    Message,
    ModelInfo,
    Params,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tests.emulator import Emulator
from tests.emulator import Reply as EmuReply

KEY = "ml-test-SECRET-key-0123456789abcdef"
BASE = "https://modelslab.test/api/v7/llm"
MODEL = "minimax-minimax-m1"
REQ = ChatRequest(MODEL, (Message("user", "héllo 世界"),), system="Be brief.")

Item = bytes | BaseException | Callable[[], None]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client honours proxy variables; a proxy mount would bypass the mock transport.
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


class Chunks(httpx.SyncByteStream):
    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.served = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            if callable(item):
                item()
                continue
            self.served += 1
            yield item

    def close(self) -> None:
        self.closed = True


@dataclass
class Canned:
    status: int = 200
    items: list[Item] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def sse_reply(*items: Item, status: int = 200, headers: dict[str, str] | None = None) -> Canned:
    return Canned(status, list(items), {"content-type": "text/event-stream", **(headers or {})})


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Canned:
    return Canned(
        status, [json.dumps(obj).encode()], {"content-type": "application/json", **(headers or {})}
    )


class Server:
    """The MockTransport handler: records requests, answers from a FIFO of canned replies (or
    raises the exception found there)."""

    def __init__(self, *replies: Canned | BaseException) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.streams: list[Chunks] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert self.replies, f"unexpected request {request.method} {request.url}"
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        stream = Chunks(reply.items)
        self.streams.append(stream)
        return httpx.Response(reply.status, headers=reply.headers, stream=stream)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> Callable[[], None]:
        def tick() -> None:
            self.now += seconds

        return tick


@dataclass
class Rig:
    server: Server
    client: Client
    sleeps: list[float]
    status: list[str]
    debug: list[str]
    clock: Clock


def rig(
    *replies: Canned | BaseException,
    base: str = BASE,
    retries: int = 2,
    timeouts: Timeouts | None = None,
) -> Rig:
    server = Server(*replies)
    sleeps: list[float] = []
    status: list[str] = []
    debug: list[str] = []
    clock = Clock()
    client = Client(
        base,
        KEY,
        timeouts=timeouts,
        retry=RetryPolicy(retries=retries, base=0.5, cap=8.0),
        transport=httpx.MockTransport(server),
        debug=debug.append,
        status=status.append,
        sleep=sleeps.append,
        clock=clock,
    )
    return Rig(server, client, sleeps, status, debug, clock)


def collect(
    client: Client, provider: Provider = OPENAI, req: ChatRequest = REQ
) -> list[StreamEvent]:
    with client.chat(provider, req) as events:
        return list(events)


def collect_until_error(
    client: Client, provider: Provider = OPENAI, req: ChatRequest = REQ
) -> tuple[list[StreamEvent], MlchatError]:
    got: list[StreamEvent] = []
    with pytest.raises(MlchatError) as info, client.chat(provider, req) as events:
        for ev in events:
            got.append(ev)
    return got, info.value


def data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def text_chunk(text: str, finish: str | None = None) -> bytes:
    return data({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def event(name: str, obj: dict[str, Any]) -> bytes:
    return f"event: {name}\n".encode() + data({"type": name, **obj})


OPENAI_STREAM = b"".join(
    [
        b": OPENROUTER PROCESSING\n\n",
        data(
            {
                "id": "gen-1",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            }
        ),
        b": OPENROUTER PROCESSING\n\n",
        text_chunk("héllo "),
        text_chunk("世界 🎉"),
        text_chunk("", "stop"),
        data({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}}),
        b"data: [DONE]\n\n",
    ]
)
OPENAI_EVENTS = [TextDelta("héllo "), TextDelta("世界 🎉"), Usage(12, 3), Finished("stop")]

ANTHROPIC_STREAM = b"".join(
    [
        event(
            "message_start", {"message": {"id": "m", "content": [], "usage": {"input_tokens": 9}}}
        ),
        event("ping", {}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Bon"}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "jour"}}),
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}
        ),
        event("message_stop", {}),
    ]
)
ANTHROPIC_EVENTS = [
    Usage(9, None),
    TextDelta("Bon"),
    TextDelta("jour"),
    Usage(None, 2),
    Finished("stop"),
]

OVERLOADED = event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})


def split(raw: bytes, sizes: list[int]) -> list[Item]:
    out: list[Item] = []
    i = k = 0
    while i < len(raw):
        n = sizes[k % len(sizes)]
        out.append(raw[i : i + n])
        i += n
        k += 1
    return out


# ============================================================================================
# What is sent
# ============================================================================================


@pytest.mark.parametrize(
    ("base", "provider", "url"),
    [
        (BASE, OPENAI, f"{BASE}/chat/completions"),
        (BASE + "/", OPENAI, f"{BASE}/chat/completions"),
        (BASE + "/", ANTHROPIC, f"{BASE}/v1/messages"),
        (
            "http://127.0.0.1:8080/gateway/tenant-1/api/v7/llm//",
            OPENAI,
            "http://127.0.0.1:8080/gateway/tenant-1/api/v7/llm/chat/completions",
        ),
        ("http://localhost:9000", ANTHROPIC, "http://localhost:9000/v1/messages"),
    ],
)
def test_url_joined_from_base(base: str, provider: Provider, url: str) -> None:
    stream = OPENAI_STREAM if provider is OPENAI else ANTHROPIC_STREAM
    r = rig(sse_reply(stream), base=base)
    collect(r.client, provider)
    assert [str(q.url) for q in r.server.requests] == [url]


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_headers_and_body_sent(provider: Provider) -> None:
    stream = OPENAI_STREAM if provider is OPENAI else ANTHROPIC_STREAM
    r = rig(sse_reply(stream))
    collect(r.client, provider)
    (sent,) = r.server.requests
    expected = provider.build_request(REQ, KEY)
    assert sent.method == "POST"
    assert json.loads(sent.content) == expected.json
    # UTF-8 on the wire, not \u escapes.
    assert "héllo 世界".encode() in sent.content
    assert sent.headers["content-length"] == str(len(sent.content))
    assert sent.headers["user-agent"] == f"mlchat/{__version__}"
    for name, value in expected.headers.items():
        assert sent.headers[name] == value
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "text/event-stream"
    if provider is ANTHROPIC:
        assert sent.headers["x-api-key"] == KEY
        assert sent.headers["anthropic-version"] == "2023-06-01"
    else:
        assert "x-api-key" not in sent.headers
    assert "cookie" not in sent.headers


def test_no_stream_request() -> None:
    reply = {
        "id": "gen-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    r = rig(json_reply(reply))
    req = ChatRequest(MODEL, (Message("user", "capital?"),), stream=False)
    assert collect(r.client, OPENAI, req) == [TextDelta("Paris."), Usage(5, 2), Finished("stop")]
    (sent,) = r.server.requests
    body = json.loads(sent.content)
    assert body["stream"] is False
    assert "stream_options" not in body
    assert sent.headers["accept"] == "application/json"


def test_no_stream_request_anthropic() -> None:
    reply = {
        "type": "message",
        "content": [{"type": "text", "text": "Paris."}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    r = rig(json_reply(reply))
    req = ChatRequest(MODEL, (Message("user", "capital?"),), stream=False)
    assert collect(r.client, ANTHROPIC, req) == [
        TextDelta("Paris."),
        Usage(5, 2),
        Finished("length"),
    ]
    assert json.loads(r.server.requests[0].content)["stream"] is False


# ============================================================================================
# Streaming
# ============================================================================================


@pytest.mark.parametrize(
    "sizes",
    [[1], [2], [3, 1], [7, 13, 1], [64], [5, 100000]],
    ids=lambda s: "-".join(map(str, s)),
)
@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_stream_in_odd_chunks(sizes: list[int], provider: Provider) -> None:
    raw, want = (
        (OPENAI_STREAM, OPENAI_EVENTS)
        if provider is OPENAI
        else (ANTHROPIC_STREAM, ANTHROPIC_EVENTS)
    )
    items = split(raw, sizes)
    r = rig(sse_reply(*items))
    got: list[StreamEvent] = []
    served_at_first_text: int | None = None
    with r.client.chat(provider, REQ) as events:
        for ev in events:
            if isinstance(ev, TextDelta) and served_at_first_text is None:
                served_at_first_text = r.server.streams[0].served
            got.append(ev)
    assert got == want
    if len(items) > 2:
        # Events are yielded as their bytes arrive, not after the whole body.
        assert served_at_first_text is not None and served_at_first_text < len(items)
    assert r.server.streams[0].closed


def test_bytes_after_the_end_marker_are_not_read() -> None:
    tail: list[Item] = [AssertionError("read past [DONE]")]
    r = rig(sse_reply(OPENAI_STREAM, *tail))
    assert collect(r.client) == OPENAI_EVENTS
    assert r.server.streams[0].closed


def test_stream_ending_without_done_after_finish_reason() -> None:
    r = rig(sse_reply(text_chunk("ok", "stop")))
    assert collect(r.client) == [TextDelta("ok"), Finished("stop")]


def test_stream_final_event_without_blank_line() -> None:
    r = rig(sse_reply(text_chunk("ok"), b"data: [DONE]"))
    # A partial last line is dropped, so [DONE] was never seen: the reply is incomplete.
    got, err = collect_until_error(r.client)
    assert got == [TextDelta("ok")]
    assert isinstance(err, IncompleteReply)
    r = rig(sse_reply(text_chunk("ok"), b"data: [DONE]\n"))
    assert collect(r.client) == [TextDelta("ok"), Finished(None)]


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
@pytest.mark.parametrize(
    "ctype", ["application/json", "application/json; charset=utf-8", "text/plain"]
)
def test_stream_request_answered_with_whole_json(provider: Provider, ctype: str) -> None:
    if provider is OPENAI:
        body: dict[str, Any] = {
            "choices": [
                {"index": 0, "message": {"content": "whole reply"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        }
    else:
        body = {
            "type": "message",
            "content": [{"type": "text", "text": "whole reply"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }
    r = rig(Canned(200, split(json.dumps(body).encode(), [5]), {"content-type": ctype}))
    assert collect(r.client, provider) == [TextDelta("whole reply"), Usage(1, 2), Finished("stop")]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"status": "error", "message": "Provider returned error"}, "Provider returned error"),
        ({"status": "error", "messege": "legacy typo"}, "legacy typo"),
        ({"error": {"message": "bad param", "type": "invalid_request_error"}}, "bad param"),
        ({"error": "plain"}, "plain"),
        ({"id": "gen-1", "choices": []}, "the reply has no choices"),
    ],
)
def test_200_json_error_body_is_rejected(body: dict[str, Any], text: str) -> None:
    r = rig(json_reply(body))
    got, err = collect_until_error(r.client)
    assert got == []
    assert type(err) is RequestRejected
    assert text in err.message
    assert err.status == 200
    assert err.exit_code == EXIT_REJECTED
    assert len(r.server.requests) == 1 and r.sleeps == []


def test_200_html_page_reports_its_title() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Just a moment...</title>"
        b"<script>challenge()</script></head><body>"
        + b"<div>noise</div>\n" * 300
        + b"</body></html>"
    )
    r = rig(Canned(200, split(page, [100]), {"content-type": "text/html; charset=UTF-8"}))
    _, err = collect_until_error(r.client)
    # An HTML page where an API reply belongs (a proxy or a challenge page): exit 6, one line.
    assert isinstance(err, ProtocolError)
    assert "Just a moment..." in err.message
    assert "\n" not in err.message and "noise" not in err.message and "<" not in err.message


def test_200_empty_body_is_an_error_not_an_empty_reply() -> None:
    r = rig(Canned(200, [], {"content-type": "application/json"}))
    _, err = collect_until_error(r.client)
    assert isinstance(err, ProtocolError)


def test_200_malformed_json_body() -> None:
    r = rig(Canned(200, [b'{"choices": ['], {"content-type": "application/json"}))
    _, err = collect_until_error(r.client)
    assert isinstance(err, ProtocolError)
    assert len(r.server.requests) == 1


def test_malformed_event_is_protocol_error_not_retried() -> None:
    r = rig(sse_reply(b"data: {oops\n\n"))
    _, err = collect_until_error(r.client)
    assert isinstance(err, ProtocolError)
    assert err.exit_code == EXIT_NETWORK
    assert len(r.server.requests) == 1


def test_oversized_event_is_protocol_error() -> None:
    r = rig(sse_reply(b"data: " + b"x" * (16 * 1024 * 1024 + 1)))
    _, err = collect_until_error(r.client)
    assert isinstance(err, ProtocolError)
    assert r.server.streams[0].closed


# ============================================================================================
# HTTP errors and retries
# ============================================================================================


@pytest.mark.parametrize(
    ("status", "cls", "exit_code"),
    [
        (400, RequestRejected, EXIT_REJECTED),
        (401, AuthError, EXIT_CONFIG),
        (402, RequestRejected, EXIT_REJECTED),
        (403, AuthError, EXIT_CONFIG),
        (404, RequestRejected, EXIT_REJECTED),
        (413, RequestRejected, EXIT_REJECTED),
        (422, RequestRejected, EXIT_REJECTED),
    ],
)
def test_client_errors_are_never_retried(
    status: int, cls: type[MlchatError], exit_code: int
) -> None:
    r = rig(json_reply({"status": "error", "message": "Invalid API key"}, status))
    _, err = collect_until_error(r.client)
    assert type(err) is cls
    assert err.exit_code == exit_code
    assert len(r.server.requests) == 1
    assert r.sleeps == [] and r.status == []
    assert r.server.streams[0].closed


def test_401_is_auth_error_with_hint() -> None:
    r = rig(json_reply({"status": "error", "message": "Invalid API key"}, 401))
    _, err = collect_until_error(r.client)
    assert isinstance(err, AuthError)
    assert err.message == "HTTP 401: Invalid API key"
    assert err.hint is not None and "MODELSLAB_API_KEY" in err.hint


def test_503_then_200_retries_once_honouring_retry_after() -> None:
    r = rig(
        json_reply(
            {"status": "error", "message": "Service temporarily unavailable."},
            503,
            {"Retry-After": "2"},
        ),
        sse_reply(*split(OPENAI_STREAM, [9])),
    )
    assert collect(r.client) == OPENAI_EVENTS
    assert len(r.server.requests) == 2
    assert r.sleeps == [2.0]
    assert r.server.bodies()[0] == r.server.bodies()[1]
    assert len(r.status) == 1
    assert "retrying in 2.0 s (attempt 2 of 3)" in r.status[0]
    assert all(s.closed for s in r.server.streams)


@pytest.mark.parametrize(
    ("headers", "body", "wait"),
    [
        ({}, {"status": "error", "message": "Rate limit exceeded.", "retry_after": 1}, 1.0),
        ({"retry-after-ms": "250"}, {"status": "error", "message": "slow"}, 0.25),
        ({"Retry-After": "60"}, {"status": "error", "message": "slow"}, 60.0),
    ],
)
def test_429_short_wait_is_honoured(
    headers: dict[str, str], body: dict[str, Any], wait: float
) -> None:
    r = rig(json_reply(body, 429, headers), sse_reply(OPENAI_STREAM))
    assert collect(r.client) == OPENAI_EVENTS
    assert r.sleeps == [wait]


def test_429_long_wait_is_not_slept() -> None:
    body = {"status": "error", "message": "Rate limit exceeded.", "retry_after": 120}
    r = rig(json_reply(body, 429))
    _, err = collect_until_error(r.client)
    assert isinstance(err, RateLimited)
    assert err.exit_code == EXIT_RATE_LIMITED
    assert err.retry_after == 120
    assert "2 min" in (err.hint or "")
    assert r.sleeps == []
    assert len(r.server.requests) == 1


def test_5xx_retries_exhausted_with_backoff() -> None:
    r = rig(*(json_reply({"status": "error", "message": "down"}, 502) for _ in range(3)))
    _, err = collect_until_error(r.client)
    assert isinstance(err, ServerError)
    assert err.exit_code == EXIT_NETWORK
    assert len(r.server.requests) == 3
    # Exponential backoff (0.5 s, 1 s) with +-25 % jitter.
    assert len(r.sleeps) == 2
    assert 0.375 <= r.sleeps[0] <= 0.625
    assert 0.75 <= r.sleeps[1] <= 1.25


def test_retries_can_be_disabled() -> None:
    r = rig(json_reply({"status": "error", "message": "down"}, 503), retries=0)
    _, err = collect_until_error(r.client)
    assert isinstance(err, ServerError)
    assert r.sleeps == [] and len(r.server.requests) == 1


@pytest.mark.parametrize(
    ("provider", "first", "second", "want", "usage"),
    [
        pytest.param(
            ANTHROPIC,
            event("message_start", {"message": {"usage": {"input_tokens": 7}}})
            + event("ping", {})
            + OVERLOADED,
            ANTHROPIC_STREAM,
            ANTHROPIC_EVENTS,
            Usage(9, 2),
            id="anthropic-overloaded",
        ),
        pytest.param(
            OPENAI,
            b": OPENROUTER PROCESSING\n\n"
            + data({"error": {"message": "Provider overloaded", "type": "server_error"}}),
            OPENAI_STREAM,
            OPENAI_EVENTS,
            Usage(12, 3),
            id="openai-server-error-chunk",
        ),
    ],
)
def test_error_event_before_content_is_retried(
    provider: Provider, first: bytes, second: bytes, want: list[StreamEvent], usage: Usage
) -> None:
    r = rig(sse_reply(first), sse_reply(second))
    got = collect(r.client, provider)
    # Only usage may have been yielded by the failed attempt; the retry brings the content, and
    # the retry's figures win when accumulated.
    content = [e for e in want if not isinstance(e, Usage)]
    assert [e for e in got if not isinstance(e, Usage)] == content
    reply = Accumulator()
    for ev in got:
        reply.add(ev)
    assert reply.usage == usage
    assert len(r.server.requests) == 2
    assert len(r.sleeps) == 1
    assert all(s.closed for s in r.server.streams)


@pytest.mark.parametrize(
    ("provider", "raw", "cls"),
    [
        pytest.param(
            OPENAI,
            text_chunk("Hello ")
            + text_chunk("world")
            + data({"error": {"message": "Provider overloaded", "type": "server_error"}}),
            ServerError,
            id="openai",
        ),
        pytest.param(
            ANTHROPIC,
            event("content_block_start", {"index": 0, "content_block": {"type": "text"}})
            + event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": "Hello "}},
            )
            + event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": "world"}},
            )
            + OVERLOADED,
            ServerError,
            id="anthropic",
        ),
        pytest.param(
            OPENAI,
            text_chunk("Hello ") + text_chunk("world") + b"data: {broken\n\n",
            ProtocolError,
            id="malformed",
        ),
    ],
)
def test_error_after_content_is_not_retried(
    provider: Provider, raw: bytes, cls: type[MlchatError]
) -> None:
    r = rig(sse_reply(*split(raw, [11])), sse_reply(OPENAI_STREAM))
    got, err = collect_until_error(r.client, provider)
    assert type(err) is cls
    assert got == [TextDelta("Hello "), TextDelta("world")]
    assert len(r.server.requests) == 1
    assert r.sleeps == []
    assert r.server.streams[0].closed


def test_connect_error_retried_then_surfaced() -> None:
    r = rig(*(httpx.ConnectError("[Errno 111] Connection refused") for _ in range(3)))
    _, err = collect_until_error(r.client)
    assert isinstance(err, ConnectFailed) and isinstance(err, NetworkError)
    assert err.exit_code == EXIT_NETWORK
    assert "modelslab.test" in err.message and "Connection refused" in err.message
    assert len(r.server.requests) == 3
    assert len(r.sleeps) == 2


def test_connect_error_then_success() -> None:
    r = rig(httpx.ConnectError("refused"), sse_reply(OPENAI_STREAM))
    assert collect(r.client) == OPENAI_EVENTS
    assert len(r.server.requests) == 2 and len(r.sleeps) == 1


@pytest.mark.parametrize(
    ("exc", "cls", "retried"),
    [
        (httpx.ConnectTimeout("timed out"), ConnectFailed, True),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed"), NetworkError, False),
        (httpx.ProxyError("407 Proxy Authentication Required"), NetworkError, False),
        (httpx.ReadTimeout("timed out"), StreamTimeout, False),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ConnectFailed,
            True,
        ),
        # a name that does not resolve is not transient: one try
        (httpx.ConnectError("[Errno -2] Name or service not known"), NetworkError, False),
        (
            httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
            NetworkError,
            False,
        ),
        (httpx.ConnectError("[Errno 8] nodename nor servname provided"), NetworkError, False),
    ],
)
def test_transport_errors_before_the_response(
    exc: Exception, cls: type[MlchatError], retried: bool
) -> None:
    r = rig(exc, exc, exc)
    _, err = collect_until_error(r.client)
    assert type(err) is cls
    assert err.exit_code == EXIT_NETWORK
    assert len(r.server.requests) == (3 if retried else 1)


# ============================================================================================
# Broken streams and timeouts
# ============================================================================================


def test_drop_mid_stream_keeps_partial_text() -> None:
    drop = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    r = rig(
        sse_reply(b": OPENROUTER PROCESSING\n\n", text_chunk("partial "), text_chunk("text"), drop)
    )
    reply = Accumulator()
    seen: list[StreamEvent] = []
    with pytest.raises(IncompleteReply) as info:
        run_turn(lambda req: r.client.chat(OPENAI, req), REQ, reply, seen.append)
    assert info.value.exit_code == EXIT_NETWORK
    assert info.value.message == "the service closed the connection before the reply was complete"
    assert reply.text == "partial text"
    assert not reply.finished
    assert seen == [TextDelta("partial "), TextDelta("text")]
    assert reply.message(interrupted=True) == Message("assistant", "partial text", interrupted=True)
    assert len(r.server.requests) == 1
    assert r.server.streams[0].closed


def test_dns_failure_names_the_host_and_is_not_retried() -> None:
    r = rig(httpx.ConnectError("[Errno -2] Name or service not known"))
    _, err = collect_until_error(r.client)
    assert type(err) is NetworkError
    assert err.message.startswith("cannot find the host ")
    assert "the name does not resolve" in err.message
    assert err.hint is not None and "--base-url" in err.hint and "DNS" in err.hint
    assert len(r.server.requests) == 1 and r.sleeps == []


def test_a_connection_closed_before_any_content_says_so_in_our_words() -> None:
    drop = httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body (incomplete chunked read)"
    )
    r = rig(sse_reply(drop), sse_reply(drop), sse_reply(drop))
    got, err = collect_until_error(r.client)
    assert got == []
    assert isinstance(err, IncompleteReply)
    assert err.message == (
        "the service closed the connection before any of the reply arrived "
        "(gave up after 3 attempts)"
    )
    assert len(r.server.requests) == 3  # nothing was shown, so it was retried


def test_a_broken_read_mid_reply_says_so_in_our_words() -> None:
    r = rig(sse_reply(text_chunk("half"), httpx.ReadError("[Errno 104] Connection reset by peer")))
    got, err = collect_until_error(r.client)
    assert got == [TextDelta("half")]
    assert isinstance(err, IncompleteReply)
    assert err.message == "the connection broke before the reply was complete"


def test_drop_mid_event_is_incomplete() -> None:
    raw = text_chunk("whole ") + text_chunk("cut")
    r = rig(sse_reply(raw[:-10], httpx.RemoteProtocolError("incomplete chunked read")))
    got, err = collect_until_error(r.client)
    assert isinstance(err, IncompleteReply)
    assert got == [TextDelta("whole ")]


def test_clean_eof_without_end_marker_is_incomplete() -> None:
    r = rig(sse_reply(text_chunk("no end")))
    got, err = collect_until_error(r.client)
    assert isinstance(err, IncompleteReply)
    assert got == [TextDelta("no end")]
    assert len(r.server.requests) == 1


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_read_timeout_mid_stream(provider: Provider) -> None:
    raw = OPENAI_STREAM if provider is OPENAI else ANTHROPIC_STREAM
    cut = raw.index(b"jour" if provider is ANTHROPIC else "世界".encode())
    r = rig(sse_reply(raw[:cut], httpx.ReadTimeout("The read operation timed out")))
    got, err = collect_until_error(r.client, provider)
    assert isinstance(err, StreamTimeout)
    assert err.exit_code == EXIT_NETWORK
    assert "120" in err.message  # the default read timeout, so the user knows what to raise
    assert any(isinstance(e, TextDelta) for e in got)
    assert len(r.server.requests) == 1
    assert r.server.streams[0].closed


def test_read_timeout_in_a_whole_json_reply() -> None:
    r = rig(
        Canned(
            200, [b'{"choi', httpx.ReadTimeout("timed out")], {"content-type": "application/json"}
        )
    )
    _, err = collect_until_error(r.client)
    assert isinstance(err, StreamTimeout)


def test_drop_in_a_whole_json_reply() -> None:
    # Nothing was shown yet, so the broken reply is retried; after the last attempt it is an
    # incomplete reply.
    broken: list[bytes | BaseException] = [b'{"choi', httpx.RemoteProtocolError("closed")]
    r = rig(*(Canned(200, list(broken), {"content-type": "application/json"}) for _ in range(3)))
    _, err = collect_until_error(r.client)
    assert isinstance(err, IncompleteReply)
    assert len(r.server.requests) == 3


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])
def test_keepalives_only_longer_than_idle_limit(provider: Provider) -> None:
    keepalive = b": OPENROUTER PROCESSING\n\n" if provider is OPENAI else event("ping", {})
    r = rig(timeouts=Timeouts(idle=300.0))
    items: list[Item] = []
    for _ in range(20):
        items += [r.clock.advance(100), keepalive]
    r.server.replies.append(sse_reply(*items))
    got, err = collect_until_error(r.client, provider)
    assert got == []
    assert isinstance(err, StreamTimeout)
    assert "5 min" in err.message
    # Raised as soon as the limit passed (after 400 s), not at the end of the stream.
    assert r.server.streams[0].served == 4
    assert r.server.streams[0].closed
    assert len(r.server.requests) == 1


def test_content_resets_the_idle_timer() -> None:
    r = rig(timeouts=Timeouts(idle=300.0))
    items: list[Item] = []
    for i in range(10):
        items += [r.clock.advance(250), b": OPENROUTER PROCESSING\n\n"]
        items += [r.clock.advance(40), text_chunk(f"{i} ")]
    items.append(b"data: [DONE]\n\n")
    r.server.replies.append(sse_reply(*items))
    got = collect(r.client)
    assert "".join(e.text for e in got if isinstance(e, TextDelta)) == "".join(
        f"{i} " for i in range(10)
    )


# ============================================================================================
# Closing the response
# ============================================================================================


def test_context_exit_closes_the_response() -> None:
    r = rig(sse_reply(OPENAI_STREAM))
    with r.client.chat(OPENAI, REQ) as events:
        assert next(iter(events)) == TextDelta("héllo ")
        assert not r.server.streams[0].closed
    assert r.server.streams[0].closed


def test_keyboard_interrupt_in_consumer_closes_the_response() -> None:
    r = rig(sse_reply(*split(OPENAI_STREAM, [20]), AssertionError("must not read to the end")))
    got: list[StreamEvent] = []
    with pytest.raises(KeyboardInterrupt), r.client.chat(OPENAI, REQ) as events:
        for ev in events:
            got.append(ev)
            raise KeyboardInterrupt
    assert got == [TextDelta("héllo ")]
    assert r.server.streams[0].closed
    assert len(r.server.requests) == 1 and r.sleeps == []


def test_keyboard_interrupt_while_reading_closes_the_response() -> None:
    r = rig(sse_reply(text_chunk("a"), KeyboardInterrupt()))
    reply = Accumulator()
    with pytest.raises(KeyboardInterrupt):
        run_turn(lambda req: r.client.chat(OPENAI, req), REQ, reply, lambda ev: None)
    assert reply.text == "a"
    assert r.server.streams[0].closed
    assert r.sleeps == []


def test_break_out_of_the_loop_closes_the_response() -> None:
    r = rig(sse_reply(OPENAI_STREAM))
    with r.client.chat(OPENAI, REQ) as events:
        for _ev in events:
            break
    assert r.server.streams[0].closed


def test_client_close_is_idempotent() -> None:
    r = rig(sse_reply(OPENAI_STREAM))
    with r.client as client:
        collect(client)
    r.client.close()


# ============================================================================================
# Redirects, the key and debug output
# ============================================================================================


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(status: int) -> None:
    evil = "https://evil.example/steal/chat/completions"
    r = rig(Canned(status, [b""], {"location": evil}))
    _, err = collect_until_error(r.client)
    assert isinstance(err, RequestRejected)
    assert err.status == status
    assert evil in err.message
    assert err.hint is not None and "base-url" in err.hint
    assert [q.url.host for q in r.server.requests] == ["modelslab.test"]
    assert r.server.streams[0].closed
    assert r.sleeps == []


def test_key_only_goes_to_the_base_host() -> None:
    r = rig(
        json_reply({"error": "moved"}, 503),
        Canned(302, [], {"location": "https://other.example/x"}),
    )
    collect_until_error(r.client)
    assert all(q.url.host == "modelslab.test" for q in r.server.requests)
    assert len(r.server.requests) == 2


@pytest.mark.parametrize(
    "base",
    [BASE, f"https://modelslab.test/{KEY}/api/v7/llm"],
    ids=["plain", "key-in-url"],
)
def test_debug_lines_never_contain_the_key(base: str) -> None:
    r = rig(
        json_reply({"status": "error", "message": "busy"}, 503, {"Retry-After": "0"}),
        sse_reply(OPENAI_STREAM),
        json_reply({"status": "error", "message": "Invalid API key"}, 401),
        base=base,
    )
    collect(r.client)
    collect_until_error(r.client)
    assert all(KEY not in line for line in r.debug)
    requests = [line for line in r.debug if line.startswith("POST ")]
    assert len(requests) == 3
    assert "-> 503" in requests[0] and "(attempt 1 of 3" in requests[0]
    assert "-> 200" in requests[1] and "(attempt 2 of 3" in requests[1]
    assert "-> 401" in requests[2]
    assert all(KEY not in line for line in r.status)


# ============================================================================================
# Models and token counting
# ============================================================================================


def test_list_models() -> None:
    r = rig(
        json_reply(
            {
                "object": "list",
                "data": [
                    {
                        "id": "Qwen/Qwen2.5-VL-72B-Instruct-together",
                        "object": "model",
                        "created": 1712345678,
                        "owned_by": "Qwen",
                    },
                    {
                        "id": "minimax-minimax-m1",
                        "object": "model",
                        "owned_by": "minimax",
                        "pricing": {},
                    },
                ],
            }
        )
    )
    models = r.client.list_models()
    assert models == [
        ModelInfo("Qwen/Qwen2.5-VL-72B-Instruct-together", "Qwen", 1712345678),
        ModelInfo("minimax-minimax-m1", "minimax"),
    ]
    (sent,) = r.server.requests
    assert sent.method == "GET"
    assert str(sent.url) == f"{BASE}/v1/models"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"] == f"mlchat/{__version__}"
    assert sent.content == b""
    assert r.server.streams[0].closed


def test_list_models_retries_and_errors() -> None:
    r = rig(
        json_reply({"status": "error", "message": "down"}, 503), json_reply({"data": [{"id": "m"}]})
    )
    assert r.client.list_models() == [ModelInfo("m")]
    assert len(r.sleeps) == 1
    r = rig(json_reply({"status": "error", "message": "Invalid API key"}, 401))
    with pytest.raises(AuthError):
        r.client.list_models()
    r = rig(json_reply({"status": "error", "message": "Provider returned error"}))
    with pytest.raises(RequestRejected):
        r.client.list_models()
    r = rig(Canned(200, [], {"content-type": "application/json"}))
    with pytest.raises(ProtocolError):
        r.client.list_models()


def test_count_tokens() -> None:
    r = rig(json_reply({"input_tokens": 15}))
    msgs = (Message("user", "What is the capital of France?"),)
    assert r.client.count_tokens(MODEL, msgs, "You are a helpful assistant.") == 15
    (sent,) = r.server.requests
    assert sent.method == "POST"
    assert str(sent.url) == f"{BASE}/v1/messages/count_tokens"
    assert json.loads(sent.content) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "system": "You are a helpful assistant.",
    }
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"


def test_count_tokens_bad_reply() -> None:
    r = rig(json_reply({"tokens": 15}))
    with pytest.raises(ProtocolError):
        r.client.count_tokens(MODEL, (Message("user", "x"),), None)


# ============================================================================================
# Error bodies and JSON replies that break while being read
# ============================================================================================


def test_error_body_that_breaks_while_read_is_still_mapped() -> None:
    r = rig(
        Canned(
            503,
            [b'{"status": "err', httpx.RemoteProtocolError("closed")],
            {"content-type": "application/json"},
        ),
        sse_reply(OPENAI_STREAM),
    )
    assert collect(r.client) == OPENAI_EVENTS
    assert len(r.server.requests) == 2
    assert r.server.streams[0].closed


def test_error_body_read_timeout_is_still_mapped() -> None:
    r = rig(Canned(401, [httpx.ReadTimeout("timed out")], {"content-type": "application/json"}))
    _, err = collect_until_error(r.client)
    assert isinstance(err, AuthError)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.RemoteProtocolError("closed"), IncompleteReply),
        (httpx.ReadTimeout("timed out"), StreamTimeout),
    ],
)
def test_json_reply_that_breaks_while_read(exc: Exception, cls: type[MlchatError]) -> None:
    r = rig(
        *(Canned(200, [b'{"data": [', exc], {"content-type": "application/json"}) for _ in range(3))
    )
    with pytest.raises(cls):
        r.client.list_models()


# ============================================================================================
# Against the loopback emulator (real sockets, chunked transfer, TCP reads)
# ============================================================================================


def emu_client(emu: Emulator, **kw: Any) -> Client:
    return Client(emu.base_url, KEY, sleep=lambda s: None, **kw)


def test_emulator_stream_split_across_reads(emulator: Emulator) -> None:
    text = "héllo 世界 🎉 — streamed over a real socket"
    emulator.script(EmuReply.chat(text, reasoning="thinking…", chunk_size=4, split_bytes=97))
    with emu_client(emulator) as client:
        reply = Accumulator()
        run_turn(lambda req: client.chat(OPENAI, req), REQ, reply, lambda ev: None)
    assert reply.text == text
    assert reply.reasoning == "thinking…"
    assert reply.finish_reason == "stop"
    assert reply.usage is not None and reply.usage.output_tokens is not None
    sent = emulator.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["model"] == sent.json["model_id"] == MODEL


def test_emulator_anthropic_tool_call(emulator: Emulator) -> None:
    emulator.script(
        EmuReply.chat(
            "Checking.",
            tool_calls=[
                {"id": "toolu_9", "name": "get_weather", "arguments": {"location": "Paris"}}
            ],
            finish_reason="tool_use",
            chunk_size=3,
        )
    )
    with emu_client(emulator) as client:
        reply = Accumulator()
        run_turn(lambda req: client.chat(ANTHROPIC, req), REQ, reply, lambda ev: None)
    assert reply.text == "Checking."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("toolu_9", "get_weather", {"location": "Paris"})
    ]
    assert reply.finish_reason == "tool_calls"
    assert emulator.requests[0].headers["x-api-key"] == KEY


def test_emulator_drop_keeps_partial_reply(emulator: Emulator) -> None:
    emulator.script(EmuReply.chat("one two three four five six", chunk_size=4, drop_after=3))
    with emu_client(emulator) as client:
        reply = Accumulator()
        with pytest.raises(IncompleteReply):
            run_turn(lambda req: client.chat(OPENAI, req), REQ, reply, lambda ev: None)
    assert reply.text and "one two three four five six".startswith(reply.text)
    assert len(emulator.requests) == 1


def test_emulator_hang_is_a_stream_timeout(emulator: Emulator) -> None:
    emulator.script(EmuReply.hang(5))
    client = emu_client(emulator, timeouts=Timeouts(connect=2, read=0.05))
    with client, pytest.raises(StreamTimeout), client.chat(OPENAI, REQ) as events:
        list(events)
    assert len(emulator.requests) == 1


def test_emulator_models_and_count(emulator: Emulator) -> None:
    with emu_client(emulator) as client:
        models = client.list_models()
        count = client.count_tokens(MODEL, (Message("user", "one two three"),), "be brief")
    assert models and all(isinstance(m, ModelInfo) and m.id for m in models)
    assert count > 0
    assert [r.path.rsplit("/v7/llm", 1)[-1] for r in emulator.requests] == [
        "/v1/models",
        "/v1/messages/count_tokens",
    ]


# Params of a request survive the client unchanged (the client must not add or drop fields).
def test_params_pass_through() -> None:
    req = ChatRequest(
        MODEL,
        (Message("user", "x"),),
        params=Params(temperature=0.0, top_p=1.0, max_tokens=5, stop=("a",), seed=1),
    )
    r = rig(sse_reply(OPENAI_STREAM))
    collect(r.client, OPENAI, req)
    assert r.server.bodies()[0] == OPENAI.build_request(req, KEY).json


def test_tool_call_stream_through_client() -> None:
    raw = b"".join(
        [
            data(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_1",
                                        "function": {"name": "f", "arguments": ""},
                                    }
                                ]
                            },
                        }
                    ]
                }
            ),
            data(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]
                            },
                        }
                    ]
                }
            ),
            data(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]
                            },
                            "finish_reason": "tool_calls",
                        }
                    ]
                }
            ),
            b"data: [DONE]\n\n",
        ]
    )
    r = rig(sse_reply(*split(raw, [17])))
    got = collect(r.client)
    assert got[0] == ToolCallDelta(0, "call_1", "f", "")
    reply = Accumulator()
    for ev in got:
        reply.add(ev)
    assert reply.tool_calls == (ToolCall("call_1", "f", '{"a": 1}'),)
    assert reply.finish_reason == "tool_calls"
    assert not any(isinstance(e, ReasoningDelta) for e in got)
