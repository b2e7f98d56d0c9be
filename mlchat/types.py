"""Value objects shared by every layer: messages, parameters, requests and stream events.

Imports: the standard library only. Everything here is immutable; raw JSON never appears here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
Dialect = Literal["openai", "anthropic"]
DIALECTS: tuple[Dialect, ...] = ("openai", "anthropic")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call made by the model; `arguments` is the JSON text as the model sent it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation.

    A `tool` message carries the result of the call named by `tool_call_id`; an assistant message
    may carry `tool_calls`. `interrupted` marks a reply that was cut short (Ctrl-C, a dropped
    stream): it is still sent back to the model so it sees what it said.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Params:
    """Sampling parameters; None means "not sent" (the service's own default applies)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: its name, description and the JSON Schema of its input."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    system: str | None = None
    params: Params = field(default_factory=Params)
    stream: bool = True
    tools: tuple[ToolSpec, ...] = ()
    # "auto", "none", "required", or the name of one tool the model must call.
    tool_choice: str | None = None
    # OpenAI `response_format` ({"type": "json_object"} or a json_schema object).
    response_format: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What a provider asks the client to send: no I/O has happened yet."""

    method: Literal["GET", "POST"]
    path: str
    headers: Mapping[str, str]
    json: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    owned_by: str | None = None
    created: int | None = None
    display_name: str | None = None


# Stream events: what a provider decodes from the wire and every consumer (ask, the REPL, the
# store, the renderer, the tool loop) handles with `match`.


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class RefusalDelta(TextDelta):
    """Text of a refusal (OpenAI `refusal`): shown and kept as the reply's text, and marks the
    reply as a refusal. A subclass, so whatever draws text draws it too."""


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ServerTool:
    """A tool the service ran itself (Anthropic `server_tool_use`, `web_search_tool_result`, ...):
    never a local call. `kind` is the block type; `name` the tool's name (for a use); `data` the
    block's input (a use) or content (a result) as JSON text."""

    kind: str
    id: str | None = None
    name: str | None = None
    data: str = "null"

    @property
    def is_use(self) -> bool:
        return not self.kind.endswith("_result")


@dataclass(frozen=True, slots=True)
class AnsweredBy:
    """The model the service says produced the reply (it may differ from the one asked for)."""

    model: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call. Fragments with the same `index` belong to one call; `arguments`
    fragments are concatenated; `id` and `name` usually come only in the first fragment."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. `input_tokens` counts every input token, cached or not (Anthropic reports
    cache reads and writes apart from `input_tokens`; the provider adds them in);
    `cached_tokens` of them were read from the prompt cache, `cache_write_tokens` written to it."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    def merge(self, other: Usage) -> Usage:
        """Later figures win field by field (Anthropic sends input first, output at the end)."""
        return Usage(
            other.input_tokens if other.input_tokens is not None else self.input_tokens,
            other.output_tokens if other.output_tokens is not None else self.output_tokens,
            other.cached_tokens if other.cached_tokens is not None else self.cached_tokens,
            other.cache_write_tokens
            if other.cache_write_tokens is not None
            else self.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class Finished:
    """The stream ended properly. `reason` is normalised to the OpenAI vocabulary:
    stop, length, tool_calls, content_filter, refusal (Anthropic's refusal), or whatever unknown
    value the service sent."""

    reason: str | None = None


StreamEvent = (
    TextDelta | ReasoningDelta | ToolCallDelta | ServerTool | AnsweredBy | Usage | Finished
)
# Events that show the service is producing a reply (for retries and the idle watchdog); usage,
# the answering model and the end marker are not progress.
PROGRESS = (TextDelta, ReasoningDelta, ToolCallDelta, ServerTool)
