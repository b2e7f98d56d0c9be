"""`mlchat sessions rename`: name a conversation (names are checked by mlchat.store)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.cli.sessions.base import RefArg, app, read_store, require


@app.command(
    help=doc(
        """Name a conversation; use the name wherever an id goes.

        Names are unique (ASCII case ignored), at most 64 characters, and cannot look like an id.

        Examples:

          mlchat sessions rename a1b2c3d4 rust-notes
          mlchat sessions show rust-notes
        """
    )
)
def rename(
    ctx: typer.Context,
    ref: RefArg,
    name: Annotated[str, typer.Argument(help="The new name.", metavar="NAME", show_default=False)],
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt), read_store() as opened:
        store, cid = require(opened, ref)
        store.rename(cid, name)
    if rt.stderr_tty:
        rt.note(f"mlchat: conversation {cid[:8]} is now named {name}")
