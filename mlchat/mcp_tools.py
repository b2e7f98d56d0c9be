"""MCP servers' tools as a source of the tool loop (mlchat.toolloop.ToolSource): naming, trust,
routing calls, and withdrawing the tools of a server that fails.

Imports the standard library, errors, types, tools (the result type and the output cap) and
mcp_config; the SDK (mlchat.mcp_client) is imported when the first server starts, and a missing
SDK is one line saying what to install.

Names: the model sees `SERVER__tool`. Both dialects allow only letters, digits, '_' and '-' in a
tool name (at most 64), so the dotted `SERVER.tool` of other clients is not possible; any other
character of a server's tool name becomes '_', and a name longer than 64 keeps its start and a hash.
Two servers cannot clash (the prefix differs); a name that still collides (with a local tool, or
after that rewriting) is left out with one line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlchat.errors import UsageError
from mlchat.mcp_config import INSTALL_HINT, ServerConfig
from mlchat.tools import MAX_OUTPUT, ToolResult, parse_arguments
from mlchat.types import ToolCall, ToolSpec

if TYPE_CHECKING:
    from mlchat.mcp_client import Hub, ToolInfo

SEP = "__"
MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_-]")

State = Literal["not started", "running", "failed", "stopped", "disabled"]


def require_sdk() -> None:
    """The one line for a run that uses a server without the optional extra."""
    if importlib.util.find_spec("mcp") is None:
        raise UsageError("MCP servers need the mcp SDK, which is not installed", hint=INSTALL_HINT)


def tool_name(server: str, tool: str) -> str:
    name = server + SEP + _BAD.sub("_", tool)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: MAX_NAME - 9] + "_" + digest


@dataclass
class Status:
    """What `mcp list` and `/mcp` show of one server."""

    config: ServerConfig
    state: State = "not started"
    tools: list[ToolInfo] = field(default_factory=list)
    error: str | None = None

    def row(self) -> dict[str, object]:
        return {
            "name": self.config.name,
            "transport": self.config.transport,
            "target": self.config.target,
            "state": self.state,
            "tools": len(self.tools),
            "error": self.error,
        }


def status_lines(statuses: Sequence[Status]) -> list[str]:
    """One line per server, for `mlchat mcp list` and the REPL's /mcp: name, transport, state,
    tool count, and the command or URL, or what failed (sanitised: errors come from servers)."""
    from mlchat.text import escape_controls

    width = max((len(s.config.name) for s in statuses), default=4)
    lines = []
    for s in statuses:
        count = f"{len(s.tools)} tool{'s' * (len(s.tools) != 1)}" if s.state != "disabled" else "-"
        head = f"{s.config.name:<{width}}  {s.config.transport:<5}  {s.state:<11}  {count:<9}"
        detail = escape_controls(" ".join((s.error or s.config.target).split()))
        lines.append(f"{head}  {detail}")
    return lines


@dataclass(frozen=True, slots=True)
class _Route:
    server: str
    tool: str
    spec: ToolSpec


class McpTools:
    """The tools of the servers chosen for a run. Servers start on the first `specs()` (the
    first request that offers tools), in parallel; `close()` stops them all."""

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        note: Callable[[str], None],
        reserved: frozenset[str] = frozenset(),
    ) -> None:
        self.status = {s.name: Status(s) for s in servers}
        self.env = env
        self.log_dir = log_dir
        self.note = note  # shows one line on stderr: it sanitises and scrubs
        self.reserved = reserved  # local tools' names: they win a clash
        self.routes: dict[str, _Route] = {}
        self.hub: Hub | None = None
        self.started = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        wanted = [s.config for s in self.status.values() if s.state == "not started"]
        if not wanted:
            return
        require_sdk()
        from mlchat.mcp_client import Hub

        self.hub = Hub(self.env, self.log_dir)
        for name, result in self.hub.start(wanted).items():
            status = self.status[name]
            if isinstance(result, str):
                self._fail(status, f"failed to start: {result}")
            else:
                status.state = "running"
                status.tools = result
                self._add_routes(status)

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()
            self.hub = None
        for status in self.status.values():
            if status.state == "running":
                status.state = "stopped"

    def __enter__(self) -> McpTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, status: Status, what: str) -> None:
        name = status.config.name
        status.state = "failed"
        status.error = what
        stdio = status.config.transport == "stdio"
        log = f" (log: {self.log_dir / (name + '.log')})" if stdio else ""
        self.note(f"mlchat: MCP server {name} {what}; going on without its tools{log}")

    def _add_routes(self, status: Status) -> None:
        server = status.config.name
        for tool in status.tools:
            name = tool_name(server, tool.name)
            if name in self.reserved or name in self.routes:
                line = f"mlchat: MCP tool {server}.{tool.name} left out: {name} is taken"
                self.note(line)
                continue
            spec = ToolSpec(name, tool.description, dict(tool.schema) or {"type": "object"})
            self.routes[name] = _Route(server, tool.name, spec)

    # -- the ToolSource protocol ------------------------------------------------------------

    def specs(self) -> tuple[ToolSpec, ...]:
        self.start()
        return tuple(r.spec for r in self.routes.values() if self._live(r.server))

    def owns(self, name: str) -> bool:
        return name in self.routes

    def trusted(self, name: str) -> bool:
        route = self.routes.get(name)
        return route is not None and self.status[route.server].config.trusts(route.tool)

    def run(self, call: ToolCall) -> ToolResult:
        route = self.routes[call.name]
        status = self.status[route.server]
        if not self._live(route.server) or self.hub is None:
            return ToolResult(call, f"error: MCP server {route.server} is not running", True)
        # Hostile JSON is an answer, never an exception; the server checks its own schema
        # (ours could refuse a dialect of JSON Schema the server understands).
        args, problem = parse_arguments(call.arguments, {"type": "object"})
        if problem is not None:
            return ToolResult(call, f"error: {problem}", True)
        from mlchat.mcp_client import ServerDown

        try:
            outcome = self.hub.call(route.server, route.tool, args)
        except ServerDown as exc:
            self._fail(status, f"stopped answering ({exc})")
            self.hub.stop(route.server)
            return ToolResult(call, f"error: MCP server {route.server} failed: {exc}", True)
        return ToolResult(call, _clip(outcome.text), outcome.is_error, outcome.images)

    def _live(self, server: str) -> bool:
        return self.status[server].state == "running"


def _clip(text: str, limit: int = MAX_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"
