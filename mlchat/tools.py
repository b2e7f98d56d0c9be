"""Local tools the model may call (`--tools FILE`): loading their definitions and running them.

Imports the standard library, types, errors and schema. A tool is a name, a description, the JSON
Schema of its input, and a command; the command gets the arguments as JSON on stdin and its
stdout is the result sent back to the model. A command that fails, times out or cannot start is
reported to the model as an error result, not raised: the model can recover, the user keeps the
conversation.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchat import schema
from mlchat.errors import UsageError
from mlchat.types import ToolCall, ToolSpec

DEFAULT_TIMEOUT = 30.0
MAX_OUTPUT = 64 * 1024  # characters of a tool's output sent back to the model
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    cwd: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    call: ToolCall
    content: str
    is_error: bool = False


def load(path: Path) -> dict[str, Tool]:
    """Tools from a TOML (`[[tools]]` tables) or JSON (a list, or `{"tools": [...]}`) file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read tools file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"tools file {path} does not parse: {exc}") from None
    entries = data.get("tools") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"tools file {path} defines no tools (expected [[tools]] entries)")
    tools: dict[str, Tool] = {}
    base = path.resolve().parent
    for i, entry in enumerate(entries):
        tool = _tool(entry, f"{path}: tool {i + 1}", base)
        if tool.spec.name in tools:
            raise UsageError(f"{path}: tool '{tool.spec.name}' is defined twice")
        tools[tool.spec.name] = tool
    return tools


def _tool(entry: Any, where: str, base: Path) -> Tool:
    if not isinstance(entry, dict):
        raise UsageError(f"{where} must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name or not set(name) <= _NAME_CHARS or len(name) > 64:
        raise UsageError(f"{where}: name must be 1-64 letters, digits, '_' or '-'")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise UsageError(f"{where} ({name}): description must be a string")
    params = entry.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(params, dict):
        raise UsageError(f"{where} ({name}): parameters must be a JSON Schema object")
    try:
        schema.check_schema(params)
    except (ValueError, RecursionError) as exc:
        raise UsageError(
            f"{where} ({name}): parameters is not a usable JSON Schema: {exc}"
        ) from None
    command = entry.get("command")
    if isinstance(command, str) and command.strip():
        argv = tuple(shlex.split(command))
    elif isinstance(command, list) and command and all(isinstance(c, str) for c in command):
        argv = tuple(command)
    else:
        raise UsageError(f"{where} ({name}): command must be a string or a list of strings")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise UsageError(f"{where} ({name}): timeout must be a positive number of seconds")
    return Tool(ToolSpec(name, description, params), argv, float(timeout), str(base))


def run(tool: Tool | None, call: ToolCall, env: dict[str, str] | None = None) -> ToolResult:
    """Run one call. Arguments that are not JSON, or do not fit the tool's schema, are reported to
    the model without running anything."""
    if tool is None:
        return ToolResult(call, f"error: there is no tool named '{call.name}'", True)
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        return ToolResult(call, f"error: the arguments are not valid JSON ({exc})", True)
    problem = schema.validate(args, tool.spec.parameters)
    if problem is not None:
        return ToolResult(call, f"error: the arguments do not fit the schema: {problem}", True)
    try:
        proc = subprocess.run(
            tool.argv,
            input=json.dumps(args),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=tool.timeout,
            cwd=tool.cwd,
            env=env if env is not None else dict(os.environ),
        )
    except subprocess.TimeoutExpired:
        return ToolResult(call, f"error: the tool timed out after {tool.timeout:g} s", True)
    except OSError as exc:
        return ToolResult(call, f"error: the tool could not start: {exc.strerror or exc}", True)
    output = _clip(proc.stdout)
    if proc.returncode != 0:
        detail = _clip(proc.stderr.strip() or output.strip(), 2000)
        return ToolResult(
            call, f"error: the tool exited with status {proc.returncode}: {detail}", True
        )
    return ToolResult(call, output)


def _clip(text: str, limit: int = MAX_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


def refused(call: ToolCall) -> ToolResult:
    return ToolResult(call, "error: the user declined to run this tool call", True)
