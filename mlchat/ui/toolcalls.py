"""The one display of tool calls and their results, on stderr, for `ask` and `chat`: the call with
its arguments (clipped to one line), then what the tool returned, or the first line of why it
failed. Tool names, arguments and output come from the model or a local command: sanitised, and
scrubbed of secrets. Imports mlchat.text and mlchat.runtime; types only from mlchat.tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlchat.runtime import Runtime
from mlchat.text import clip, escape_controls

if TYPE_CHECKING:
    from mlchat.tools import ToolResult
    from mlchat.types import ToolCall


def _note(rt: Runtime, text: str) -> None:
    rt.note(rt.scrub(escape_controls(text)))


def show_call(rt: Runtime, call: ToolCall) -> None:
    _note(rt, f"mlchat: tool call: {call.name} {clip(call.arguments, 300)}")


def show_result(rt: Runtime, result: ToolResult) -> None:
    content = result.content.strip()
    if result.is_error:
        head = content.splitlines()[0] if content else "(no output)"
        _note(rt, f"mlchat: tool {result.call.name} failed: {clip(head, 200)}")
    else:
        size = len(result.content)
        plural = "s" * (size != 1)
        _note(rt, f"mlchat: tool {result.call.name} returned {size:,} character{plural}")
