"""Tables on a terminal (the model list): the second home of rich, for tables only.

Imports rich lazily and `render.make_console`, so NO_COLOR, FORCE_COLOR, COLUMNS and TERM behave
exactly as they do for replies. Only used when stdout is a terminal; pipes get plain lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from mlchat.render import make_console

GAP = 3  # columns between two columns: padding on each side and the (blank) rule
FLEX_MIN = 8  # the narrowest a wrapping or shrinking column is allowed to get


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    # Never wrapped or cut: ids the user copies, dates. Other columns give way on a narrow
    # terminal: `shrink` ones are cut with an ellipsis, the rest wrap.
    fixed: bool = False
    shrink: bool = False
    style: str | None = None
    # When even that does not fit, columns with the highest `drop` go first; 0 never goes.
    drop: int = 0


def print_table(
    out: IO[str],
    env: Mapping[str, str],
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    styles: Sequence[str | None] | None = None,
    caption: str | None = None,
    width: int | None = None,
) -> None:
    """Draw `rows` under `columns`; `styles` gives each row a style (or None)."""
    from rich import box
    from rich.table import Table

    console = make_console(out, env, tty=True, width=width)
    widest = [max([len(c.header), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    shown = list(range(len(columns)))

    def needed() -> int:
        parts = [widest[i] if columns[i].fixed else min(widest[i], FLEX_MIN) for i in shown]
        return sum(parts) + GAP * (len(parts) - 1)

    while needed() > console.width:
        droppable = [i for i in shown if columns[i].drop]
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: columns[i].drop))

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        header_style="bold",
        caption=caption,
        caption_justify="left",
        pad_edge=False,
        highlight=False,
    )
    for i in shown:
        c = columns[i]
        if c.fixed:
            # rich squeezes even no_wrap columns on a narrow terminal; a minimum width stops it.
            table.add_column(
                c.header, no_wrap=True, overflow="ignore", style=c.style, min_width=widest[i]
            )
        elif c.shrink:
            table.add_column(c.header, no_wrap=True, overflow="ellipsis", style=c.style)
        else:
            table.add_column(c.header, overflow="fold", style=c.style)
    for n, row in enumerate(rows):
        table.add_row(*(row[i] for i in shown), style=styles[n] if styles else None)
    console.print(table, soft_wrap=False)
    out.flush()
