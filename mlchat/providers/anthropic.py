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

from mlchat.errors import IncompleteReply
from mlchat.providers.common import as_dict, loads, raise_if_error
from mlchat.sse import SSEEvent
from mlchat.types import (
    ChatRequest,
    Dialect,
    Finished,
    HttpRequest,
    ImagePart,
    Message,
    Params,
    ReasoningDelta,
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
    "refusal": "content_filter",
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
                "content": m.content,
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
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
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
        events: list[StreamEvent] = []
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
                        id=b.get("id") if isinstance(b.get("id"), str) else None,
                        name=b.get("name") if isinstance(b.get("name"), str) else None,
                        arguments=json.dumps(b.get("input") if b.get("input") is not None else {}),
                    )
                )
                tools += 1
        usage = _usage(body.get("usage"))
        if usage is not None:
            events.append(usage)
        reason = body.get("stop_reason")
        events.append(Finished(_reason(reason)))
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


def _reason(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return STOP_REASONS.get(value, value)


def _usage(value: Any) -> Usage | None:
    usage = as_dict(value)
    if usage is None:
        return None
    inp = usage.get("input_tokens")
    out = usage.get("output_tokens")
    if not isinstance(inp, int) and not isinstance(out, int):
        return None
    return Usage(inp if isinstance(inp, int) else None, out if isinstance(out, int) else None)


class AnthropicStream:
    """Decodes `message_start` … `message_stop`, keyed by each event's `type`."""

    def __init__(self) -> None:
        self.stop_reason: str | None = None
        self._done = False
        self._blocks: dict[int, str] = {}  # content block index -> type
        self._tool_index: dict[int, int] = {}  # content block index -> tool ordinal
        self._tool_input: dict[int, Any] = {}  # input given whole in content_block_start
        self._tool_streamed: set[int] = set()

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
        raw_index = body.get("index")
        index = raw_index if isinstance(raw_index, int) else 0
        if kind == "message_start":
            message = as_dict(body.get("message")) or {}
            usage = as_dict(message.get("usage")) or {}
            inp = usage.get("input_tokens")
            return [Usage(inp, None)] if isinstance(inp, int) else []
        if kind == "content_block_start":
            block = as_dict(body.get("content_block")) or {}
            btype = str(block.get("type", ""))
            self._blocks[index] = btype
            if btype == "text" and isinstance(block.get("text"), str) and block["text"]:
                return [TextDelta(block["text"])]
            if btype == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
                return [ReasoningDelta(block["thinking"])]
            if btype == "tool_use":
                ordinal = len(self._tool_index)
                self._tool_index[index] = ordinal
                if block.get("input"):
                    self._tool_input[index] = block["input"]
                return [
                    ToolCallDelta(
                        index=ordinal,
                        id=block.get("id") if isinstance(block.get("id"), str) else None,
                        name=block.get("name") if isinstance(block.get("name"), str) else None,
                    )
                ]
            return []
        if kind == "content_block_delta":
            delta = as_dict(body.get("delta")) or {}
            dtype = delta.get("type")
            if dtype == "text_delta" and isinstance(delta.get("text"), str):
                return [TextDelta(delta["text"])] if delta["text"] else []
            if dtype == "thinking_delta" and isinstance(delta.get("thinking"), str):
                return [ReasoningDelta(delta["thinking"])] if delta["thinking"] else []
            if dtype == "input_json_delta" and isinstance(delta.get("partial_json"), str):
                if index not in self._tool_index:
                    self._tool_index[index] = len(self._tool_index)
                self._tool_streamed.add(index)
                return [ToolCallDelta(self._tool_index[index], arguments=delta["partial_json"])]
            return []
        if kind == "content_block_stop":
            if index in self._tool_input and index not in self._tool_streamed:
                args = json.dumps(self._tool_input.pop(index))
                return [ToolCallDelta(self._tool_index[index], arguments=args)]
            return []
        if kind == "message_delta":
            delta = as_dict(body.get("delta")) or {}
            reason = _reason(delta.get("stop_reason"))
            if reason is not None:
                self.stop_reason = reason
            counts = _usage(body.get("usage"))
            return [counts] if counts is not None else []
        if kind == "message_stop":
            self._done = True
            return [Finished(self.stop_reason)]
        return []  # ping and anything unknown

    def end(self) -> list[StreamEvent]:
        if self._done:
            return []
        if self.stop_reason is not None:
            self._done = True
            return [Finished(self.stop_reason)]
        raise IncompleteReply("the reply was cut short: the stream ended before message_stop")
