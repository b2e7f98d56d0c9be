"""`mlchat shell-integration bash|zsh|fish`: print the snippet (mlchat/integration.py) that binds
Alt-E to turn the command line into a generated command."""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc

HELP = doc(
    """Print a snippet that binds Alt-E to turn the command line into a command.

    Source it from your shell's startup file. Alt-E then sends the line you are typing to
    `mlchat cmd --print` and puts the command it answers in its place, without running it:
    Enter runs it, as any line you typed. When mlchat fails, the line stays as it was.

    Examples:

      eval "$(mlchat shell-integration bash)"      # in ~/.bashrc
      eval "$(mlchat shell-integration zsh)"       # in ~/.zshrc
      mlchat shell-integration fish | source       # in ~/.config/fish/config.fish
    """
)


def shell_integration(
    ctx: typer.Context,
    shell: Annotated[
        str,
        typer.Argument(help="The shell.", show_default=False, **o.choices("bash", "zsh", "fish")),
    ],
) -> None:
    from mlchat.errors import UsageError
    from mlchat.integration import SHELLS, SNIPPETS

    rt = common.runtime(ctx)
    with boundary(rt):
        if shell not in SHELLS:
            raise UsageError(f"no integration for '{shell}': choose bash, zsh or fish")
        rt.out.write(SNIPPETS[shell])
        rt.out.flush()
