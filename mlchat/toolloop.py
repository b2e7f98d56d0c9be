"""The tool-calling loop and structured output, shared by `ask` and `chat`. No terminal I/O:
drawing, approval and recording arrive as callables.

A round streams one reply; when it carries tool calls, each call is shown, approved (or not), run,
and its result appended as a `tool` message; the next round sends the conversation back. The loop
ends when a reply has no tool calls, or fails after `max_rounds` rounds of calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlchat import schema as jsonschema
from mlchat import tools as toolmod
from mlchat.errors import RequestRejected, UsageError
from mlchat.session import Conversation, NullLog, OpenStream, Reply, TurnLog, run_turn
from mlchat.types import Dialect, Message, StreamEvent, ToolCall, ToolSpec

DEFAULT_MAX_ROUNDS = 8
STRUCTURED_TOOL = "respond"

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

    def document(self, reply: Reply, dialect: Dialect) -> Any:
        """The JSON document of the reply, validated; RequestRejected (exit 4) when it is not."""
        text = reply.text
        if dialect == "anthropic":
            call = next((c for c in reply.tool_calls if c.name == STRUCTURED_TOOL), None)
            text = call.arguments if call is not None else text
        try:
            value = json.loads(_strip_fence(text))
        except ValueError as exc:
            raise RequestRejected(
                f"the reply is not valid JSON ({exc.msg} at character {exc.pos})"
                if isinstance(exc, json.JSONDecodeError)
                else "the reply is not valid JSON"
            ) from None
        if self.schema is not None:
            problem = jsonschema.validate(value, self.schema)
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
    return inner if isinstance(inner, dict) and "type" not in loaded else loaded


@dataclass
class ToolSession:
    """Tools offered in a conversation and the approvals given so far."""

    tools: Mapping[str, toolmod.Tool]
    approve: Callable[[ToolCall], Approval]
    max_rounds: int = DEFAULT_MAX_ROUNDS
    env: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.always: set[str] = set()

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec for t in self.tools.values())

    def execute(self, call: ToolCall) -> toolmod.ToolResult:
        if call.name not in self.always:
            answer = self.approve(call)
            if answer == "no":
                return toolmod.refused(call)
            if answer == "always":
                self.always.add(call.name)
        return toolmod.run(self.tools.get(call.name), call, self.env)


def run_rounds(
    open_stream: OpenStream,
    convo: Conversation,
    *,
    stream: bool,
    sink: Callable[[], Callable[[StreamEvent], None]],
    finish: Callable[[], None],
    tools: ToolSession | None = None,
    on_call: Callable[[ToolCall], None] = lambda _c: None,
    on_result: Callable[[toolmod.ToolResult], None] = lambda _r: None,
    log: TurnLog | None = None,
    request_options: Mapping[str, Any] | None = None,
) -> Reply:
    """Run rounds until the model answers without calling a tool. `sink()` gives the event
    consumer for the next reply (a fresh renderer); `finish()` ends its drawing. Each reply and
    each tool result is added to `convo` (and the log) as soon as it exists; an error or Ctrl-C
    propagates with `convo` holding everything that happened."""
    log = log or NullLog()
    options = dict(request_options or {})
    rounds = 0
    while True:
        reply = Reply()
        request = convo.request(stream=stream, **options)
        try:
            run_turn(open_stream, request, reply, sink())
        except KeyboardInterrupt:
            finish()
            _keep(convo, log, reply, "interrupted")
            raise
        except Exception as exc:
            finish()
            _keep(convo, log, reply, "failed", str(exc))
            raise
        finish()
        convo.add_reply(reply)
        log.reply(convo, convo.messages[-1], reply, status="ok")
        calls = [c for c in reply.tool_calls if c.name != STRUCTURED_TOOL]
        if tools is None or not calls:
            return reply
        rounds += 1
        if rounds > tools.max_rounds:
            raise RequestRejected(
                f"the model was still calling tools after {tools.max_rounds} rounds",
                hint="raise the limit with --max-rounds",
            )
        for call in calls:
            on_call(call)
            result = tools.execute(call)
            on_result(result)
            message = Message(
                "tool", result.content, tool_call_id=call.id, is_error=result.is_error
            )
            convo.messages.append(message)
            log.user(convo, message)


def _keep(
    convo: Conversation,
    log: TurnLog,
    reply: Reply,
    status: Literal["interrupted", "failed"],
    error: str | None = None,
) -> None:
    if reply.has_content:
        convo.add_reply(reply, interrupted=True)
        log.reply(convo, convo.messages[-1], reply, status=status, error=error)
    else:
        log.reply(convo, reply.message(interrupted=True), reply, status=status, error=error)
