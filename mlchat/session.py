"""Conversation state and turn logic. No terminal I/O, no HTTP: imports types and errors only.

`Reply` accumulates the stream events of one reply; `Conversation` holds the messages, the system
prompt, the model and the parameters, and builds the `ChatRequest` for the next turn. `ask` uses a
one-turn conversation; the REPL and the store keep them going.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mlchat.text import json_loads
from mlchat.types import (
    AnsweredBy,
    ChatRequest,
    Dialect,
    Finished,
    Message,
    Params,
    ReasoningDelta,
    RefusalDelta,
    ServerTool,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)


@dataclass(slots=True)
class _ToolCallParts:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


class Reply:
    """Everything one reply has produced so far; safe to read at any point, e.g. after Ctrl-C."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _ToolCallParts] = {}
        self._refusal: list[str] = []
        self.server_tools: list[ServerTool] = []
        self.model: str | None = None  # the model that answered, when the service said
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.finished = False

    def add(self, ev: StreamEvent) -> None:
        match ev:
            case RefusalDelta(text=text):
                # The refusal is the reply's text too: shown, saved and sent back as such.
                self._refusal.append(text)
                self._text.append(text)
            case TextDelta(text=text):
                self._text.append(text)
            case ServerTool():
                self.server_tools.append(ev)
            case AnsweredBy(model=model):
                self.model = model
            case ReasoningDelta(text=text):
                self._reasoning.append(text)
            case ToolCallDelta(index=index, id=ident, name=name, arguments=args):
                parts = self._calls.setdefault(index, _ToolCallParts())
                # Fragments may repeat the id and name; only the first value counts.
                parts.id = parts.id or ident
                parts.name = parts.name or name
                if args:
                    parts.arguments.append(args)
            case Usage():
                self.usage = ev if self.usage is None else self.usage.merge(ev)
            case Finished(reason=reason):
                self.finish_reason = reason
                self.finished = True

    @property
    def text(self) -> str:
        if len(self._text) > 1:
            self._text = ["".join(self._text)]
        return self._text[0] if self._text else ""

    @property
    def refused(self) -> bool:
        """The model refused: an OpenAI `refusal`, or Anthropic's `stop_reason: "refusal"`."""
        return bool(self._refusal) or self.finish_reason == "refusal"

    @property
    def refusal(self) -> str | None:
        """The refusal's text (for Anthropic, the reply's text), or None for an answer."""
        if self._refusal:
            return "".join(self._refusal)
        return self.text if self.finish_reason == "refusal" else None

    @property
    def reasoning(self) -> str:
        if len(self._reasoning) > 1:
            self._reasoning = ["".join(self._reasoning)]
        return self._reasoning[0] if self._reasoning else ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(
                id=parts.id or f"call_{index}",
                name=parts.name or "",
                arguments="".join(parts.arguments),
            )
            for index, parts in sorted(self._calls.items())
        )

    @property
    def has_content(self) -> bool:
        return bool(self._text or self._reasoning or self._calls or self.server_tools)

    def message(self, *, interrupted: bool = False) -> Message:
        return Message("assistant", self.text, tool_calls=self.tool_calls, interrupted=interrupted)

    def to_json(self, model: str) -> dict[str, Any]:
        """The reply for `--json`. `model` is the model that answered (the service's word), and
        `requested_model` the one asked for when they differ. A refusal sets `refusal` and the
        finish reason "refusal"; tools the service ran itself are in `server_tools`, never in
        `tool_calls`."""
        doc: dict[str, Any] = {
            "text": self.text,
            "reasoning": self.reasoning or None,
            "model": self.model or model,
        }
        if self.model and self.model != model:
            doc["requested_model"] = model
        doc["usage"] = usage_json(self.usage)
        doc["finish_reason"] = "refusal" if self.refused else self.finish_reason
        doc["refusal"] = self.refusal
        doc["tool_calls"] = [tool_call_json(c) for c in self.tool_calls]
        if self.server_tools:
            doc["server_tools"] = [server_tool_json(t) for t in self.server_tools]
        return doc


