"""The Anthropic-compatible dialect: `POST {base}/v1/messages` and `/v1/messages/count_tokens`.
Pure.

ModelsLab documents Bearer auth for every route but shows `x-api-key` on these, so both are sent
with `anthropic-version: 2023-06-01` (shared/modelslab-api.md §2, §4). The system prompt goes in
the top-level `system`; `max_tokens` is required; penalties and seed do not exist in this dialect.
The stream follows Anthropic's event protocol; unknown event and delta types are ignored.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from mlchat.errors import IncompleteReply, ProtocolError
from mlchat.providers.common import as_dict, count, insane, loads, raise_if_error
from mlchat.sse import SSEEvent
from mlchat.types import (
    PROGRESS,
    AnsweredBy,
    ChatRequest,
    Dialect,
    Finished,
    HttpRequest,
    ImagePart,
    Message,
    Params,
    ReasoningDelta,
    ServerTool,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    wire_chunks,
)

PATH = "/v1/messages"
COUNT_PATH = "/v1/messages/count_tokens"
VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1000

# Anthropic stop reasons in the OpenAI vocabulary every consumer uses.
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


def headers(api_key: str, *, stream: bool = False) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "x-api-key": api_key,
        "anthropic-version": VERSION,
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }


def messages_json(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Messages as Anthropic wants them: tool results become `tool_result` blocks in a user turn,
    and consecutive turns of one role are merged (the API requires alternation)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks: list[dict[str, Any]] = []
        if m.role == "tool":
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": m.tool_call_id or "",
                "content": _tool_content(m),
            }
            if m.is_error:
                result["is_error"] = True
            blocks.append(result)
        elif m.images:
            blocks.extend(_block(chunk) for chunk in wire_chunks(m))
        else:
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            for call in m.tool_calls:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": _input(call.arguments),
                    }
                )
        if not blocks:
            blocks.append({"type": "text", "text": ""})
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    # Plain one-block text turns are sent as strings: the common, most compatible form.
    for entry in out:
        content = entry["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            entry["content"] = content[0]["text"]
    return out


def _tool_content(m: Message) -> str | list[dict[str, Any]]:
    """A tool result's content: its text, or, when the tool returned images, text and image
    blocks (a `tool_result` may hold both; an empty text block is refused, so none is sent)."""
    if not m.images:
        return m.content
    return [_block(c) for c in wire_chunks(m) if not (isinstance(c, str) and not c.strip())]


def _block(chunk: str | ImagePart) -> dict[str, Any]:
    """A content block: text, or an image by URL (fetched from the web) or as base64 data."""
    if isinstance(chunk, str):
        return {"type": "text", "text": chunk}
    if chunk.url:
        return {"type": "image", "source": {"type": "url", "url": chunk.url}}
    data = base64.b64encode(chunk.data).decode()
    source = {"type": "base64", "media_type": chunk.media_type, "data": data}
    return {"type": "image", "source": source}


def _input(arguments: str) -> Any:
    """A call's arguments as the `input` object sent back; arguments that are not a readable
    JSON object (malformed, nested past the parser's stack, a 5,000-digit number) go back as
    `{}`: the tool loop has already answered the call with an error result."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {"value": value}


def count_tokens_request(
    model: str, messages: tuple[Message, ...], system: str | None, api_key: str
) -> HttpRequest:
    body: dict[str, Any] = {"model": model, "messages": messages_json(messages)}
    if system:
        body["system"] = system
    return HttpRequest("POST", COUNT_PATH, headers(api_key), body)


class AnthropicProvider:
    @property
    def name(self) -> Dialect:
        return "anthropic"

    def build_request(self, req: ChatRequest, api_key: str) -> HttpRequest:
        p = req.params
        body: dict[str, Any] = {
            "model": req.model,
            "max_tokens": p.max_tokens if p.max_tokens is not None else DEFAULT_MAX_TOKENS,
            "messages": messages_json(req.messages),
        }
        system = req.system or "\n\n".join(m.content for m in req.messages if m.role == "system")
        if system:
            body["system"] = system
        if p.temperature is not None:
            body["temperature"] = p.temperature
        if p.top_p is not None:
            body["top_p"] = p.top_p
        if p.stop:
            body["stop_sequences"] = list(p.stop)
        if req.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in req.tools
            ]
        if req.tool_choice is not None:
            choice = {
                "auto": {"type": "auto"},
                "none": {"type": "none"},
                "required": {"type": "any"},
            }
            body["tool_choice"] = choice.get(req.tool_choice) or {
                "type": "tool",
                "name": req.tool_choice,
            }
        body["stream"] = req.stream
        return HttpRequest("POST", PATH, headers(api_key, stream=req.stream), body)

    def new_decoder(self) -> AnthropicStream:
        return AnthropicStream()

    def decode_response(self, payload: Any) -> list[StreamEvent]:
        raise_if_error(payload)
        body = as_dict(payload)
        content = body.get("content") if body is not None else None
        if not isinstance(content, list):
            message = body.get("message") if body is not None else None
            raise_if_error({"status": "error", "message": message or "the reply has no content"})
        assert body is not None and isinstance(content, list)
        events: list[StreamEvent] = _model(body.get("model"))
        tools = 0
        for block in content:
            b = as_dict(block) or {}
            kind = b.get("type")
            if kind == "text" and isinstance(b.get("text"), str) and b["text"]:
                events.append(TextDelta(b["text"]))
            elif kind == "thinking" and isinstance(b.get("thinking"), str) and b["thinking"]:
                events.append(ReasoningDelta(b["thinking"]))
            elif kind == "tool_use":
                events.append(
                    ToolCallDelta(
                        index=tools,
                        id=_str(b.get("id")),
                        name=_str(b.get("name")),
                        arguments=json.dumps(b.get("input") if b.get("input") is not None else {}),
                    )
                )
                tools += 1
            elif isinstance(kind, str) and is_server_block(kind):
                events.append(_server_tool(b, kind, b.get("input")))
        usage = _usage(body.get("usage"))
        if usage is not None:
            events.append(usage)
        reason = _reason(body.get("stop_reason"))
        if reason is None and not any(isinstance(e, PROGRESS) for e in events):
            raise ProtocolError("the reply has neither content nor a stop reason")
        events.append(Finished(reason))
        return events

    def unsupported_params(self, params: Params) -> list[str]:
        names = []
        if params.frequency_penalty not in (None, 0, 0.0):
            names.append("frequency_penalty")
        if params.presence_penalty not in (None, 0, 0.0):
            names.append("presence_penalty")
        if params.seed is not None:
            names.append("seed")
        return names


