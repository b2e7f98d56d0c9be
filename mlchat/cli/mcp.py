"""MCP on the command line: the `--mcp` and `--mcp-config` options of `ask` and `chat`, the
servers of one run (started on first need, stopped however the command ends), and the
`mlchat mcp list | tools | call` commands for checking a configuration by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat import signals
from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError
from mlchat.runtime import Runtime
from mlchat.text import json_text

if TYPE_CHECKING:
    from mlchat.mcp_config import ServerConfig
    from mlchat.mcp_tools import McpTools, Status
    from mlchat.toolloop import ToolSession, ToolSource

PANEL = "Structured output and tools"

McpOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp",
        help="Use this MCP server's tools (a \\[mcp.NAME] table of the config file; repeatable; "
        "'all').",
        rich_help_panel=PANEL,
        metavar="NAME",
        show_default=False,
    ),
]
McpConfigOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--mcp-config",
        help='JSON file of MCP servers ({"mcpServers": {...}}); alone, uses all of its servers.',
        rich_help_panel=PANEL,
        metavar="FILE",
        show_default=False,
    ),
]


def configured(
    rt: Runtime, file: dict[str, Any], json_files: Sequence[Path]
) -> dict[str, ServerConfig]:
    from mlchat import config, mcp_config

    return mcp_config.load(file, json_files, str(config.config_path()))


def tool_source(
    rt: Runtime,
    file: dict[str, Any],
    names: Sequence[str] | None,
    json_files: Sequence[Path] | None,
    *,
    reserved: frozenset[str] = frozenset(),
) -> McpTools | None:
    """The MCP servers chosen for this run, not yet started; None without --mcp/--mcp-config."""
    if not names and not json_files:
        return None
    from mlchat import config, mcp_config
    from mlchat.mcp_tools import McpTools, require_sdk

    servers = configured(rt, file, json_files or ())
    chosen = mcp_config.select(servers, names or (), json_files or ())
    if not chosen:
        raise UsageError("--mcp chose no server (every configured one has enabled = false)")
    require_sdk()  # before anything is sent: one line saying what to install
    from mlchat.text import escape_controls

    return McpTools(
        chosen,
        env=rt.env,
        log_dir=config.state_dir() / "mcp",
        note=lambda text: rt.note(rt.scrub(escape_controls(text))),  # errors come from servers
        reserved=reserved,
    )


def sources(source: McpTools | None) -> tuple[ToolSource, ...]:
    return (source,) if source is not None else ()


@contextmanager
def running(
    source: McpTools | None, session: ToolSession | None = None
) -> Iterator[McpTools | None]:
    """Stop every server when the block ends, however it ends (SIGTERM arrives as an interrupt
    inside `signals.interrupts()`, so this `finally` runs for it too). The tools file's names
    win a clash with a server's."""
    if source is not None and session is not None:
        source.reserved = frozenset(session.tools)
    try:
        yield source
    finally:
        if source is not None:
            source.close()


def check_approvals(rt: Runtime, source: McpTools | None, yes: bool) -> None:
    """Nobody can approve a call without a terminal: then --yes, or trust for every server."""
    if source is None or yes or (rt.stdin_tty and rt.stderr_tty):
        return
    untrusted = [s.config.name for s in source.status.values() if s.config.trust is False]
    if untrusted:
        raise UsageError(
            f"--mcp {untrusted[0]} needs --yes when not on a terminal "
            "(nobody can approve the calls)",
            hint=f"add --yes, or trust = true (or a list of tools) in [mcp.{untrusted[0]}]",
        )


# -- mlchat mcp ... ---------------------------------------------------------------------------

app = typer.Typer(
    help=doc(
        """Inspect and try the MCP tool servers of the config file.

        Servers are [mcp.NAME] tables of config.toml, or the JSON given with --mcp-config;
        `ask` and `chat` use them with --mcp NAME (or --mcp all).

        Examples:

          mlchat mcp list
          mlchat mcp tools time
          mlchat mcp call time get_current_time '{"timezone": "Europe/Paris"}'
        """
    ),
    no_args_is_help=True,
)


def _source_for(rt: Runtime, json_files: Sequence[Path] | None, only: str | None) -> McpTools:
    from mlchat import config
    from mlchat.mcp_tools import McpTools

    _, file = common.load_config(rt, using=True)  # servers start: a planted one must not
    servers = configured(rt, file, json_files or ())
    if only is not None:
        if only not in servers:
            known = ", ".join(servers) or "none configured"
            raise UsageError(f"no MCP server named '{only}' (servers: {known})")
        chosen = [servers[only]]
    else:
        chosen = list(servers.values())
    # The commands report a failure themselves (a row of `list`, the error of `tools`/`call`).
    source = McpTools(chosen, env=rt.env, log_dir=config.state_dir() / "mcp", note=lambda _t: None)
    if only is None:
        for status in source.status.values():
            if not status.config.enabled:
                status.state = "disabled"
    return source


