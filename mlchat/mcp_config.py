"""MCP server configuration: `[mcp.NAME]` tables of config.toml and the common JSON format
(`{"mcpServers": {...}}`, given with `--mcp-config FILE`), checked into `ServerConfig`s, and the
choice of servers for one run (`--mcp NAME`, `--mcp all`).

Imports the standard library, errors and tools (for the default call timeout) only: reading a
configuration never loads the SDK. `${VAR}` (or `${env:VAR}`) in `env` and `headers` values names
an environment variable, so no secret need be written in a file; nothing else is expanded.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlchat.errors import UsageError

DEFAULT_STARTUP_TIMEOUT = 30.0  # `npx`/`uvx` may download the server on its first start
DEFAULT_CALL_TIMEOUT = 60.0
ALL = "all"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_VAR = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
INSTALL_HINT = "pip install 'mlchat[mcp]'"

Transport = Literal["stdio", "http"]
_TOML_KEYS = {
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "enabled",
    "trust",
    "startup_timeout",
    "timeout",
}


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One configured server. `env` and `headers` keep their `${VAR}` references: they are
    resolved against the environment only when the server starts."""

    name: str
    transport: Transport
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    trust: frozenset[str] | bool = False
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    timeout: float = DEFAULT_CALL_TIMEOUT
    source: str = "the config file"

    def trusts(self, tool: str) -> bool:
        return self.trust is True or (isinstance(self.trust, frozenset) and tool in self.trust)

    @property
    def target(self) -> str:
        """What `mcp list` shows: the command line or the URL."""
        return self.url if self.url is not None else shlex.join(self.command)


def expand(value: str, env: Mapping[str, str], where: str) -> str:
    """`value` with every `${VAR}` replaced by that variable; a variable that is not set is an
    error naming it (its value is never shown)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise UsageError(f"{where} names ${{{name}}}, which is not set in the environment")
        return env[name]

    return _VAR.sub(one, value)


def from_toml(table: Any, where: str = "the config file") -> dict[str, ServerConfig]:
    """The `[mcp]` table of config.toml: one `[mcp.NAME]` table per server."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}: mcp must be a table of [mcp.NAME] tables")
    servers: dict[str, ServerConfig] = {}
    for name, entry in table.items():
        at = f"{where}: mcp.{name}"
        _check_name(name, at)
        if not isinstance(entry, dict):
            raise UsageError(f"{at} must be a table")
        unknown = sorted(set(entry) - _TOML_KEYS)
        if unknown:
            raise UsageError(f"{at} has an unknown key '{unknown[0]}'")
        command = entry.get("command")
        if isinstance(command, str):
            try:
                command = shlex.split(command)
            except ValueError as exc:
                raise UsageError(f"{at}: command does not parse as a shell would ({exc})") from None
        servers[name] = _server(name, entry, command, at, where)
    return servers


def from_json(path: Path) -> dict[str, ServerConfig]:
    """`{"mcpServers": {NAME: {...}}}` as Claude Desktop, Cursor and others write it (`servers`,
    VS Code's key, is read too). `command` is one executable there, never split; `disabled` and
    `alwaysAllow` (a trust list) are understood as well as our own `enabled` and `trust`."""
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    table = None
    if isinstance(data, dict):
        table = data.get("mcpServers", data.get("servers"))
    if not isinstance(table, dict):
        raise UsageError(f'{path} has no "mcpServers" object')
    servers: dict[str, ServerConfig] = {}
    for name, entry in table.items():
        at = f"{where}: {name}"
        _check_name(name, at)
        if not isinstance(entry, dict):
            raise UsageError(f"{at} must be an object")
        entry = dict(entry)
        kind = entry.pop("type", None)
        if kind == "sse":
            raise UsageError(f"{at} uses the old SSE transport; mlchat speaks Streamable HTTP")
        if "disabled" in entry:
            entry.setdefault("enabled", not entry.pop("disabled"))
        if "alwaysAllow" in entry:
            entry.setdefault("trust", entry.pop("alwaysAllow"))
        command = entry.get("command")
        if isinstance(command, str) and command:
            command = [command]
        servers[name] = _server(name, entry, command, at, where)
    return servers


