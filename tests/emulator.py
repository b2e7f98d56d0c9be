"""A local ModelsLab LLM API emulator serving real HTTP on 127.0.0.1 (standard library only).

It implements the wire protocol described in ``/work/shared/modelslab-api.md`` sections 3-5,
including the quirks: ``: OPENROUTER PROCESSING`` comment lines, chunks without ``id``/``model``,
a role-only first chunk, a usage-only chunk with ``"choices": []``, errors under HTTP 200, plain
JSON answers to ``stream: true`` requests, dropped connections and stalled streams.

Routes (relative to ``prefix``, default ``/api/v7/llm``):

* ``POST /chat/completions``          OpenAI dialect
* ``POST /v1/messages``               Anthropic dialect
* ``POST /v1/messages/count_tokens``  ``{"input_tokens": N}``
* ``GET  /v1/models``                 ``{"object": "list", "data": emulator.models}``

Any other path answers 404 ``{"error": {"message": "not found"}}``; a known path with the wrong
method answers 405 ``{"error": {"message": "method not allowed"}}``.  Neither consumes a scripted
reply, but both are recorded in ``emulator.requests``.

Scripting: ``emulator.script(reply, ...)`` appends replies to a FIFO queue.  Every request to one of
the four routes pops the next reply (whatever the route); when the queue is empty the route's
default behaviour applies:

* chat routes: ``Reply.chat(echo_text(request))`` i.e. ``"echo: " + <text of the last user
  message>`` (``"Hello from the emulator."`` when there is no user message), streamed or not
  according to the request's ``stream`` field, in the route's dialect, with the emulator's
  ``default_delay`` between SSE events.  A body that is not a JSON object gets
  400 ``{"status": "error", "message": "malformed JSON body"}``.
* count_tokens: ``{"input_tokens": count_prompt_tokens(request_json)}`` (see that function:
  whitespace-separated words of the system prompt and of every message's text, plus 3 per message).
* models: ``{"object": "list", "data": emulator.models}`` (``DEFAULT_MODELS`` unless replaced).

Default usage numbers (``Reply.chat(usage="auto")``): ``prompt_tokens`` =
``count_prompt_tokens`` of the request, ``completion_tokens`` = number of whitespace-separated
words in reasoning + text + every tool call's argument string, ``total_tokens`` = their sum.
Anthropic replies report them as ``input_tokens`` / ``output_tokens``.

Replies (see each classmethod of ``Reply``):

* ``Reply.chat(...)``: dialect from the route, streaming from the request's ``stream``
  (override with ``stream=``).  Streams use ``Transfer-Encoding: chunked``, one HTTP chunk per
  SSE frame; whole JSON bodies use Content-Length.  ``delay`` sleeps between frames.
  ``split_bytes`` writes the body in pieces of that many bytes (flush + 1 ms sleep before each
  piece, so keep such bodies small).
  ``drop_after=N`` closes the connection right after the N-th SSE *event* (comment lines such as
  ``: OPENROUTER PROCESSING`` do not count; ``[DONE]`` and Anthropic ``ping`` do; 0 = right after
  the headers); on a non-streamed reply it sends only the first N body bytes.  ``finish_reason``
  is used verbatim: pass ``finish_reason="tool_calls"`` with ``tool_calls``.  Tool-call ids you
  give are used in both dialects (defaults: ``call_<n>`` / ``toolu_<n>``).
* ``Reply.error(status, body)``, ``Reply.raw(status, bytes)``, ``Reply.json(obj)``: whole bodies.
* ``Reply.sse(events, drop=...)``: raw frames.  ``Reply.hang(s)``: SSE headers, silence, drop.
* ``Reply.pings(n, interval)``: ``: ping`` comments (OpenAI route) or ``event: ping`` (Anthropic
  routes), ``interval`` apart, then ``interval`` of silence and a drop.

A "drop" is a FIN without the chunked terminator, which httpx reports as
``httpx.RemoteProtocolError``.  ``stop()`` wakes replies that are sleeping (hang, delay, pings)
and shuts down open client connections.  The emulator never writes to stdout/stderr.

Usage example::

    import httpx
    from tests.emulator import Emulator, Reply

    with Emulator() as emu:
        emu.script(
            Reply.chat("Bonjour!", reasoning="The user greets me.", chunk_size=3),
            Reply.error(402),                        # the second request gets a 402
            Reply.error(200, {"status": "error", "message": "Provider returned error"}),
            Reply.chat("partial answer", drop_after=2),  # broken stream
        )
        r = httpx.post(f"{emu.base_url}/chat/completions",
                       json={"model": "minimax-minimax-m1", "stream": True,
                             "messages": [{"role": "user", "content": "hi"}]})
        assert emu.requests[0].json["model"] == "minimax-minimax-m1"
        assert emu.requests[0].headers["content-type"] == "application/json"

By hand (serves default replies until Ctrl-C)::

    python -m tests.emulator [--port N] [--prefix /api/v7/llm] [--delay 0.05]
    # prints: MODELSLAB_BASE_URL=http://127.0.0.1:PORT/api/v7/llm
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Literal

__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_PREFIX",
    "DEFAULT_TEXT",
    "ChatReply",
    "Dialect",
    "Emulator",
    "ErrorReply",
    "Exchange",
    "HangReply",
    "PingsReply",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "SSEReply",
    "count_prompt_tokens",
    "echo_text",
    "main",
]

DEFAULT_PREFIX = "/api/v7/llm"
DEFAULT_TEXT = "Hello from the emulator."

Dialect = Literal["openai", "anthropic"]

DEFAULT_MODELS: list[dict[str, Any]] = [
    {"id": "minimax-minimax-m1", "object": "model", "created": 1745000000, "owned_by": "minimax"},
    {
        "id": "Qwen/Qwen2.5-VL-72B-Instruct-together",
        "object": "model",
        "created": 1712345678,
        "owned_by": "Qwen",
    },
    {
        "id": "meta-llama-3-8B-instruct",
        "object": "model",
        "created": 1713398400,
        "owned_by": "meta-llama",
    },
    {
        "id": "deepseek-ai-DeepSeek-R1-Distill-Llama-70B",
        "object": "model",
        "created": 1737504000,
        "owned_by": "deepseek-ai",
    },
]

# Default bodies of Reply.error(status) (messages from the ModelsLab error-codes page).
_ERROR_MESSAGES: dict[int, str] = {
    200: "Provider returned error",
    400: "Bad request - invalid parameters",
    401: "Invalid API key",
    402: "Insufficient credits. Please add more credits to continue.",
    403: "This feature requires a premium subscription",
    404: "Model not found",
    429: "Rate limit exceeded. Maximum 5 queued requests allowed.",
    500: "Internal server error. Please try again.",
    502: "Bad gateway",
    503: "Service temporarily unavailable. Please try again later.",
}

# (method, dialect) per route, relative to the prefix.
_ROUTES: dict[str, tuple[str, Dialect]] = {
    "/chat/completions": ("POST", "openai"),
    "/v1/messages": ("POST", "anthropic"),
    "/v1/messages/count_tokens": ("POST", "anthropic"),
    "/v1/models": ("GET", "openai"),
}

_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _data_event(obj: Any) -> bytes:
    return f"data: {_dumps(obj)}\n\n".encode()


def _named_event(name: str, obj: Any) -> bytes:
    return f"event: {name}\ndata: {_dumps(obj)}\n\n".encode()


def _text_of(content: Any) -> str:
    """Plain text of a message ``content`` (string, or list of parts with ``text``/``content``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(t for t in (_text_of(part) for part in content) if t)
    if isinstance(content, dict):
        text = content.get("text")
        if isinstance(text, str):
            return text
        return _text_of(content.get("content"))
    return ""


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def count_prompt_tokens(payload: Any) -> int:
    """Deterministic token count used by count_tokens and by default usage numbers.

    ``words(system) + sum(3 + words(message text) for message in messages)``, where words are
    whitespace-separated and message text is the string content or the ``text`` of content parts
    (``tool_result`` parts contribute their nested ``content``).  Non-dict payloads count 0.
    """
    if not isinstance(payload, dict):
        return 0
    total = _words(_text_of(payload.get("system")))
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            total += 3
            if isinstance(message, dict):
                total += _words(_text_of(message.get("content")))
    return total


def echo_text(payload: Any) -> str:
    """Text of the default chat reply: ``"echo: " + last user message text``."""
    if isinstance(payload, dict) and isinstance(payload.get("messages"), list):
        for message in reversed(payload["messages"]):
            if isinstance(message, dict) and message.get("role") == "user":
                return "echo: " + _text_of(message.get("content"))
    return DEFAULT_TEXT


def _split_text(text: str, chunk_size: int | None) -> list[str]:
    """Split into ``chunk_size``-char pieces, else word-ish ones (``"a b"`` -> ``"a", " b"``)."""
    if not text:
        return []
    if chunk_size is not None and chunk_size > 0:
        return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return re.findall(r"\s*\S+|\s+", text)


def _split_arguments(arguments: str, chunk_size: int | None) -> list[str]:
    """Split tool-call arguments into 2+ fragments (3 roughly equal ones unless chunk_size)."""
    if chunk_size is not None and chunk_size > 0:
        pieces = _split_text(arguments, chunk_size)
    elif len(arguments) < 2:
        pieces = [arguments]
    else:
        n = min(3, len(arguments))
        step = -(-len(arguments) // n)
        pieces = [arguments[i : i + step] for i in range(0, len(arguments), step)]
    return pieces or [""]


@dataclass
class _ToolCall:
    id: str | None
    name: str
    arguments: str


def _normalise_tool_call(raw: Mapping[str, Any]) -> _ToolCall:
    """Accept ``{"id","name","arguments"}`` or full OpenAI ``{"id","type","function":{...}}``."""
    fn = raw.get("function")
    source: Mapping[str, Any] = fn if isinstance(fn, Mapping) else raw
    name = str(source.get("name", raw.get("name", "")))
    args: Any = source.get("arguments", raw.get("arguments", raw.get("input", "")))
    arguments = args if isinstance(args, str) else _dumps(args)
    tool_id = raw.get("id")
    return _ToolCall(
        id=str(tool_id) if tool_id is not None else None, name=name, arguments=arguments
    )


def _merge_headers(
    defaults: Mapping[str, str], extra: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {k.lower(): (k, v) for k, v in defaults.items()}
    for key, value in (extra or {}).items():
        merged[key.lower()] = (key, str(value))
    return list(merged.values())


# --------------------------------------------------------------------------------------------
# Recorded requests and the per-request exchange
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request received by the emulator."""

    method: str
    path: str  # relative to the prefix ("/chat/completions"), query stripped; full path if outside
    query: str  # raw query string ("" if none)
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    json: Any  # parsed JSON body, or None


class _Dropped(Exception):
    """Raised internally to abandon a response (connection dropped or emulator stopping)."""


class Exchange:
    """What a Reply sees of one request/response: the request and low-level writers."""

    def __init__(
        self,
        handler: _Handler,
        request: RecordedRequest,
        dialect: Dialect,
        emulator: Emulator,
    ) -> None:
        self.handler = handler
        self.request = request
        self.dialect: Dialect = dialect
        self.emulator = emulator
        payload = request.json
        self.stream: bool = bool(isinstance(payload, dict) and payload.get("stream"))
        self.model: str = ""
        if isinstance(payload, dict):
            self.model = str(payload.get("model") or payload.get("model_id") or "")

    # -- response primitives ----------------------------------------------------------------

    def start_response(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.handler.send_response(status)
        for key, value in headers:
            self.handler.send_header(key, value)
        self.handler.end_headers()
        self.handler.wfile.flush()

    def write(self, data: bytes, split_bytes: int | None = None) -> None:
        """Write raw bytes, optionally in ``split_bytes`` pieces (flush + 1 ms pause each)."""
        wfile = self.handler.wfile
        if not data:
            return
        if split_bytes is None or split_bytes <= 0:
            wfile.write(data)
            wfile.flush()
            return
        for i in range(0, len(data), split_bytes):
            time.sleep(0.001)
            wfile.write(data[i : i + split_bytes])
            wfile.flush()

    def write_chunk(self, data: bytes, split_bytes: int | None = None) -> None:
        """Write one chunk of a chunked body (empty data is skipped: it would end the body)."""
        if data:
            self.write(b"%x\r\n" % len(data) + data + b"\r\n", split_bytes)

    def end_chunks(self, split_bytes: int | None = None) -> None:
        self.write(b"0\r\n\r\n", split_bytes)

    def send_whole(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, Any] | None = None,
        *,
        split_bytes: int | None = None,
        drop_after: int | None = None,
    ) -> None:
        """A Content-Length response; ``drop_after`` sends only that many body bytes, then drops."""
        defaults = {"Content-Type": content_type, "Content-Length": str(len(body))}
        self.start_response(status, _merge_headers(defaults, headers))
        if drop_after is not None:
            self.write(body[: max(drop_after, 0)], split_bytes)
            self.drop()
            return
        self.write(body, split_bytes)

    def start_stream(self, status: int, headers: Mapping[str, Any] | None = None) -> None:
        defaults = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
        }
        self.start_response(status, _merge_headers(defaults, headers))

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``; raise _Dropped at once if the emulator is stopping."""
        if seconds > 0 and self.emulator._stopping.wait(seconds):
            raise _Dropped
        if self.emulator._stopping.is_set():
            raise _Dropped

    def drop(self) -> None:
        """Close the connection now, without finishing the response."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        raise _Dropped

    def stream_frames(
        self,
        frames: Sequence[tuple[bytes, bool]],
        *,
        status: int = 200,
        headers: Mapping[str, Any] | None = None,
        delay: float = 0.0,
        split_bytes: int | None = None,
        drop_after: int | None = None,
        drop_at_end: bool = False,
    ) -> None:
        """Send ``(frame, is_event)`` pairs as a chunked SSE body.

        ``drop_after`` counts frames with ``is_event`` true (comments are not events); the
        connection is dropped right after that many events (0 = right after the headers).
        """
        self.start_stream(status, headers)
        sent_events = 0
        if drop_after is not None and drop_after <= 0:
            self.drop()
        for index, (frame, is_event) in enumerate(frames):
            if index:
                self.wait(delay)
            self.write_chunk(frame, split_bytes)
            if is_event:
                sent_events += 1
                if drop_after is not None and sent_events >= drop_after:
                    self.drop()
        if drop_at_end:
            self.drop()
        self.end_chunks(split_bytes)


# --------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------


class Reply:
    """Base class of scripted replies; build them with the classmethods below."""

    def serve(self, exchange: Exchange) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def chat(
        cls,
        text: str = DEFAULT_TEXT,
        *,
        reasoning: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        usage: dict[str, Any] | Literal["auto"] | None = "auto",
        finish_reason: str | None = "stop",
        chunk_size: int | None = None,
        delay: float = 0.0,
        comment: bool = True,
        usage_chunk: bool = True,
        done: bool = True,
        role_chunk: bool = True,
        ids: bool = False,
        status: int = 200,
        headers: dict[str, str] | None = None,
        split_bytes: int | None = None,
        drop_after: int | None = None,
        stream: bool | None = None,
        refusal: str | None = None,
        server_tools: list[dict[str, Any]] | None = None,
        model: str | None = None,
    ) -> ChatReply:
        """A chat completion adapted to the route's dialect and the request's ``stream`` field.

        ``tool_calls``: ``[{"id": "call_1", "name": "get_weather", "arguments": "{...}"}]``
        (arguments may be a dict; full OpenAI ``{"function": {...}}`` shape is accepted too).
        ``finish_reason`` is used verbatim (pass ``"tool_calls"`` yourself); ``None`` means no
        finish chunk (OpenAI) / ``stop_reason: null`` (Anthropic).  ``usage``: ``"auto"``
        computes numbers (see module docstring), ``None`` omits usage, or give a dict in OpenAI
        (prompt/completion/total) or Anthropic (input/output) keys.  ``stream`` overrides the
        request's ``stream`` field (``False`` answers a streaming request with plain JSON).
        ``drop_after`` on a non-streamed reply sends only that many body *bytes*.
        ``comment``/``usage_chunk``/``done``/``role_chunk``/``ids`` only affect OpenAI streams.
        ``refusal``: the model refuses: OpenAI ``refusal`` (streamed in pieces, content null),
        Anthropic a text block and ``stop_reason: "refusal"``.  ``server_tools`` (Anthropic
        only): ``[{"name": "web_search", "input": {...}, "result": [...]}]`` become a
        ``server_tool_use`` block (input streamed as ``input_json_delta``) and a
        ``<name>_tool_result`` block before the text.  ``model``: the model that answers (the
        request's by default).  Cache figures in a ``usage`` dict (Anthropic
        ``cache_read_input_tokens``/``cache_creation_input_tokens``, OpenAI
        ``prompt_tokens_details``) are sent as given.
        """
        return ChatReply(
            text=text,
            reasoning=reasoning,
            tool_calls=[_normalise_tool_call(tc) for tc in (tool_calls or [])],
            usage=usage,
            finish_reason=finish_reason,
            chunk_size=chunk_size,
            delay=delay,
            comment=comment,
            usage_chunk=usage_chunk,
            done=done,
            role_chunk=role_chunk,
            ids=ids,
            status=status,
            headers=dict(headers or {}),
            split_bytes=split_bytes,
            drop_after=drop_after,
            stream=stream,
            refusal=refusal,
            server_tools=list(server_tools or []),
            model=model,
        )

    @classmethod
    def error(
        cls,
        status: int,
        body: dict[str, Any] | str | None = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> ErrorReply:
        """An error (any status, 200 included).  Default body: ``{"status":"error","message":..}``
        with the documented ModelsLab message for the status (429 adds ``"retry_after": 1``)."""
        if body is None:
            default: dict[str, Any] = {"status": "error", "message": _default_message(status)}
            if status == 429:
                default["retry_after"] = 1
            body = default
        data = body.encode() if isinstance(body, str) else _dumps(body).encode()
        return ErrorReply(
            status=status, body=data, content_type=content_type, headers=dict(headers or {})
        )

    @classmethod
    def json(
        cls, obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> RawReply:
        """Any JSON document with any status (e.g. a custom models list)."""
        return RawReply(
            status=status,
            body=_dumps(obj).encode(),
            content_type="application/json",
            headers=dict(headers or {}),
        )

    @classmethod
    def sse(
        cls,
        events: Sequence[str | dict[str, Any] | bytes],
        *,
        status: int = 200,
        delay: float = 0.0,
        split_bytes: int | None = None,
        drop: bool = False,
        headers: dict[str, str] | None = None,
    ) -> SSEReply:
        """Raw SSE: str and bytes are sent verbatim, a dict as ``data: <json>\\n\\n``.

        Each item is one write (one HTTP chunk); ``drop=True`` closes the connection instead of
        terminating the chunked body."""
        frames: list[bytes] = []
        for event in events:
            if isinstance(event, bytes):
                frames.append(event)
            elif isinstance(event, str):
                frames.append(event.encode())
            else:
                frames.append(_data_event(event))
        return SSEReply(
            frames=frames,
            status=status,
            delay=delay,
            split_bytes=split_bytes,
            drop=drop,
            headers=dict(headers or {}),
        )

    @classmethod
    def raw(
        cls,
        status: int,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> RawReply:
        """Any body with a Content-Length (e.g. an HTML error page with ``text/html``)."""
        return RawReply(
            status=status, body=body, content_type=content_type, headers=dict(headers or {})
        )

    @classmethod
    def hang(cls, seconds: float) -> HangReply:
        """Send ``text/event-stream`` headers, then nothing for ``seconds``, then drop."""
        return HangReply(seconds=seconds)

    @classmethod
    def pings(cls, count: int, interval: float) -> PingsReply:
        """SSE keep-alives only (``: ping`` / Anthropic ``event: ping``), then drop."""
        return PingsReply(count=count, interval=interval)


def _default_message(status: int) -> str:
    if status in _ERROR_MESSAGES:
        return _ERROR_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass
class ChatReply(Reply):
    text: str = DEFAULT_TEXT
    reasoning: str | None = None
    tool_calls: list[_ToolCall] = field(default_factory=list)
    usage: dict[str, Any] | Literal["auto"] | None = "auto"
    finish_reason: str | None = "stop"
    chunk_size: int | None = None
    delay: float = 0.0
    comment: bool = True
    usage_chunk: bool = True
    done: bool = True
    role_chunk: bool = True
    ids: bool = False
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    split_bytes: int | None = None
    drop_after: int | None = None
    stream: bool | None = None
    refusal: str | None = None
    server_tools: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None

    # -- shared pieces ----------------------------------------------------------------------

    def _usage_numbers(self, exchange: Exchange) -> tuple[int, int] | None:
        """(prompt/input tokens, completion/output tokens), or None when usage is omitted."""
        if self.usage is None:
            return None
        if self.usage == "auto":
            prompt = count_prompt_tokens(exchange.request.json)
            completion = _words(self.reasoning) + _words(self.text)
            completion += sum(_words(tc.arguments) for tc in self.tool_calls)
            return prompt, completion
        usage = self.usage
        prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)))
        completion = int(usage.get("completion_tokens", usage.get("output_tokens", 0)))
        return prompt, completion

    def _openai_usage(self, exchange: Exchange) -> dict[str, int] | None:
        if isinstance(self.usage, dict) and "prompt_tokens" in self.usage:
            return dict(self.usage)
        numbers = self._usage_numbers(exchange)
        if numbers is None:
            return None
        prompt, completion = numbers
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _tool_id(self, index: int, tool: _ToolCall, dialect: Dialect) -> str:
        if tool.id is not None:
            return tool.id
        return f"call_{index + 1}" if dialect == "openai" else f"toolu_{index + 1}"

    def _stop_reason(self) -> str | None:
        if self.refusal is not None:
            return "refusal"
        if self.finish_reason is None:
            return None
        return _STOP_REASONS.get(self.finish_reason, self.finish_reason)

    def _model(self, exchange: Exchange) -> str:
        return self.model or exchange.model

    def _anthropic_usage(self, numbers: tuple[int, int], output: int) -> dict[str, int]:
        usage = {"input_tokens": numbers[0], "output_tokens": output}
        if isinstance(self.usage, dict):
            usage.update({k: v for k, v in self.usage.items() if k.startswith("cache_")})
        return usage

    def _server_blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        for number, tool in enumerate(self.server_tools):
            ident = tool.get("id", f"srvtoolu_{number + 1}")
            name = tool.get("name", "web_search")
            blocks.append(
                {
                    "type": "server_tool_use",
                    "id": ident,
                    "name": name,
                    "input": tool.get("input", {}),
                }
            )
            blocks.append(
                {
                    "type": f"{name}_tool_result",
                    "tool_use_id": ident,
                    "content": tool.get("result", []),
                }
            )
        return blocks

    # -- serving ----------------------------------------------------------------------------

    def serve(self, exchange: Exchange) -> None:
        stream = exchange.stream if self.stream is None else self.stream
        if exchange.dialect == "anthropic":
            if stream:
                frames = list(self._anthropic_frames(exchange))
            else:
                body = self._anthropic_body(exchange)
        else:
            if stream:
                frames = list(self._openai_frames(exchange))
            else:
                body = self._openai_body(exchange)
        if stream:
            exchange.stream_frames(
                frames,
                status=self.status,
                headers=self.headers,
                delay=self.delay,
                split_bytes=self.split_bytes,
                drop_after=self.drop_after,
            )
        else:
            exchange.send_whole(
                self.status,
                _dumps(body).encode(),
                "application/json",
                self.headers,
                split_bytes=self.split_bytes,
                drop_after=self.drop_after,
            )

    # -- OpenAI -----------------------------------------------------------------------------

    def _openai_body(self, exchange: Exchange) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.text if (self.text or not self.tool_calls) else None,
        }
        if self.refusal is not None:
            message["content"] = None
            message["refusal"] = self.refusal
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._tool_id(i, tc, "openai"),
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments},
                }
                for i, tc in enumerate(self.tool_calls)
            ]
        body: dict[str, Any] = {
            "id": f"chatcmpl-emu-{exchange.emulator._next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self._model(exchange),
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        usage = self._openai_usage(exchange)
        if usage is not None:
            body["usage"] = usage
        return body

    def _openai_frames(self, exchange: Exchange) -> Iterator[tuple[bytes, bool]]:
        chunk_id = f"chatcmpl-emu-{exchange.emulator._next_id()}"
        created = int(time.time())

        def chunk(
            delta: dict[str, Any] | None,
            finish: str | None = None,
            *,
            final: bool = False,
            usage: dict[str, int] | None = None,
        ) -> bytes:
            obj: dict[str, Any] = {}
            if self.ids:
                obj.update(
                    id=chunk_id,
                    object="chat.completion.chunk",
                    created=created,
                    model=self._model(exchange),
                )
            elif self.model is not None:
                obj["model"] = self.model
            if delta is None:  # usage-only chunk
                obj["choices"] = []
            else:
                choice: dict[str, Any] = {"index": 0, "delta": delta}
                if final or self.ids:
                    choice["finish_reason"] = finish
                obj["choices"] = [choice]
            if usage is not None:
                obj["usage"] = usage
            return _data_event(obj)

        if self.comment:
            yield b": OPENROUTER PROCESSING\n\n", False
        if self.role_chunk:
            yield chunk({"role": "assistant", "content": ""}), True
        for piece in _split_text(self.reasoning or "", self.chunk_size):
            yield chunk({"reasoning_content": piece}), True
        if self.refusal is not None:
            for piece in _split_text(self.refusal, self.chunk_size):
                yield chunk({"content": None, "refusal": piece}), True
        else:
            for piece in _split_text(self.text, self.chunk_size):
                yield chunk({"content": piece}), True
        for index, tool in enumerate(self.tool_calls):
            pieces = _split_arguments(tool.arguments, self.chunk_size)
            first = {
                "index": index,
                "id": self._tool_id(index, tool, "openai"),
                "type": "function",
                "function": {"name": tool.name, "arguments": pieces[0]},
            }
            yield chunk({"tool_calls": [first]}), True
            for piece in pieces[1:]:
                fragment = {"index": index, "function": {"arguments": piece}}
                yield chunk({"tool_calls": [fragment]}), True
        if self.finish_reason is not None:
            yield chunk({}, self.finish_reason, final=True), True
        usage = self._openai_usage(exchange)
        if self.usage_chunk and usage is not None:
            yield chunk(None, usage=usage), True
        if self.done:
            yield b"data: [DONE]\n\n", True

    # -- Anthropic --------------------------------------------------------------------------

    def _anthropic_blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.reasoning is not None:
            blocks.append(
                {"type": "thinking", "thinking": self.reasoning, "signature": "emulator-signature"}
            )
        blocks += self._server_blocks()
        if self.refusal is not None:
            blocks.append({"type": "text", "text": self.refusal})
        elif self.text or not self.tool_calls:
            blocks.append({"type": "text", "text": self.text})
        for index, tool in enumerate(self.tool_calls):
            try:
                parsed: Any = json.loads(tool.arguments) if tool.arguments else {}
            except ValueError:
                parsed = {}
            blocks.append(
                {
                    "type": "tool_use",
                    "id": self._tool_id(index, tool, "anthropic"),
                    "name": tool.name,
                    "input": parsed,
                }
            )
        return blocks

    def _anthropic_body(self, exchange: Exchange) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"msg_emu_{exchange.emulator._next_id()}",
            "type": "message",
            "role": "assistant",
            "content": self._anthropic_blocks(),
            "model": self._model(exchange),
            "stop_reason": self._stop_reason(),
            "stop_sequence": None,
        }
        numbers = self._usage_numbers(exchange)
        if numbers is not None:
            body["usage"] = self._anthropic_usage(numbers, numbers[1])
        return body

    def _anthropic_frames(self, exchange: Exchange) -> Iterator[tuple[bytes, bool]]:
        numbers = self._usage_numbers(exchange)
        message: dict[str, Any] = {
            "id": f"msg_emu_{exchange.emulator._next_id()}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model(exchange),
            "stop_reason": None,
            "stop_sequence": None,
        }
        if numbers is not None:
            message["usage"] = self._anthropic_usage(numbers, 1)
        yield _named_event("message_start", {"type": "message_start", "message": message}), True

        pinged = False

        def ping() -> Iterator[tuple[bytes, bool]]:
            nonlocal pinged
            if not pinged:
                pinged = True
                yield _named_event("ping", {"type": "ping"}), True

        def start(index: int, block: dict[str, Any]) -> Iterator[tuple[bytes, bool]]:
            obj = {"type": "content_block_start", "index": index, "content_block": block}
            yield _named_event("content_block_start", obj), True
            yield from ping()

        def delta(index: int, payload: dict[str, Any]) -> tuple[bytes, bool]:
            obj = {"type": "content_block_delta", "index": index, "delta": payload}
            return _named_event("content_block_delta", obj), True

        def stop(index: int) -> tuple[bytes, bool]:
            obj = {"type": "content_block_stop", "index": index}
            return _named_event("content_block_stop", obj), True

        index = 0
        if self.reasoning is not None:
            yield from start(index, {"type": "thinking", "thinking": ""})
            for piece in _split_text(self.reasoning, self.chunk_size):
                yield delta(index, {"type": "thinking_delta", "thinking": piece})
            yield stop(index)
            index += 1
        for block in self._server_blocks():
            if block["type"] == "server_tool_use":
                yield from start(index, {**block, "input": {}})
                arguments = _dumps(block["input"])
                for piece in _split_arguments(arguments, self.chunk_size):
                    yield delta(index, {"type": "input_json_delta", "partial_json": piece})
            else:
                yield from start(index, block)
            yield stop(index)
            index += 1
        text = self.refusal if self.refusal is not None else self.text
        if text or not self.tool_calls:
            yield from start(index, {"type": "text", "text": ""})
            for piece in _split_text(text, self.chunk_size):
                yield delta(index, {"type": "text_delta", "text": piece})
            yield stop(index)
            index += 1
        for number, tool in enumerate(self.tool_calls):
            block = {
                "type": "tool_use",
                "id": self._tool_id(number, tool, "anthropic"),
                "name": tool.name,
                "input": {},
            }
            yield from start(index, block)
            if tool.arguments:
                for piece in _split_arguments(tool.arguments, self.chunk_size):
                    yield delta(index, {"type": "input_json_delta", "partial_json": piece})
            yield stop(index)
            index += 1
        yield from ping()

        message_delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason(), "stop_sequence": None},
        }
        if numbers is not None:
            message_delta["usage"] = {"output_tokens": numbers[1]}
        yield _named_event("message_delta", message_delta), True
        if self.done:
            yield _named_event("message_stop", {"type": "message_stop"}), True


@dataclass
class ErrorReply(Reply):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def serve(self, exchange: Exchange) -> None:
        exchange.send_whole(self.status, self.body, self.content_type, self.headers)


@dataclass
class RawReply(Reply):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def serve(self, exchange: Exchange) -> None:
        exchange.send_whole(self.status, self.body, self.content_type, self.headers)


@dataclass
class SSEReply(Reply):
    frames: list[bytes]
    status: int = 200
    delay: float = 0.0
    split_bytes: int | None = None
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    def serve(self, exchange: Exchange) -> None:
        exchange.stream_frames(
            [(frame, True) for frame in self.frames],
            status=self.status,
            headers=self.headers,
            delay=self.delay,
            split_bytes=self.split_bytes,
            drop_at_end=self.drop,
        )


@dataclass
class HangReply(Reply):
    seconds: float

    def serve(self, exchange: Exchange) -> None:
        exchange.start_stream(200)
        exchange.wait(self.seconds)
        exchange.drop()


@dataclass
class PingsReply(Reply):
    count: int
    interval: float

    def serve(self, exchange: Exchange) -> None:
        if exchange.dialect == "anthropic":
            frame = _named_event("ping", {"type": "ping"})
        else:
            frame = b": ping\n\n"
        exchange.start_stream(200)
        for number in range(self.count):
            if number:
                exchange.wait(self.interval)
            exchange.write_chunk(frame)
        exchange.wait(self.interval)
        exchange.drop()


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ModelsLabEmulator/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError):  # client went away, or socket closed by stop()
            self.close_connection = True

    def log_message(self, fmt: str, *args: Any) -> None:
        pass  # the emulator must be silent

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        path, _, query = self.path.partition("?")
        prefix = emulator.prefix
        relative: str | None = None
        if path == prefix or path.startswith(prefix + "/"):
            relative = path[len(prefix) :] or "/"
        try:
            body = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            name = key.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        request = RecordedRequest(
            method=self.command,
            path=relative if relative is not None else path,
            query=query,
            headers=headers,
            body=body,
            json=parsed,
        )
        emulator._record(request)

        route = _ROUTES.get(relative) if relative is not None else None
        reply: Reply
        dialect: Dialect = "openai"
        if route is None:
            reply = Reply.error(404, {"error": {"message": "not found"}})
        elif route[0] != self.command:
            reply = Reply.error(
                405, {"error": {"message": "method not allowed"}}, headers={"Allow": route[0]}
            )
        else:
            dialect = route[1]
            reply = emulator._pop() or emulator._default_reply(relative or "", parsed)
        exchange = Exchange(self, request, dialect, emulator)
        try:
            reply.serve(exchange)
        except _Dropped:
            self.close_connection = True
        except OSError:  # broken pipe / reset: the client stopped reading
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's socket.getfqdn() (a possibly slow reverse DNS lookup).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # never print tracebacks

    def track(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class Emulator:
    """A ModelsLab LLM API emulator on ``127.0.0.1`` (see the module docstring)."""

    def __init__(
        self,
        prefix: str = DEFAULT_PREFIX,
        *,
        port: int = 0,
        default_delay: float = 0.0,
    ) -> None:
        prefix = prefix.strip()
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        self.prefix: str = prefix.rstrip("/")
        self.default_delay: float = default_delay
        self.models: list[dict[str, Any]] = copy.deepcopy(DEFAULT_MODELS)
        self.requests: list[RecordedRequest] = []
        self._requested_port = port
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", self._requested_port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"modelslab-emulator-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = None
        self._thread = None
        self._stopping.set()  # wakes hanging replies and delays
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator is not running; call start() first")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    # -- scripting --------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Append replies to the FIFO queue consumed by requests to the four routes."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"expected a Reply, got {type(reply).__name__}")
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Clear the reply queue and the recorded requests (the list object is kept)."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        """Number of scripted replies not yet consumed."""
        with self._lock:
            return len(self._queue)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self.requests[-1] if self.requests else None

    # -- internals used by the handler ------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _pop(self) -> Reply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _default_reply(self, route: str, payload: Any) -> Reply:
        if route == "/v1/models":
            return Reply.json({"object": "list", "data": self.models})
        if not isinstance(payload, dict):
            return Reply.error(400, {"status": "error", "message": "malformed JSON body"})
        if route == "/v1/messages/count_tokens":
            return Reply.json({"input_tokens": count_prompt_tokens(payload)})
        return Reply.chat(echo_text(payload), delay=self.default_delay)


# --------------------------------------------------------------------------------------------
# By hand: python -m tests.emulator
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator",
        description="Serve a local ModelsLab LLM API emulator until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="URL prefix of the API")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds between SSE events of default replies"
    )
    args = parser.parse_args(argv)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    emulator = Emulator(args.prefix, port=args.port, default_delay=args.delay)
    try:
        emulator.start()
        print(f"MODELSLAB_BASE_URL={emulator.base_url}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
