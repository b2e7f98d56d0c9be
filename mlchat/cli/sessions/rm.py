"""`mlchat sessions rm`: delete saved conversations, every name checked first; asks on a
terminal (type-ahead discarded), refuses without one unless --yes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.cli.sessions.base import app, read_store
from mlchat.errors import UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.store import Store


@app.command(
    help=doc(
        """Delete saved conversations.

        Every name is checked before anything is deleted. On a terminal it asks first; without a
        terminal it refuses unless given --yes.

        Examples:

          mlchat sessions rm a1b2
          mlchat sessions rm rust-notes trip-plans --yes
        """
    )
)
def rm(
    ctx: typer.Context,
    refs: Annotated[
        list[str],
        typer.Argument(
            help="Ids, unique id prefixes, or names.", metavar="ID...", show_default=False
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt), read_store() as opened:
        store = opened
        if store is None:
            raise UsageError("no saved conversations yet")
        # Every name is checked before anything is deleted.
        ids = list(dict.fromkeys(store.resolve(ref) for ref in refs))
        if not yes:
            if not rt.stdin_tty:
                raise UsageError(
                    "refusing to delete without confirmation when stdin is not a terminal",
                    hint="add --yes",
                )
            if not _confirm(rt, store, ids):
                rt.note("nothing deleted")
                return
        for cid in ids:
            store.delete(cid)
            rt.note(f"deleted {cid}")


def _confirm(rt: Runtime, store: Store, ids: list[str]) -> bool:
    from mlchat.text import escape_controls as printable

    for cid in ids:
        summary, _ = store.record(cid)
        label = f" {printable(summary.name)!r}" if summary.name else ""
        words = f": {printable(summary.title[:50])}" if summary.title else ""
        rt.err.write(f"  {cid}{label} ({summary.messages} messages){words}\n")
    what = "this conversation" if len(ids) == 1 else f"these {len(ids)} conversations"
    rt.discard_typeahead()  # a "y" typed before the question was shown must not delete
    rt.err.write(f"Delete {what}? [y/N] ")
    rt.err.flush()
    assert rt.stdin is not None
    raw = rt.stdin.readline()
    answer = raw.decode(errors="replace")
    if not answer:
        rt.err.write("\n")
    return answer.strip().lower() in ("y", "yes")