def _check_name(name: str, at: str) -> None:
    if not _NAME.fullmatch(name) or "__" in name or name == ALL:
        raise UsageError(
            f"{at}: a server name must be 1-32 letters, digits, '-' or '_' (no '__', not 'all')"
        )


def _server(name: str, entry: dict[str, Any], command: Any, at: str, where: str) -> ServerConfig:
    url = entry.get("url")
    if (command is None) == (url is None):
        raise UsageError(f"{at} needs either command (a stdio server) or url (an HTTP one)")
    common: dict[str, Any] = {
        "name": name,
        "enabled": _bool(entry.get("enabled", True), f"{at}: enabled"),
        "trust": _trust(entry.get("trust", False), at),
        "startup_timeout": _seconds(entry, "startup_timeout", DEFAULT_STARTUP_TIMEOUT, at),
        "timeout": _seconds(entry, "timeout", DEFAULT_CALL_TIMEOUT, at),
        "source": where,
    }
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise UsageError(f"{at}: url must start with http:// or https://")
        for key in ("args", "env", "cwd"):
            if key in entry:
                raise UsageError(f"{at}: {key} is for stdio servers (command), not url")
        return ServerConfig(
            transport="http", url=url, headers=_strings(entry, "headers", at), **common
        )
    if "headers" in entry:
        raise UsageError(f"{at}: headers are for HTTP servers (url), not command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise UsageError(f"{at}: command must be a string or a non-empty list of strings")
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise UsageError(f"{at}: args must be a list of strings")
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise UsageError(f"{at}: cwd must be a string")
    return ServerConfig(
        transport="stdio",
        command=(*command, *args),
        env=_strings(entry, "env", at),
        cwd=os.path.expanduser(cwd) if cwd else None,  # noqa: PTH111 - `~nosuchuser` stays
        **common,
    )


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be true or false")
    return value


def _trust(value: Any, at: str) -> frozenset[str] | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise UsageError(f"{at}: trust must be true, false or a list of tool names")


def _seconds(entry: dict[str, Any], key: str, default: float, at: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise UsageError(f"{at}: {key} must be a number of seconds between 0 and 86400")
    return float(value)


def _strings(entry: dict[str, Any], key: str, at: str) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise UsageError(f"{at}: {key} must be a table of strings")
    return dict(value)


def load(
    file: Mapping[str, Any], json_files: Sequence[Path] = (), where: str = "the config file"
) -> dict[str, ServerConfig]:
    """Every configured server: config.toml's, then each `--mcp-config` file's (a later
    definition of a name replaces an earlier one)."""
    servers = from_toml(file.get("mcp"), where)
    for path in json_files:
        servers.update(from_json(path))
    return servers


def select(
    servers: Mapping[str, ServerConfig], names: Sequence[str], json_files: Sequence[Path] = ()
) -> list[ServerConfig]:
    """The servers of this run: those named with `--mcp` (a disabled one too: naming it is a
    choice), every enabled one for `--mcp all`; with only `--mcp-config`, that file's enabled
    servers (the file was given for this run)."""
    if not names:
        if not json_files:
            return []
        chosen = {s.name for s in servers.values() if s.source in {str(p) for p in json_files}}
        return [s for s in servers.values() if s.name in chosen and s.enabled]
    picked: dict[str, ServerConfig] = {}
    for name in names:
        if name == ALL:
            picked.update({s.name: s for s in servers.values() if s.enabled})
            continue
        if name not in servers:
            known = ", ".join(servers) or "none configured"
            raise UsageError(
                f"no MCP server named '{name}' (servers: {known})",
                hint="add an [mcp.NAME] table to the config file, or give --mcp-config FILE",
            )
        picked[name] = servers[name]
    return list(picked.values())