def status_lines(rt: Runtime, statuses: Sequence[Status]) -> list[str]:
    from mlchat.mcp_tools import status_lines as lines

    return [rt.scrub(line) for line in lines(statuses)]


def _one_line(text: str) -> str:
    from mlchat.text import escape_controls

    return escape_controls(" ".join(text.split()))


@app.command(
    name="list",
    help=doc(
        """List the configured servers: transport, state and tool count.

        Starts every enabled server (in parallel) to count its tools, then stops them. One line
        per server: name, transport, state (running, failed, disabled), tools, and the command,
        URL or what failed. --json: a JSON array.

        Examples:

          mlchat mcp list
          mlchat mcp list --json | jq -r '.[] | select(.state == "failed") | .name'
        """
    ),
)
def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    mcp_config: McpConfigOpt = None,
) -> None:
    from mlchat.turn import stdout_writes

    rt = common.runtime(ctx)
    with boundary(rt), signals.interrupts():
        source = _source_for(rt, mcp_config, None)
        with running(source):
            if any(s.state == "not started" for s in source.status.values()):
                source.start()
            statuses = list(source.status.values())
            with stdout_writes():
                if as_json:
                    rt.out.write(json.dumps([s.row() for s in statuses], indent=2) + "\n")
                elif not statuses:
                    rt.note("mlchat: no MCP servers configured (add [mcp.NAME] to the config file)")
                else:
                    rt.out.write("".join(line + "\n" for line in status_lines(rt, statuses)))
                rt.out.flush()


@app.command(
    name="tools",
    help=doc(
        """Show each tool of one server: name, description and argument schema.

        The model sees them as SERVER__tool. --json: a JSON array of name, description and
        input_schema.

        Examples:

          mlchat mcp tools time
          mlchat mcp tools time --json | jq -r '.[].name'
        """
    ),
)
def tools_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The server.", metavar="NAME")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    mcp_config: McpConfigOpt = None,
) -> None:
    from mlchat.errors import ConfigError
    from mlchat.turn import stdout_writes

    rt = common.runtime(ctx)
    with boundary(rt), signals.interrupts():
        source = _source_for(rt, mcp_config, name)
        with running(source):
            source.start()
            status = source.status[name]
            if status.state != "running":
                raise ConfigError(f"MCP server {name} {status.error or 'is not running'}")
            with stdout_writes():
                if as_json:
                    data = [
                        {"name": t.name, "description": t.description, "input_schema": t.schema}
                        for t in status.tools
                    ]
                    rt.out.write(json_text(data, indent=2) + "\n")
                else:
                    for t in status.tools:
                        schema = json.dumps(t.schema, ensure_ascii=False)
                        rt.out.write(_one_line(f"{t.name}: {t.description}") + "\n")
                        rt.out.write("    arguments: " + _one_line(schema) + "\n")
                rt.out.flush()


@app.command(
    name="call",
    help=doc(
        """Call one tool by hand and print its result, to test a configuration.

        The arguments are a JSON object (default {}). A tool that reports an error prints it and
        exits 4; a server that does not start exits 3.

        Examples:

          mlchat mcp call time get_current_time '{"timezone": "Asia/Tokyo"}'
          mlchat mcp call git git_status '{"repo_path": "."}'
        """
    ),
)
def call_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The server.", metavar="NAME")],
    tool: Annotated[str, typer.Argument(help="The tool, as the server names it.", metavar="TOOL")],
    arguments: Annotated[
        str | None, typer.Argument(help="The arguments, a JSON object.", metavar="JSON")
    ] = None,
    mcp_config: McpConfigOpt = None,
) -> None:
    from mlchat.errors import ConfigError, RequestRejected
    from mlchat.mcp_tools import tool_name
    from mlchat.turn import stdout_writes
    from mlchat.types import ToolCall

    rt = common.runtime(ctx)
    with boundary(rt), signals.interrupts():
        text = arguments if arguments is not None else "{}"
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"the arguments are not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise UsageError("the arguments must be a JSON object")
        source = _source_for(rt, mcp_config, name)
        with running(source):
            source.start()
            status = source.status[name]
            if status.state != "running":
                raise ConfigError(f"MCP server {name} {status.error or 'is not running'}")
            if not any(t.name == tool for t in status.tools):
                raise UsageError(f"MCP server {name} has no tool '{tool}'")
            result = source.run(ToolCall("manual", tool_name(name, tool), text))
            with stdout_writes():
                rt.out.write(_shown(rt, result.content))
                rt.out.flush()
            if result.is_error:
                raise RequestRejected(f"the tool {tool} reported an error")


def _shown(rt: Runtime, text: str) -> str:
    """A result is data from the server: controls escaped on a terminal, exact in a pipe."""
    from mlchat.text import escape_controls

    body = escape_controls(text) if rt.stdout_tty else text
    return body if body.endswith("\n") else body + "\n"
