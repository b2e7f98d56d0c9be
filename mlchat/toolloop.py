"""The tool-calling loop and structured output, shared by `ask` and `chat`. No terminal I/O:
drawing, approval and recording arrive as callables.

A round streams one reply; when it carries tool calls, each call is shown, approved (or not), run,
and its result appended as a `tool` message; the next round sends the conversation back. The loop
ends when a reply has no tool calls, or fails after `max_rounds` rounds of calls. Whatever ends a
round early (Ctrl-C at the approval question or while a tool runs, an error, a call cut off
mid-stream, a call to a tool that was never offered) leaves every call with a result, an error
saying why, so the conversation stays valid to send.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mlchat.errors import Interrupted, MlchatError, RequestRejected, UsageError
from mlchat.session import Conversation, NullLog, OpenStream, Reply, ReplyStatus, TurnLog, run_turn
from mlchat.types import (
    Dialect,
    Message,
    Part,
    StreamEvent,
    TextPart,
    ToolCall,
    ToolSpec,
    Usage,
)

if TYPE_CHECKING:
    from mlchat import tools as toolmod

DEFAULT_MAX_ROUNDS = 8
STRUCTURED_TOOL = "respond"
OBJECT = {"type": "object"}  # what a source's arguments must be before anyone is asked

Approval = Literal["yes", "no", "always"]


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """What the reply must be: any JSON object (`--json-mode`) or one that fits `schema`."""

    schema: Mapping[str, Any] | None = None

    def request_options(self, dialect: Dialect) -> dict[str, Any]:
        """Extra `Conversation.request` arguments. The Anthropic dialect has no response_format,
        so the schema becomes the input schema of a tool the model is forced to call."""
        if dialect == "anthropic":
            return {"tool_choice": STRUCTURED_TOOL}
        if self.schema is None:
            return {"response_format": {"type": "json_object"}}
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": dict(self.schema), "strict": True},
            }
        }

    def extra_tools(self, dialect: Dialect) -> tuple[ToolSpec, ...]:
        if dialect != "anthropic":
            return ()
        params = dict(self.schema) if self.schema is not None else {"type": "object"}
        return (ToolSpec(STRUCTURED_TOOL, "Give the answer as structured data.", params),)

    def sent_text(self, reply: Reply, dialect: Dialect) -> str:
        """What the model sent as the document: the text, or on anthropic the forced tool's
        arguments."""
        if dialect == "anthropic":
            call = next((c for c in reply.tool_calls if c.name == STRUCTURED_TOOL), None)
            if call is not None:
                return call.arguments
        return reply.text

    def document(self, reply: Reply, dialect: Dialect) -> Any:
        """The JSON document of the reply, validated; RequestRejected (exit 4) when it is not."""
        text = self.sent_text(reply, dialect)
        try:
            value = json.loads(_strip_fence(text))
        except RecursionError:
            raise RequestRejected("the reply is JSON nested too deeply to read") from None
        except ValueError as exc:
            raise RequestRejected(
                f"the reply is not valid JSON ({exc.msg} at character {exc.pos})"
                if isinstance(exc, json.JSONDecodeError)
                else "the reply is not valid JSON"
            ) from None
        if self.schema is not None:
            from mlchat import schema as jsonschema

            try:
                problem = jsonschema.validate(value, self.schema)
            except RecursionError:
                problem = "it is nested too deeply to check"
            except OverflowError as exc:  # a 400-digit number against `maximum`
                problem = f"a number in it cannot be checked ({exc})"
            if problem is not None:
                raise RequestRejected(f"the reply does not match the schema: {problem}")
        return value


def _strip_fence(text: str) -> str:
    """Models often wrap JSON in a ``` fence despite being asked not to."""
    body = text.strip()
    if body.startswith("```") and body.endswith("```"):
        body = body[3:-3]
        first, _, rest = body.partition("\n")
        body = rest if first.strip().isalpha() or not first.strip() else body
    return body.strip()


def load_schema(value: str, read: Callable[[str], str]) -> dict[str, Any]:
    """`--schema` takes inline JSON or a path to a JSON file."""
    text = value if value.lstrip().startswith("{") else read(value)
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--schema is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise UsageError("--schema must be a JSON object")
    # An OpenAI-style wrapper {"name":..., "schema": {...}} is accepted too.
    inner = loaded.get("schema")
    found = inner if isinstance(inner, dict) and "type" not in loaded else loaded
    from mlchat import schema

    try:  # before any request: a mistake in the schema costs nothing
        schema.check_schema(found)
    except schema.SchemaError as exc:
        raise UsageError(f"--schema is not a usable JSON Schema: {exc}") from None
    return found


class ToolSource(Protocol):
    """Tools from elsewhere than the tools file (MCP servers: mlchat.mcp_tools). Their calls
    take the same path as local ones: the same approval, display, caps and recording."""

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools offered now (a source may start its servers here, or withdraw tools)."""
        ...

    def owns(self, name: str) -> bool: ...

    def trusted(self, name: str) -> bool:
        """True when the configuration lets this tool run without asking."""
        ...

    def run(self, call: ToolCall) -> toolmod.ToolResult: ...


@dataclass
class ToolSession:
    """Tools offered in a conversation and the approvals given so far."""

    tools: Mapping[str, toolmod.Tool]
    approve: Callable[[ToolCall], Approval]
    max_rounds: int = DEFAULT_MAX_ROUNDS
    env: dict[str, str] | None = None
    # Values no tool may see in its environment (the key, wherever it came from); read when a
    # tool runs, so a key entered after the session was built is covered too.
    secrets: Collection[str] = ()
    sources: Sequence[ToolSource] = ()

    def __post_init__(self) -> None:
        self.always: set[str] = set()

    def specs(self) -> tuple[ToolSpec, ...]:
        local = tuple(t.spec for t in self.tools.values())
        return local + tuple(spec for src in self.sources for spec in src.specs())

    def prune(self, offered: tuple[ToolSpec, ...]) -> tuple[ToolSpec, ...]:
        """`offered` without the tools a source has withdrawn since (a server that failed)."""
        if not self.sources:
            return offered
        live = {spec.name for src in self.sources for spec in src.specs()}
        owned = {s.name for s in offered if any(src.owns(s.name) for src in self.sources)}
        return tuple(s for s in offered if s.name in live or s.name not in owned)

    def execute(self, call: ToolCall) -> toolmod.ToolResult:
        from mlchat import tools as toolmod  # subprocess and shlex: only when tools are in play

        tool = self.tools.get(call.name)
        source = None
        if tool is None:
            source = next((src for src in self.sources if src.owns(call.name)), None)
        if source is None and (
            tool is None or toolmod.parse_arguments(call.arguments, tool.spec.parameters)[1]
        ):
            # Nothing will run: the model gets the reason, and nobody is asked about it.
            return toolmod.run(tool, call, self.env, self.secrets)
        if source is not None and toolmod.parse_arguments(call.arguments, OBJECT)[1]:
            return source.run(call)  # arguments that are not an object: refused there, unasked
        if call.name not in self.always and not (source and source.trusted(call.name)):
            answer = self.approve(call)
            if answer == "no":
                return toolmod.refused(call)
            if answer == "always":
                self.always.add(call.name)
        if source is not None:
            return source.run(call)
        return toolmod.run(tool, call, self.env, self.secrets)


def run_rounds(
    open_stream: OpenStream,
    convo: Conversation,
    *,
    stream: bool,
    sink: Callable[[Reply], Callable[[StreamEvent], None]],
    finish: Callable[[], None],
    tools: ToolSession | None = None,
    on_call: Callable[[ToolCall], None] = lambda _c: None,
    on_result: Callable[[toolmod.ToolResult], None] = lambda _r: None,
    log: TurnLog | None = None,
    request_options: Mapping[str, Any] | None = None,
    scrub: Callable[[str], str] = lambda text: text,
) -> list[Reply]:
    """Stream replies until the model answers without calling a tool; return every round's reply.

    `sink(reply)` gives the event consumer for the next reply (a fresh renderer, plus the log's
    checkpoint); `finish()` ends its drawing. Each reply and each tool result joins `convo` (and
    the log) as soon as it exists. An error or Ctrl-C propagates with the reply so far kept:
    "interrupted" when some of it arrived or the user stopped it, "failed" when nothing did.
    """
    log = log or NullLog()
    options = dict(request_options or {})
    replies: list[Reply] = []
    while True:
        reply = Reply()
        replies.append(reply)
        try:
            run_turn(open_stream, convo.request(stream=stream, **options), reply, sink(reply))
        except BaseException as exc:
            # Drawing may fail too (a hung-up terminal): the reply is recorded regardless, and the
            # original error is the one that matters.
            with suppress(Exception):
                finish()
            record(convo, log, reply, exc, scrub)
            kept = convo.messages[-1] if convo.messages else None
            if kept is not None and kept.role == "assistant" and kept.tool_calls:
                # A call cut off mid-stream will never run; the conversation must stay valid.
                answer_unanswered(convo, log, kept.tool_calls, set(), _why_not_run(exc, scrub))
            raise
        finish()
        record(convo, log, reply, None, scrub)
        calls = [c for c in reply.tool_calls if c.name != STRUCTURED_TOOL]
        if tools is None and calls:
            # Calls to tools that were never offered: answered, so the next turn can be sent.
            why = "not run: no tools are available in this conversation"
            answer_unanswered(convo, log, calls, set(), why)
        if tools is None or not calls:
            return replies
        if len(replies) > tools.max_rounds:
            raise RequestRejected(
                f"the model was still calling tools after {tools.max_rounds} rounds",
                hint="raise the limit with --max-rounds",
            )
        answered: set[str] = set()
        try:
            for call in calls:
                on_call(call)
                result = tools.execute(call)
                on_result(result)
                message = tool_message(result)
                convo.messages.append(message)
                answered.add(call.id)
                log.user(convo, message)
        except BaseException as exc:
            # Ctrl-C at the approval prompt or while a tool runs, or an error: every call of the
            # reply still gets a result, so the conversation stays valid to send.
            answer_unanswered(convo, log, calls, answered, _why_not_run(exc, scrub))
            raise
        convo.tools = tools.prune(convo.tools)


CANCELLED = "cancelled by the user: the tool was not run"


def _why_not_run(exc: BaseException, scrub: Callable[[str], str]) -> str:
    if isinstance(exc, KeyboardInterrupt | Interrupted):
        return CANCELLED
    reason = exc.message if isinstance(exc, MlchatError) else str(exc) or type(exc).__name__
    return f"not run: {scrub(reason)}"


def answer_unanswered(
    convo: Conversation,
    log: TurnLog,
    calls: Sequence[ToolCall],
    answered: set[str],
    why: str,
) -> None:
    """Give every call of `calls` not in `answered` an error result saying `why`, in the
    conversation and the log: both APIs reject a tool call without its result."""
    for call in calls:
        if call.id in answered:
            continue
        message = Message("tool", why, tool_call_id=call.id, is_error=True)
        convo.messages.append(message)
        answered.add(call.id)
        with suppress(Exception):
            log.user(convo, message)


def tool_message(result: toolmod.ToolResult) -> Message:
    """The conversation's message for a tool's result: its text, and its images (if any) as
    parts after that text, so they are saved and sent where the dialect allows."""
    parts: tuple[Part, ...] = ()
    if result.images:
        parts = (TextPart(result.content), *result.images)
    return Message(
        "tool",
        result.content,
        tool_call_id=result.call.id,
        is_error=result.is_error,
        parts=parts,
    )


def record(
    convo: Conversation,
    log: TurnLog,
    reply: Reply,
    error: BaseException | None,
    scrub: Callable[[str], str] = lambda text: text,
) -> None:
    """Keep a reply in the conversation and the log: whole; cut short ("interrupted": Ctrl-C, or
    an error after some of it arrived); or "failed" (an error before anything arrived, kept as a
    record only, so the model never sees an empty turn)."""
    status: ReplyStatus = "ok"
    text: str | None = None
    if error is not None:
        user_stop = isinstance(error, KeyboardInterrupt | Interrupted)
        status = "interrupted" if reply.has_content or user_stop else "failed"
        if not user_stop:
            text = scrub(error.message if isinstance(error, MlchatError) else str(error))
    before = len(convo.messages)
    convo.add_reply(reply, interrupted=error is not None)
    message = (
        convo.messages[-1]
        if len(convo.messages) > before
        else reply.message(interrupted=error is not None)
    )
    log.reply(convo, message, reply, status=status, error=text)


def total_usage(replies: list[Reply]) -> Usage | None:
    """The usage of every round added up (a tool loop bills each round)."""
    found = [r.usage for r in replies if r.usage is not None]
    if not found:
        return None

    def add(name: str) -> int | None:
        values = [getattr(u, name) for u in found if getattr(u, name) is not None]
        return sum(values) if values else None

    return Usage(
        add("input_tokens"), add("output_tokens"), add("cached_tokens"), add("cache_write_tokens")
    )
