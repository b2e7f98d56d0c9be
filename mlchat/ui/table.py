"""The one table helper: `print_table` draws the model list and the conversation list.

Imports rich lazily and draws on `ui.console.make_console`, so NO_COLOR, FORCE_COLOR, COLUMNS and
TERM behave exactly as they do for replies, and cells are never read as markup; every control
character in a cell (even a newline or a tab) is shown escaped (mlchat.text). Only used when
stdout is a terminal; pipes get plain lines from the commands.

On a narrow terminal `fixed` columns keep their width, `shrink` ones are cut with an ellipsis,
the rest wrap, and columns with a `drop` rank go, highest first. A `fill` column instead takes
what the others leave (at least FLEX_MIN cells), and when even that does not fit the lines wrap
rather than columns vanishing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING

from mlchat.text import escape_controls
from mlchat.ui.console import make_console

if TYPE_CHECKING:
    from rich.console import Console

GAP = 3  # columns between two columns: padding on each side and the (blank) rule
FLEX_MIN = 8  # the narrowest a wrapping or shrinking column is allowed to get
FILL_MIN = 12  # the narrowest a `fill` column is allowed to get


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
    right: bool = False  # right-justified (numbers)
    # Takes the width the others leave; every other column keeps its full width.
    fill: bool = False


def print_table(
    out: IO[str],
    env: Mapping[str, str],
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    styles: Sequence[str | None] | None = None,
    caption: str | None = None,
    width: int | None = None,
    rule: bool = True,
) -> None:
    """Draw `rows` under `columns`; `styles` gives each row a style (or None); `rule` draws a
    line under the headers."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    # Cells are data (model ids, owners, conversation names from the network or the store):
    # every control character is shown, never obeyed, and a cell stays on its line.
    columns = [replace(c, header=_cell(c.header)) for c in columns]
    rows = [[_cell(cell) for cell in row] for row in rows]
    caption = _cell(caption) if caption is not None else None
    console = make_console(out, env, tty=True, width=width)
    if any(c.fill for c in columns):
        _fill(console, columns, rows, styles, cell_len)
        out.flush()
        return
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


def _fill(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    styles: Sequence[str | None] | None,
    cell_len: Callable[[str], int],
) -> None:
    """The layout with a `fill` column: no rule, two cells between columns."""
    from rich.table import Table

    widths = [
        max([cell_len(c.header), *(cell_len(row[i]) for row in rows)])
        for i, c in enumerate(columns)
    ]
    gaps = 2 * (len(columns) - 1)
    for i, c in enumerate(columns):
        if c.fill:
            others = sum(w for j, w in enumerate(widths) if j != i) + gaps
            widths[i] = min(widths[i], max(FILL_MIN, console.width - others))
    console.width = max(console.width, sum(widths) + gaps)
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for i, c in enumerate(columns):
        table.add_column(
            c.header,
            justify="right" if c.right else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[i],
            style=c.style,
        )
    for n, row in enumerate(rows):
        table.add_row(*row, style=styles[n] if styles else None)
    console.print(table)


def _cell(text: str) -> str:
    return escape_controls(text, keep="")
