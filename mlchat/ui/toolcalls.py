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
    from mlchat.types import ServerTool, ToolCall


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


def show_server_tool(rt: Runtime, tool: ServerTool) -> None:
    """One line for a tool the service ran itself ("searched the web: ..."); results are not
    shown apart: `--json` carries them."""
    if not tool.is_use:
        return
    import json

    try:
        data = json.loads(tool.data)
    except (ValueError, RecursionError):
        data = tool.data
    query = data.get("query") if isinstance(data, dict) else None
    detail = query if isinstance(query, str) else tool.data
    if tool.name == "web_search":
        what = "searched the web"
    elif tool.name == "web_fetch":
        what = "fetched"
        url = data.get("url") if isinstance(data, dict) else None
        detail = url if isinstance(url, str) else detail
    else:
        what = f"the service ran {tool.name or 'a tool'}"
    _note(rt, f"mlchat: {what}: {clip(detail, 200)}")
