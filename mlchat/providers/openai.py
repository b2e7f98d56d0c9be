"""The OpenAI-compatible dialect: `POST {base}/chat/completions`. Pure.

ModelsLab quirks handled here (shared/modelslab-api.md §3): the body carries both `model` and
`model_id` (the docs call `model` canonical, ModelsLab's own `fusion` client sends `model_id`);
chunks may lack `id`/`object`/`model`; content may be a string, null or a list of parts; reasoning
arrives as `reasoning_content` or `reasoning`; usage may come in a final chunk with empty
`choices`; any chunk may be an error.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from mlchat.errors import IncompleteReply, ProtocolError
from mlchat.providers.common import (
    as_dict,
    content_text,
    count,
    insane,
    loads,
    raise_if_error,
)
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
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    wire_chunks,
)

PATH = "/chat/completions"


class OpenAIProvider:
    @property
    def name(self) -> Dialect:
        return "openai"

    def build_request(self, req: ChatRequest, api_key: str) -> HttpRequest:
        messages: list[dict[str, Any]] = []
        if req.system:
            messages.append({"role": "system", "content": req.system})
        messages.extend(_message(m) for m in req.messages)
        body: dict[str, Any] = {"model": req.model, "model_id": req.model, "messages": messages}
        p = req.params
        for name in ("temperature", "top_p", "max_tokens", "frequency_penalty", "presence_penalty"):
            value = getattr(p, name)
            if value is not None:
                body[name] = value
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed is not None:
            body["seed"] = p.seed
        if req.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in req.tools
            ]
        if req.tool_choice is not None:
            if req.tool_choice in ("auto", "none", "required"):
                body["tool_choice"] = req.tool_choice
            else:
                body["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice}}
        if req.response_format is not None:
            body["response_format"] = dict(req.response_format)
        body["stream"] = req.stream
        if req.stream:
            body["stream_options"] = {"include_usage": True}
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if req.stream else "application/json",
        }
        return HttpRequest("POST", PATH, headers, body)

    def new_decoder(self) -> OpenAIStream:
        return OpenAIStream()

    def decode_response(self, payload: Any) -> list[StreamEvent]:
        raise_if_error(payload)
        body = as_dict(payload)
        choices = body.get("choices") if body is not None else None
        if not isinstance(choices, list) or not choices:
            message = body.get("message") if body is not None else None
            raise_if_error({"status": "error", "message": message or "the reply has no choices"})
        assert isinstance(choices, list)
        assert body is not None
        choice = as_dict(choices[0]) or {}
        msg = as_dict(choice.get("message")) or as_dict(choice.get("delta")) or {}
        events: list[StreamEvent] = _model(body.get("model"))
        events += _content(msg)
        calls = msg.get("tool_calls")
        if isinstance(calls, list):
            for i, call in enumerate(calls):
                events.extend(_tool_delta(call, i))
        usage = _usage(body.get("usage"))
        if usage is not None:
            events.append(usage)
        reason = choice.get("finish_reason")
        reason = reason if isinstance(reason, str) and reason else None
        if reason is None and not any(isinstance(e, PROGRESS) for e in events):
            raise ProtocolError("the reply has neither content nor a finish reason")
        events.append(Finished(reason))
        return events

    def unsupported_params(self, params: Params) -> list[str]:
        return []


PROVIDER = OpenAIProvider()


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.parts and m.images:  # `parts` first: every message of a long chat, on every turn
        out["content"] = [_part(chunk) for chunk in wire_chunks(m)]
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    return out


def _content(delta: dict[str, Any]) -> list[StreamEvent]:
    """Reasoning, text and refusal of one message or delta."""
    events: list[StreamEvent] = []
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        events.append(ReasoningDelta(reasoning))
    text = content_text(delta.get("content"))
    if text:
        events.append(TextDelta(text))
    refusal = delta.get("refusal")
    if isinstance(refusal, str) and refusal:
        events.append(RefusalDelta(refusal))
    return events


def _model(value: Any) -> list[StreamEvent]:
    return [AnsweredBy(value)] if isinstance(value, str) and value else []


def _part(chunk: str | ImagePart) -> dict[str, Any]:
    """A content part: text, or an image as its URL (fetched from the web) or a data: URL."""
    if isinstance(chunk, str):
        return {"type": "text", "text": chunk}
    url = chunk.url or f"data:{chunk.media_type};base64,{base64.b64encode(chunk.data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def _usage(value: Any) -> Usage | None:
    """OpenAI counts cached tokens inside `prompt_tokens` and names them in
    `prompt_tokens_details.cached_tokens`; some relays use Anthropic's names."""
    usage = as_dict(value)
    if usage is None:
        return None
    raw_prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    raw_completion = usage.get("completion_tokens", usage.get("output_tokens"))
    details = as_dict(usage.get("prompt_tokens_details")) or {}
    prompt, completion = count(raw_prompt), count(raw_completion)
    cached = count(details.get("cached_tokens"))
    if cached is not None and prompt is not None:
        cached = min(cached, prompt)
    rejected = insane(raw_prompt, raw_completion, details.get("cached_tokens"))
    return Usage(prompt, completion, cached or None, rejected=rejected)