PROVIDER = AnthropicProvider()

# Blocks of tools the service runs itself (web search, code execution, web fetch, MCP connector):
# their input and results are shown, never run here, and never become local tool calls.
SERVER_USES = ("server_tool_use", "mcp_tool_use")


def is_server_block(kind: str) -> bool:
    return kind in SERVER_USES or (kind.endswith("_tool_result") and kind != "tool_result")


# Which delta types belong to which block type; a known delta on the wrong block is a broken
# stream, an unknown one (a newer API) is ignored.
_DELTA_BLOCKS = {
    "text_delta": ("text",),
    "citations_delta": ("text",),
    "thinking_delta": ("thinking",),
    "signature_delta": ("thinking",),
    "input_json_delta": ("tool_use", *SERVER_USES),
}


_KNOWN_BLOCKS = frozenset(kind for kinds in _DELTA_BLOCKS.values() for kind in kinds)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _model(value: Any) -> list[StreamEvent]:
    return [AnsweredBy(value)] if isinstance(value, str) and value else []


def _reason(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return STOP_REASONS.get(value, value)


def _server_tool(block: dict[str, Any], kind: str, data: Any) -> ServerTool:
    if kind not in SERVER_USES:
        data = block.get("content")
    ident = _str(block.get("id")) or _str(block.get("tool_use_id"))
    return ServerTool(kind, ident, _str(block.get("name")), json.dumps(data))


def _usage(value: Any) -> Usage | None:
    """Anthropic counts cache reads and writes apart from `input_tokens`: all three are input."""
    usage = as_dict(value)
    if usage is None:
        return None
    raw = [usage.get(k) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")]
    raw.append(usage.get("cache_creation_input_tokens"))
    inp, out, read, write = (count(v) for v in raw)
    if inp is None and out is None and read is None and write is None:
        return Usage(rejected=True) if insane(*raw) else None
    total = None
    if inp is not None or read is not None or write is not None:
        total = (inp or 0) + (read or 0) + (write or 0)
    return Usage(total, out, read or None, write or None, rejected=insane(*raw))


class _Block:
    __slots__ = ("kind", "open", "parts", "start")

    def __init__(self, kind: str, start: dict[str, Any]) -> None:
        self.kind = kind
        self.open = True
        self.parts: list[str] = []  # streamed input JSON
        self.start = start


class AnthropicStream:
    """Decodes `message_start` … `message_stop`, keyed by each event's `type`.

    The block protocol is checked: a delta or stop for a block that was never started (or has
    ended), a block started twice or after a later one, or a delta of the wrong kind for its
    block is a ProtocolError, never silently an empty or misattributed reply."""

    def __init__(self) -> None:
        self.stop_reason: str | None = None
        self._done = False
        self._content = False
        self._blocks: dict[int, _Block] = {}
        self._tool_index: dict[int, int] = {}  # content block index -> tool ordinal

    @property
    def done(self) -> bool:
        return self._done

    def event(self, ev: SSEEvent) -> list[StreamEvent]:
        if self._done or not ev.data.strip():
            return []
        payload = loads(ev.data)
        body = as_dict(payload)
        if body is None:
            return []
        kind = body.get("type") or ev.event
        if kind == "error" or ev.event == "error":
            body.setdefault("status", "error")
        raise_if_error(body)
        out = self._event(kind, body)
        if not self._content and any(isinstance(e, PROGRESS) for e in out):
            self._content = True
        return out

    def _block(self, body: dict[str, Any], what: str) -> tuple[int, _Block]:
        raw = body.get("index")
        index = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
        block = self._blocks.get(index)
        if block is None:
            raise ProtocolError(
                f"the stream sent a {what} for content block {index}, which was never started"
            )
        if not block.open:
            raise ProtocolError(
                f"the stream sent a {what} for content block {index} after it ended"
            )
        return index, block

    def _event(self, kind: Any, body: dict[str, Any]) -> list[StreamEvent]:
        if kind == "message_start":
            message = as_dict(body.get("message")) or {}
            usage = _usage(message.get("usage"))
            events = _model(message.get("model"))
            if usage is not None:
                # message_start's output count is a placeholder (1); the real one comes last.
                events.append(
                    Usage(
                        usage.input_tokens,
                        None,
                        usage.cached_tokens,
                        usage.cache_write_tokens,
                        rejected=usage.rejected,
                    )
                )
            return events
        if kind == "content_block_start":
            return self._start(body)
        if kind == "content_block_delta":
            index, block = self._block(body, "delta")
            return self._delta(index, block, as_dict(body.get("delta")) or {})
        if kind == "content_block_stop":
            index, block = self._block(body, "stop")
            block.open = False
            return self._stop(index, block)
        if kind == "message_delta":
            delta = as_dict(body.get("delta")) or {}
            reason = _reason(delta.get("stop_reason"))
            if reason is not None:
                self.stop_reason = reason
            counts = _usage(body.get("usage"))
            return [counts] if counts is not None else []
        if kind == "message_stop":
            self._done = True
            if self.stop_reason is None and not self._content:
                raise ProtocolError("the stream ended with neither a stop reason nor any content")
            return [Finished(self.stop_reason)]
        return []  # ping and anything unknown

    def _start(self, body: dict[str, Any]) -> list[StreamEvent]:
        raw = body.get("index")
        index = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
        if index in self._blocks:
            raise ProtocolError(f"the stream started content block {index} twice")
        last = max(self._blocks, default=-1)
        if index < last:  # a gap is let be (a relay may leave out a block), going back is not
            raise ProtocolError(
                f"the stream started content block {index} after content block {last}"
            )
        block = as_dict(body.get("content_block")) or {}
        btype = str(block.get("type", ""))
        self._blocks[index] = _Block(btype, block)
        if btype == "text" and isinstance(block.get("text"), str) and block["text"]:
            return [TextDelta(block["text"])]
        if btype == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            return [ReasoningDelta(block["thinking"])]
        if btype == "tool_use":
            ordinal = len(self._tool_index)
            self._tool_index[index] = ordinal
            return [
                ToolCallDelta(index=ordinal, id=_str(block.get("id")), name=_str(block.get("name")))
            ]
        if is_server_block(btype) and btype not in SERVER_USES:
            return [_server_tool(block, btype, None)]  # a result comes whole
        return []

    def _delta(self, index: int, block: _Block, delta: dict[str, Any]) -> list[StreamEvent]:
        dtype = delta.get("type")
        allowed = _DELTA_BLOCKS.get(dtype) if isinstance(dtype, str) else None
        if allowed is None or block.kind not in _KNOWN_BLOCKS:
            return []  # a newer delta, or a block type we do not read (redacted_thinking)
        if block.kind not in allowed:
            raise ProtocolError(
                f"the stream sent a {dtype} for content block {index}, "
                f"a {block.kind or 'untyped'} block"
            )
        if dtype == "text_delta" and isinstance(delta.get("text"), str):
            return [TextDelta(delta["text"])] if delta["text"] else []
        if dtype == "thinking_delta" and isinstance(delta.get("thinking"), str):
            return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
        if dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            if block.kind == "tool_use":
                return [ToolCallDelta(self._tool_index[index], arguments=delta["partial_json"])]
            block.parts.append(delta["partial_json"])
        return []

    def _stop(self, index: int, block: _Block) -> list[StreamEvent]:
        if block.kind == "tool_use" and block.start.get("input") and not block.parts:
            # Input given whole in content_block_start (some relays), not streamed.
            args = json.dumps(block.start["input"])
            return [ToolCallDelta(self._tool_index[index], arguments=args)]
        if block.kind in SERVER_USES:
            data: Any = block.start.get("input")
            if block.parts:
                text = "".join(block.parts)
                try:
                    data = loads(text) if text.strip() else {}
                except ProtocolError:
                    data = text
            return [_server_tool(block.start, block.kind, data)]
        return []

    def end(self) -> list[StreamEvent]:
        if self._done:
            return []
        if self.stop_reason is not None:
            self._done = True
            return [Finished(self.stop_reason)]
        raise IncompleteReply("the reply was cut short: the stream ended before message_stop")
