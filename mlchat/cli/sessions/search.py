"""`mlchat sessions search`: every saved message matching all the words, in context (FTS5, or
LIKE where SQLite lacks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.cli.sessions.base import (
    JsonOpt,
    LimitOpt,
    app,
    json_out,
    local_time,
    one_line,
    read_store,
)
from mlchat.errors import UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.store import Hit


NO_MATCH = 1  # as grep: a script can tell "nothing found" from found (0) and errors (2 and up)


@app.command(
    help=doc(
        """Search every saved message, showing the matches in context.

        Every word must match (stemmed: borrows finds borrowing); word* matches a prefix; a term
        with a symbol or an underscore (c++, bubble_sort, std::sort) matches those exact
        characters. Piped: one tab-separated line per match (id, name, message number, role, the
        match in context). Exit 1 when nothing matches, as grep.

        Examples:

          mlchat sessions search "borrow checker"
          mlchat sessions search 'lifetime*' -n 5
          mlchat sessions search tokio --json | jq -r '.[].conversation'
        """
    )
)
def search(
    ctx: typer.Context,
    query: Annotated[
        list[str],
        typer.Argument(
            help="Words that must all appear; word* matches a prefix.",
            metavar="QUERY...",
            show_default=False,
        ),
    ],
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        text = " ".join(query)
        if not text.strip():
            raise UsageError("nothing to search for")
        with read_store() as store:
            hits = store.search(text, limit or 1_000_000) if store is not None else []
        if as_json:
            json_out(rt, [_hit_json(h) for h in hits])
        elif rt.stdout_tty:
            _search_tty(rt, hits)
        else:
            for h in hits:
                fields = [h.conversation, h.name or "-", str(h.seq), h.role, h.text]
                rt.out.write("\t".join(one_line(f) for f in fields) + "\n")
            rt.out.flush()
    if not hits:
        raise typer.Exit(NO_MATCH)


def _search_tty(rt: Runtime, hits: list[Hit]) -> None:
    if not hits:
        rt.note("no matches")
        return
    from mlchat.ui.console import print_styled

    pieces: list[tuple[str, str | None]] = []
    for h in hits:
        pieces.append((h.conversation, "bold cyan"))
        if h.name:
            pieces.append((f" {h.name}", "bold"))
        pieces.append((f" · {h.role} · {local_time(h.created)}\n", "dim"))
        pieces.append(("  ", None))
        pieces += [(text, "bold yellow" if hit else None) for text, hit in h.parts()]
        pieces.append(("\n", None))
    print_styled(rt.out, rt.env, pieces)


def _hit_json(h: Hit) -> dict[str, Any]:
    return {
        "conversation": h.conversation,
        "name": h.name,
        "seq": h.seq,
        "role": h.role,
        "created": h.created,
        "snippet": h.text,
    }
