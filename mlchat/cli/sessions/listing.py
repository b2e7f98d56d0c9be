"""`mlchat sessions list`, and `mlchat sessions` alone: the saved conversations, most recently
updated first (a table on a terminal, tab-separated lines when piped, --json for programs).
"""

from __future__ import annotations

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
    summary_json,
    utc_time,
)
from mlchat.runtime import Runtime


@app.callback()
def sessions(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        rt = common.runtime(ctx)
        with boundary(rt):
            _list(rt, 20, as_json=False)


@app.command(
    "list",
    help=doc(
        """List saved conversations, most recently updated first.

        On a terminal: a table. Piped: one tab-separated line each (id, name or -, updated time
        in UTC, model, message count, first words). --json: a JSON array.

        Examples:

          mlchat sessions list
          mlchat sessions list -n 0 --json | jq -r '.[].id'
          mlchat sessions list -n 5 | cut -f1,6
        """
    ),
)
def list_(ctx: typer.Context, limit: LimitOpt = 20, as_json: JsonOpt = False) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        _list(rt, limit, as_json=as_json)


def _list(rt: Runtime, limit: int, *, as_json: bool) -> None:
    with read_store() as store:
        items = store.conversations(limit or None) if store is not None else []
    if as_json:
        json_out(rt, [summary_json(s) for s in items])
        return
    if not items:
        if rt.stdout_tty:
            rt.note("no saved conversations yet")
        return
    if rt.stdout_tty:
        from mlchat.ui.table import Column, print_table

        rows = [
            [s.id, s.name or "", local_time(s.updated), s.model, str(s.messages), s.title]
            for s in items
        ]
        columns = [
            Column("ID", style="cyan"),
            Column("NAME"),
            Column("UPDATED"),
            Column("MODEL"),
            Column("MSGS", right=True),
            Column("FIRST WORDS", fill=True),
        ]
        print_table(rt.out, rt.env, columns, rows, rule=False)
        return
    for s in items:
        fields = [s.id, s.name or "-", utc_time(s.updated), s.model, str(s.messages), s.title]
        rt.out.write("\t".join(one_line(f) for f in fields) + "\n")
    rt.out.flush()
