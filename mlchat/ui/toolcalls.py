"""The one display of tool calls and their results, on stderr, for `ask` and `chat`: the call
with every argument (ui/arguments.py: pretty-printed, long values folded, every key shown), then
what the tool returned, or the first line of why it failed; and the approval question, which
accepts a yes only once all of the call has been shown (`[v]iew` pages the whole). Tool names,
arguments and output come from the model or a local command: sanitised, and scrubbed of secrets.
Imports mlchat.text, mlchat.runtime and mlchat.ui.arguments; types only from mlchat.tools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from mlchat.runtime import Runtime
from mlchat.text import clip, escape_controls
from mlchat.ui import arguments

if TYPE_CHECKING:
    from mlchat.tools import ToolResult
    from mlchat.types import ServerTool, ToolCall

Approval = Literal["yes", "no", "always"]


def _note(rt: Runtime, text: str) -> None:
    rt.note(rt.scrub(escape_controls(text)))


def show_call(rt: Runtime, call: ToolCall) -> None:
    view = arguments.folded(call.arguments)
    name = escape_controls(call.name, keep="")
    if len(view.lines) == 1:
        _note(rt, f"mlchat: tool call: {name} {view.lines[0]}")
        return
    _note(rt, f"mlchat: tool call: {name}")
    for line in view.lines:
        _note(rt, f"  {line}")


def ask_approval(rt: Runtime, call: ToolCall) -> Approval:
    """y / n / a (always this tool, this session) / v (view all of it); end of input is a no.
    Keys typed before the question are discarded (Runtime.ask). A yes is refused while part of
    the call is still unseen (the folded view stopped short): [v]iew shows it."""
    name = escape_controls(call.name, keep="")
    seen = arguments.folded(call.arguments).complete
    while True:
        try:
            answer = rt.ask(f"Run {name}? [y]es / [n]o / [a]lways / [v]iew all: ")
        except EOFError:
            return "no"
        choice = answer.strip().lower()[:1]
        if choice == "v":
            view = arguments.full(call.arguments)
            rt.show_paged(rt.scrub(f"{name}\n" + "\n".join(view.lines) + "\n"))
            seen = seen or view.complete
        elif choice == "n":
            return "no"
        elif choice in ("y", "a") and not seen:
            rt.note("mlchat: not all of this call was shown: [v]iew it first, or answer n")
        elif choice in ("y", "a"):
            return "yes" if choice == "y" else "always"
        else:
            rt.note("mlchat: answer y, n, a or v")


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
