"""Local tools the model may call (`--tools FILE`): loading their definitions and running them.

A tool is a name, a description, the JSON Schema of its input, and a command; the command gets
the arguments as JSON on stdin and its stdout is the result sent back to the model. A command that
fails, times out or cannot start, and arguments that cannot be used (not JSON, nested 3,000 deep,
a number no float can hold, not fitting the schema), are reported to the model as an error
result, not raised: the model can recover, the user keeps the conversation.

The process itself (environment, process group, bounded output) is `toolproc`'s job. A tool gets
a small neutral environment; the tools file lists any other variables it needs in `pass_env`
(top level: every tool; in a `[[tools]]` entry: that tool). The API key is never passed.

Imports the standard library, types, errors, schema and toolproc.
"""

from __future__ import annotations

import codecs
import json
import os
import shlex
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlchat import schema, toolproc
from mlchat.errors import UsageError
from mlchat.text import json_loads
from mlchat.types import ImagePart, ToolCall, ToolSpec

DEFAULT_TIMEOUT = 30.0
MAX_OUTPUT = 64 * 1024  # bytes of a tool's stdout sent back to the model; the rest is not read
MAX_ERROR = 8 * 1024  # bytes of its stderr kept for an error result
MAX_TIMEOUT = 86400.0  # a day: past it, a number too large for the clock is a mistake anyway
PASS_ENV = "pass_env"  # the tools file's key listing variables passed through to the tools
_VAR_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    cwd: str | None = None
    pass_env: tuple[str, ...] = ()  # variables the tool gets beyond toolproc.BASE_ENV


@dataclass(frozen=True, slots=True)
class ToolResult:
    call: ToolCall
    content: str
    is_error: bool = False
    # Images a tool returned (MCP servers may): sent as image parts where the dialect allows
    # them in a tool result (Anthropic); `content` always describes them in text as well.
    images: tuple[ImagePart, ...] = ()


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
    except RecursionError:
        raise UsageError(f"tools file {path} nests too deeply") from None
    entries = data.get("tools") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"tools file {path} defines no tools (expected [[tools]] entries)")
    shared = _pass_env(data.get(PASS_ENV, []) if isinstance(data, dict) else [], str(path))
    tools: dict[str, Tool] = {}
    base = path.resolve().parent
    for i, entry in enumerate(entries):
        tool = _tool(entry, f"{path}: tool {i + 1}", base, shared)
        if tool.spec.name in tools:
            raise UsageError(f"{path}: tool '{tool.spec.name}' is defined twice")
        tools[tool.spec.name] = tool
    return tools


def _pass_env(value: Any, where: str) -> tuple[str, ...]:
    """A `pass_env` list: variable names, or prefixes ending in `*` (`AWS_*`; `*` is every
    variable). The key, and any variable holding a secret, is left out whatever it says."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {PASS_ENV} must be a list of variable names")
    for name in value:
        stem = name[:-1] if name.endswith("*") else name
        if not set(stem) <= _VAR_CHARS or not (stem or name == "*"):
            raise UsageError(
                f"{where}: {PASS_ENV}: '{name}' is not a variable name (or a prefix ending in *)"
            )
        if name == toolproc.KEY_ENV:
            raise UsageError(
                f"{where}: {PASS_ENV}: {toolproc.KEY_ENV} is never given to a tool",
                hint="a tool that needs the key must read it from a file of its own",
            )
    return tuple(value)


def _tool(entry: Any, where: str, base: Path, shared: tuple[str, ...] = ()) -> Tool:
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
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:  # an unbalanced quote
            raise UsageError(f"{where} ({name}): command does not split: {exc}") from None
    elif isinstance(command, list) and command and all(isinstance(c, str) for c in command):
        argv = tuple(command)
    else:
        raise UsageError(f"{where} ({name}): command must be a string or a list of strings")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise UsageError(
            f"{where} ({name}): timeout must be a number of seconds > 0 and <= {MAX_TIMEOUT:g}"
        )
    own = _pass_env(entry.get(PASS_ENV, []), f"{where} ({name})")
    return Tool(
        ToolSpec(name, description, params),
        argv,
        float(timeout),
        str(base),
        tuple(dict.fromkeys((*shared, *own))),
    )


def run(
    tool: Tool | None,
    call: ToolCall,
    env: Mapping[str, str] | None = None,
    secrets: Collection[str] = (),
) -> ToolResult:
    """Run one call. Arguments that are not JSON, or do not fit the tool's schema, are reported to
    the model without running anything. `env` is the environment the tool's is taken from (see
    `toolproc.environment`), `secrets` the values no tool may see."""
    if tool is None:
        return ToolResult(call, f"error: there is no tool named '{call.name}'", True)
    args, problem = parse_arguments(call.arguments, tool.spec.parameters)
    if problem is not None:
        return ToolResult(call, f"error: {problem}", True)
    source = env if env is not None else os.environ
    try:
        payload = json.dumps(args).encode("utf-8")
    except (RecursionError, ValueError):
        return ToolResult(call, "error: the arguments are nested too deeply", True)
    try:
        outcome = toolproc.run(
            tool.argv,
            payload,
            env=toolproc.environment(source, tool.pass_env, secrets),
            cwd=tool.cwd,
            timeout=tool.timeout,
            out_cap=MAX_OUTPUT,
            err_cap=MAX_ERROR,
        )
    except OSError as exc:
        return ToolResult(call, f"error: the tool could not start: {exc.strerror or exc}", True)
    output = _decode(outcome.stdout)
    if outcome.returncode is None:
        return ToolResult(call, f"error: the tool timed out after {tool.timeout:g} s", True)
    if outcome.stdout_cut:
        note = f"[... output cut at {MAX_OUTPUT // 1024} KiB: the rest was not read]"
        return ToolResult(call, output + "\n" + note)
    if outcome.returncode != 0:
        detail = _clip(_decode(outcome.stderr).strip() or output.strip(), 2000)
        return ToolResult(
            call, f"error: the tool exited with status {outcome.returncode}: {detail}", True
        )
    return ToolResult(call, output)


def parse_arguments(text: str, parameters: Mapping[str, Any]) -> tuple[Any, str | None]:
    """The arguments of a call and None, or None and why they cannot be used. Whatever the
    model sends (3,000 levels of nesting, a 400-digit number against `maximum`, a 5,000-digit
    one) is an answer here, never an exception: the model is told and the conversation goes on."""
    try:
        args = json_loads(text) if text.strip() else {}
    except RecursionError:
        return None, "the arguments are nested too deeply"
    except ValueError as exc:  # incl. ints past Python's digit limit
        return None, f"the arguments are not valid JSON ({exc})"
    try:
        problem = schema.validate(args, parameters)
    except RecursionError:
        return None, "the arguments are nested too deeply to check against the schema"
    except (ValueError, OverflowError, TypeError) as exc:  # SchemaError is a ValueError
        return None, f"the arguments cannot be checked against the schema ({exc})"
    if problem is not None:
        return None, f"the arguments do not fit the schema: {problem}"
    return args, None


def _decode(data: bytes) -> str:
    # An incremental decoder drops a character cut in half at the cap instead of showing U+FFFD.
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


def refused(call: ToolCall) -> ToolResult:
    return ToolResult(call, "error: the user declined to run this tool call", True)