def usage_json(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    doc: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens is not None:
        doc["cached_input_tokens"] = usage.cached_tokens
    if usage.cache_write_tokens is not None:
        doc["cache_write_tokens"] = usage.cache_write_tokens
    return doc


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """A tool call for `--json`: `arguments` is the parsed object; when the model's text is not
    a JSON object, `arguments` is null and `arguments_text` and `arguments_error` say why."""
    doc: dict[str, Any] = {"id": call.id, "name": call.name}
    text = call.arguments
    try:
        value = json_loads(text) if text.strip() else {}
    except (ValueError, RecursionError) as exc:
        error = f"not valid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else None
        return {
            **doc,
            "arguments": None,
            "arguments_text": text,
            "arguments_error": error or "not valid JSON",
        }
    if not isinstance(value, dict):
        return {
            **doc,
            "arguments": None,
            "arguments_text": text,
            "arguments_error": "not a JSON object",
        }
    return {**doc, "arguments": value}


def server_tool_json(tool: ServerTool) -> dict[str, Any]:
    try:
        data = json_loads(tool.data)
    except (ValueError, RecursionError):
        data = tool.data
    key = "input" if tool.is_use else "content"
    return {"type": tool.kind, "id": tool.id, "name": tool.name, key: data}


SUMMARY_HEAD = "[Summary of the earlier conversation, made by /compact]\n\n"


@dataclass(slots=True)
class Conversation:
    """A conversation in memory. `id` and `name` are set once the store has saved it."""

    model: str
    dialect: Dialect = "openai"
    system: str | None = None
    params: Params = field(default_factory=Params)
    messages: list[Message] = field(default_factory=list)
    tools: tuple[ToolSpec, ...] = ()
    id: str | None = None
    name: str | None = None
    # The profile ("default": the top level) and the role it was started with; None when unknown.
    profile: str | None = None
    role: str | None = None
    # The store rows that were in the conversation when it was loaded: the rows this process has
    # seen. Any other row of the conversation was written by another process since, and is never
    # deleted or overwritten by this one.
    seen_rows: frozenset[int] = frozenset()
    # /compact: `summary` stands for the first `compacted` messages in every request; those
    # messages stay here (and in the store), they are only no longer sent.
    summary: str | None = None
    compacted: int = 0

    def sent(self) -> tuple[Message, ...]:
        """The messages a request carries: the summary (when /compact made one) in place of
        the messages it replaces, then the rest as they are."""
        if self.summary is None:
            return tuple(self.messages)
        return (Message("user", SUMMARY_HEAD + self.summary), *self.messages[self.compacted :])

    def request(
        self,
        *,
        stream: bool = True,
        tool_choice: str | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatRequest:
        return ChatRequest(
            model=self.model,
            messages=self.sent(),
            system=self.system,
            params=self.params,
            stream=stream,
            tools=self.tools,
            tool_choice=tool_choice,
            response_format=response_format,
        )

    def add_user(self, text: str | Message) -> None:
        """Append a user message: text, or a message built with attachments (`user_message`)."""
        self.messages.append(text if isinstance(text, Message) else Message("user", text))

    def add_reply(self, reply: Reply, *, interrupted: bool = False) -> None:
        """Keep a reply, even a partial one, so the model sees what it said."""
        if reply.has_content or not interrupted:
            self.messages.append(reply.message(interrupted=interrupted))

    # Turn logic shared by the REPL's /undo, /retry, /edit and /clear. An "exchange" is the last
    # user message and everything after it (the reply, tool calls and their results).

    def last_user_index(self) -> int | None:
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index].role == "user":
                return index
        return None

    def truncate(self, length: int) -> list[Message]:
        """Keep the first `length` messages; return the ones dropped."""
        dropped = self.messages[length:]
        del self.messages[length:]
        if length < self.compacted:  # part of what the summary stands for is gone: so is it
            self.summary, self.compacted = None, 0
        return dropped

    def undo(self) -> list[Message]:
        """Drop the last exchange; return what was dropped ([] when there is no user message)."""
        index = self.last_user_index()
        return [] if index is None else self.truncate(index)

    def rewind_to_last_user(self) -> Message | None:
        """Drop everything after the last user message so it can be sent again (/retry);
        return that message, or None when there is nothing to resend."""
        index = self.last_user_index()
        if index is None:
            return None
        self.truncate(index + 1)
        return self.messages[index]

    def clear(self) -> None:
        """Start a new conversation (/clear): the messages, the id and the name are forgotten, so
        the next turn saves a new conversation and the old one stays whole in the store. Model,
        system prompt and parameters stay."""
        self.messages.clear()
        self.summary, self.compacted = None, 0
        self.id = None
        self.name = None
        self.seen_rows = frozenset()


ReplyStatus = Literal["ok", "interrupted", "failed"]


class TurnLog(Protocol):
    """Where turns are recorded as they happen (the conversation store, or nothing).

    `user` is called once the message has been sent (or has failed to be), before anything of the
    reply is recorded; `reply` when the reply ends, is interrupted or
    fails (with whatever arrived); `truncate` when the REPL drops messages (/undo, /retry, /edit,
    /clear), leaving `convo.messages` as the new truth. A log must never raise: a store that cannot
    write warns and carries on, so the chat is never lost to a full disk.
    """

    def user(self, convo: Conversation, message: Message) -> None: ...

    def reply(
        self,
        convo: Conversation,
        message: Message,
        reply: Reply,
        *,
        status: ReplyStatus,
        error: str | None = None,
    ) -> None: ...

    def truncate(self, convo: Conversation) -> None: ...

    def progress(self, convo: Conversation, reply: Reply) -> None:
        """Called on every stream event of a reply; a log may checkpoint the partial reply."""
        ...


class NullLog:
    """Records nothing (`--no-log`, or no store)."""

    def user(self, convo: Conversation, message: Message) -> None:
        pass

    def reply(
        self,
        convo: Conversation,
        message: Message,
        reply: Reply,
        *,
        status: ReplyStatus,
        error: str | None = None,
    ) -> None:
        pass

    def truncate(self, convo: Conversation) -> None:
        pass

    def progress(self, convo: Conversation, reply: Reply) -> None:
        pass


class OpenedLog:
    """A log opened by `open()` when it is first written to: `ask` opens the store once its
    request has left, while the model thinks. A checkpoint (`progress`) never opens it: the
    question, saved first, has."""

    def __init__(self, open: Callable[[], TurnLog]) -> None:
        self._open = open
        self._log: TurnLog | None = None

    def _opened(self) -> TurnLog:
        if self._log is None:
            self._log = self._open()
        return self._log

    def user(self, convo: Conversation, message: Message) -> None:
        self._opened().user(convo, message)

    def reply(
        self,
        convo: Conversation,
        message: Message,
        reply: Reply,
        *,
        status: ReplyStatus,
        error: str | None = None,
    ) -> None:
        self._opened().reply(convo, message, reply, status=status, error=error)

    def truncate(self, convo: Conversation) -> None:
        self._opened().truncate(convo)

    def progress(self, convo: Conversation, reply: Reply) -> None:
        if self._log is not None:
            self._log.progress(convo, reply)


OpenStream = Callable[[ChatRequest], AbstractContextManager[Iterator[StreamEvent]]]


def run_turn(
    open_stream: OpenStream,
    request: ChatRequest,
    reply: Reply,
    sink: Callable[[StreamEvent], None],
) -> Reply:
    """Stream one reply into `reply`, passing each event to `sink` (the renderer) as it arrives.

    Any error or Ctrl-C propagates after the response is closed; `reply`, owned by the caller,
    keeps everything that arrived, so nothing shown is ever lost.
    """
    with open_stream(request) as events:
        for ev in events:
            reply.add(ev)
            sink(ev)
    return reply