def _tool_delta(value: Any, position: int) -> list[StreamEvent]:
    call = as_dict(value)
    if call is None:
        return []
    index = call.get("index")
    fn = as_dict(call.get("function")) or {}
    name = fn.get("name")
    args = fn.get("arguments")
    if isinstance(args, dict | list):
        args = json.dumps(args)
    ident = call.get("id")
    return [
        ToolCallDelta(
            index=index if isinstance(index, int) else position,
            id=ident if isinstance(ident, str) and ident else None,
            name=name if isinstance(name, str) and name else None,
            arguments=args if isinstance(args, str) else "",
        )
    ]


class OpenAIStream:
    """Decodes `chat.completion.chunk` events until `data: [DONE]`."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self._done = False
        # For upstreams that omit `index` on tool-call fragments (Gemini behind OpenAI-compatible
        # proxies): a new id starts a new call, a fragment without id continues the last one.
        self._tool_ids: dict[str, int] = {}
        self._last_tool = -1
        self._next_tool = 0
        self._model: str | None = None
        self._content = False

    @property
    def done(self) -> bool:
        return self._done

    def event(self, ev: SSEEvent) -> list[StreamEvent]:
        if self._done:
            return []
        data = ev.data.strip()
        if data == "[DONE]":
            self._done = True
            if self.finish_reason is None and not self._content:
                raise ProtocolError("the stream ended with neither a finish reason nor any content")
            return [Finished(self.finish_reason)]
        if not data:
            return []
        payload = loads(data)
        if ev.event == "error" and as_dict(payload) is not None:
            payload.setdefault("status", "error")
        raise_if_error(payload)
        body = as_dict(payload)
        if body is None:
            return []
        events: list[StreamEvent] = []
        model = body.get("model")
        if isinstance(model, str) and model and model != self._model:
            self._model = model
            events += _model(model)
        choices = body.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                c = as_dict(choice)
                if c is None or c.get("index", 0) not in (0, None):
                    continue  # n > 1 is not something a terminal can show; keep the first
                delta = as_dict(c.get("delta")) or as_dict(c.get("message")) or {}
                events += _content(delta)
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    for i, call in enumerate(calls):
                        events.extend(self._tool(call, i))
                reason = c.get("finish_reason")
                if isinstance(reason, str) and reason:
                    self.finish_reason = reason
        usage = _usage(body.get("usage"))
        if usage is not None:
            events.append(usage)
        if not self._content and any(isinstance(e, PROGRESS) for e in events):
            self._content = True
        return events

    def _tool(self, call: Any, position: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for d in _tool_delta(call, position):
            assert isinstance(d, ToolCallDelta)
            if not isinstance((as_dict(call) or {}).get("index"), int):
                if d.id is not None:
                    index = self._tool_ids.get(d.id, self._next_tool)
                else:
                    index = self._last_tool if self._last_tool >= 0 else position
                d = replace(d, index=index)
            if d.id is not None:
                self._tool_ids.setdefault(d.id, d.index)
            self._last_tool = d.index
            self._next_tool = max(self._next_tool, d.index + 1)
            out.append(d)
        return out

    def end(self) -> list[StreamEvent]:
        if self._done:
            return []
        if self.finish_reason is not None:
            # No [DONE], but the model said it had finished: the reply is whole.
            self._done = True
            return [Finished(self.finish_reason)]
        raise IncompleteReply("the reply was cut short: the stream ended before [DONE]")
