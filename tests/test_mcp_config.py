"""MCP server configuration: config.toml's [mcp.NAME] tables, the common JSON format, the choice
of servers for a run, and tool names. Pure: no server starts here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlchat import mcp_config as mc
from mlchat.errors import UsageError
from mlchat.mcp_tools import tool_name


def test_toml_stdio_and_http_servers() -> None:
    servers = mc.from_toml(
        {
            "git": {"command": "uvx mcp-server-git --repository '/tmp/a repo'", "trust": True},
            "time": {"command": ["uvx", "mcp-server-time"], "args": ["--local-timezone", "UTC"]},
            "web": {
                "url": "https://example.test/mcp",
                "headers": {"Authorization": "Bearer ${TOKEN}"},
                "trust": ["search"],
                "enabled": False,
                "timeout": 5,
            },
        }
    )
    git, time, web = servers["git"], servers["time"], servers["web"]
    assert git.command == ("uvx", "mcp-server-git", "--repository", "/tmp/a repo")
    assert git.transport == "stdio" and git.trust is True and git.trusts("anything")
    assert time.command == ("uvx", "mcp-server-time", "--local-timezone", "UTC")
    assert time.trust is False and not time.trusts("get_current_time")
    assert web.transport == "http" and web.url == "https://example.test/mcp"
    assert web.headers == {"Authorization": "Bearer ${TOKEN}"}  # resolved only at start
    assert web.trusts("search") and not web.trusts("fetch")
    assert web.enabled is False and web.timeout == 5.0
    assert web.startup_timeout == mc.DEFAULT_STARTUP_TIMEOUT


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"x": {}}, "needs either command"),
        ({"x": {"command": "a", "url": "http://h"}}, "needs either command"),
        ({"x": {"command": []}}, "non-empty list"),
        ({"x": {"command": "a 'b"}}, "does not parse"),
        ({"x": {"url": "ftp://h"}}, "http:// or https://"),
        ({"x": {"url": "http://h", "env": {}}}, "env is for stdio servers"),
        ({"x": {"command": "a", "headers": {}}}, "headers are for HTTP"),
        ({"x": {"command": "a", "trust": "yes"}}, "trust must be"),
        ({"x": {"command": "a", "timeout": 0}}, "timeout must be"),
        ({"x": {"command": "a", "startup_timeout": True}}, "startup_timeout must be"),
        ({"x": {"command": "a", "env": {"A": 1}}}, "env must be a table of strings"),
        ({"x": {"command": "a", "comand": "b"}}, "unknown key 'comand'"),
        ({"a.b": {"command": "a"}}, "a server name must be"),
        ({"a__b": {"command": "a"}}, "a server name must be"),
        ({"all": {"command": "a"}}, "a server name must be"),
        ({"x": "a"}, "must be a table"),
    ],
)
def test_toml_mistakes_are_one_line(table: dict[str, object], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        mc.from_toml(table, "config.toml")
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_json_format_of_other_clients(tmp_path: Path) -> None:
    path = tmp_path / "servers.json"
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "fs": {
                        "command": "/opt/My Tools/server",  # one executable: never split
                        "args": ["--root", "/tmp"],
                        "env": {"LEVEL": "debug"},
                        "alwaysAllow": ["read_file"],
                    },
                    "remote": {"type": "http", "url": "http://127.0.0.1:9/mcp", "disabled": True},
                }
            }
        )
    )
    servers = mc.from_json(path)
    assert servers["fs"].command == ("/opt/My Tools/server", "--root", "/tmp")
    assert servers["fs"].env == {"LEVEL": "debug"}
    assert servers["fs"].trusts("read_file") and not servers["fs"].trusts("write_file")
    assert servers["remote"].transport == "http" and servers["remote"].enabled is False
    assert servers["fs"].source == str(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "is not valid JSON"),
        ("[]", 'no "mcpServers"'),
        ('{"mcpServers": {"s": {"type": "sse", "url": "http://h"}}}', "old SSE transport"),
    ],
)
def test_json_mistakes(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        mc.from_json(path)
    assert fragment in info.value.message


def test_select_rules(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"mcpServers": {"j": {"command": "j"}}}))
    servers = mc.load({"mcp": {"a": {"command": "a"}, "off": {"command": "o", "enabled": False}}})
    servers.update(mc.from_json(path))

    def names(chosen: list[mc.ServerConfig]) -> list[str]:
        return [s.name for s in chosen]

    assert names(mc.select(servers, [])) == []  # none by default
    assert names(mc.select(servers, ["all"])) == ["a", "j"]  # enabled ones
    assert names(mc.select(servers, ["off", "a", "off"])) == ["off", "a"]  # named: used
    assert names(mc.select(servers, [], [path])) == ["j"]  # --mcp-config alone: its servers
    with pytest.raises(UsageError, match="no MCP server named 'nope'"):
        mc.select(servers, ["nope"])


def test_variables_are_expanded_only_at_start() -> None:
    env = {"TOKEN": "s3cret"}
    assert mc.expand("Bearer ${TOKEN}", env, "h") == "Bearer s3cret"
    assert mc.expand("${env:TOKEN}/$TOKEN", env, "h") == "s3cret/$TOKEN"
    with pytest.raises(UsageError, match=r"names \$\{MISSING\}, which is not set"):
        mc.expand("${MISSING}", env, "mcp.web.headers.Authorization")


def test_tool_names_fit_both_dialects() -> None:
    assert tool_name("git", "git_status") == "git__git_status"
    assert tool_name("fs", "read.file/v2") == "fs__read_file_v2"
    long = tool_name("server", "x" * 80)
    assert len(long) == 64 and long.startswith("server__xxx")
    assert long != tool_name("server", "x" * 81)
