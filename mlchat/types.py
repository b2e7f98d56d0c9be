"""Value objects shared by every layer: messages, parameters, requests and stream events.

Imports: the standard library only. Everything here is immutable; raw JSON never appears here.
"""

from __future__ import annotations

import re
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
class TextPart:
    """Text in a user message. With a `source` (a file's path or a URL) it is sent as a labelled
    block: the source on one line, then the text in a code fence (see `block`)."""

    text: str
    source: str | None = None
    lang: str | None = None  # the fence's language hint; None: from the source's extension

    @property
    def rendered(self) -> str:
        return self.text if self.source is None else block(self.source, self.text, self.lang)


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message or a tool's result: its bytes and media type (recognised from
    the bytes), where it came from, and, for an image fetched from the web, the URL it is sent as
    where the dialect allows it (the bytes are kept so the conversation can be sent again
    faithfully)."""

    media_type: str
    data: bytes
    source: str | None = None
    url: str | None = None

    @property
    def rendered(self) -> str:
        return f"[image: {self.source or self.media_type}]"


Part = TextPart | ImagePart


def image_type(data: bytes) -> str | None:
    """The media type of an image we can send, from its first bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation.

    A `tool` message carries the result of the call named by `tool_call_id`; an assistant message
    may carry `tool_calls`. `interrupted` marks a reply that was cut short (Ctrl-C, a dropped
    stream): it is still sent back to the model so it sees what it said.

    A user message that carries attachments (files, images, pages) has `parts`, in the order they
    are sent; its `content` is then the text of those parts joined by blank lines (what a terminal
    shows and what token estimates read). Build one with `user_message`. A tool message whose
    tool returned images has `parts` too: its text (`content`, which describes the images), then
    the images, sent as images where the dialect allows it in a tool result.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False
    interrupted: bool = False
    parts: tuple[Part, ...] = ()

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


def user_message(parts: tuple[Part, ...] | list[Part]) -> Message:
    """A user message made of `parts`: blank plain-text parts are dropped; a message of plain text
    only is an ordinary text message (sent and stored exactly as before attachments existed)."""
    kept = tuple(
        p
        for p in parts
        if not (isinstance(p, TextPart) and p.source is None and not p.text.strip())
    )
    text = "\n\n".join(p.rendered for p in kept if isinstance(p, TextPart))
    if all(isinstance(p, TextPart) and p.source is None for p in kept):
        return Message("user", text)
    return Message("user", text, parts=kept)


def wire_chunks(message: Message) -> list[str | ImagePart]:
    """What a provider sends for `message`: runs of text joined by blank lines, with the images
    where they were given. A message without parts is its content alone."""
    if not message.parts:
        return [message.content]
    out: list[str | ImagePart] = []
    run: list[str] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            run.append(part.rendered)
            continue
        if run:
            out.append("\n\n".join(run))
            run = []
        out.append(part)
    if run:
        out.append("\n\n".join(run))
    return out


# Language hints for the fence of a labelled block, by file extension; other extensions are used
# as they are (".toml" -> "toml"), which Markdown renderers mostly understand too.
_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".jsx": "jsx",
    ".rs": "rust",
    ".go": "go",
    ".rb": "ruby",
    ".sh": "bash",
    ".bash": "bash",
    ".zsh": "zsh",
    ".fish": "fish",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".java": "java",
    ".kt": "kotlin",
    ".swift": "swift",
    ".md": "markdown",
    ".markdown": "markdown",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".html": "html",
    ".htm": "html",
    ".css": "css",
    ".sql": "sql",
    ".txt": "",
    ".ini": "ini",
    ".cfg": "ini",
    ".xml": "xml",
    ".php": "php",
    ".pl": "perl",
    ".lua": "lua",
    ".r": "r",
    ".scala": "scala",
    ".hs": "haskell",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".dart": "dart",
    ".vue": "vue",
    ".tf": "hcl",
    ".mk": "make",
}
_BACKTICKS = re.compile("`+")
_SPECIAL_NAMES = {"makefile": "make", "dockerfile": "dockerfile", "cmakelists.txt": "cmake"}


def language(source: str) -> str:
    """The fence's language hint for a file named `source` ("" when there is none)."""
    name = source.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return ""
    ext = "." + ext
    if ext in _LANGUAGES:
        return _LANGUAGES[ext]
    return ext[1:] if ext[1:].isalnum() and len(ext) <= 11 else ""


def block(source: str, text: str, lang: str | None = None) -> str:
    """`source` on a line, then `text` in a backtick fence longer than any backtick run inside
    it (CommonMark: a fence closes only on a run at least as long), with a language hint."""
    # Most text holds no fence at all: `in` is a fast scan, the regex a slow one (50 ms for
    # 10 MB, paid again each time the message is sent).
    longest = max(map(len, _BACKTICKS.findall(text)), default=0) if "```" in text else 0
    fence = "`" * max(3, longest + 1)
    hint = language(source) if lang is None else lang
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{source}\n{fence}{hint}\n{body}{fence}"


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
    context: int | None = None  # the context window in tokens, when the model list gives it


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
    # The service sent a count that is no sane number (negative, not an integer, above 10^12):
    # it was left out, and the user is told.
    rejected: bool = False

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
            self.rejected or other.rejected,
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
