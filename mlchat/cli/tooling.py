"""Tool calling on the command line, shared by `ask` and `chat`: the options, loading the tools
file and asking the user to approve each call (calls and results are shown by
mlchat/ui/toolcalls.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlchat.errors import UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.toolloop import Approval, ToolSession, ToolSource
    from mlchat.types import ToolCall

PANEL = "Structured output and tools"

ToolsOpt = Annotated[
    Path | None,
    typer.Option(
        "--tools",
        help="TOML or JSON file of tools the model may call (each runs a local command).",
        rich_help_panel=PANEL,
        metavar="FILE",
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Run tool calls without asking.", rich_help_panel=PANEL),
]
MaxRoundsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-rounds",
        help="Most rounds of tool calls before giving up \\[default: 8].",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]


def session(
    rt: Runtime,
    path: Path | None,
    yes: bool,
    max_rounds: int | None,
    sources: Sequence[ToolSource] = (),
) -> ToolSession | None:
    """The tools of a run: the tools file's, and those of `sources` (MCP servers)."""
    if path is None and not sources:
        return None
    from mlchat import tools as tools_mod
    from mlchat.toolloop import DEFAULT_MAX_ROUNDS, ToolSession

    if max_rounds is None:
        max_rounds = DEFAULT_MAX_ROUNDS
    if max_rounds < 1:
        raise UsageError(f"--max-rounds must be at least 1, got {max_rounds}")
    if path is not None and not yes and not (rt.stdin_tty and rt.stderr_tty):
        raise UsageError(
            "--tools needs --yes when not on a terminal (nobody can approve the calls)",
            hint="review the tools file, then add --yes",
        )
    local = tools_mod.load(path) if path is not None else {}
    return ToolSession(local, approver(rt, yes), max_rounds, dict(rt.env), rt.secrets, sources)


def approver(rt: Runtime, yes: bool) -> Callable[[ToolCall], Approval]:
    """The question on a terminal (ui/toolcalls.py); --yes approves everything."""
    from mlchat.ui.toolcalls import ask_approval

    def ask_user(call: ToolCall) -> Approval:
        return "yes" if yes else ask_approval(rt, call)

    return ask_user
