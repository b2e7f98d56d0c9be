"""Drawing `mlchat sessions` output on a terminal: the conversations table and styled text.

Imports rich (inside functions, so the command tree never pays for it) and the standard library.
Only used when stdout is a terminal; piped output is plain text written by mlchat/cli/sessions.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

MIN_WIDE = 12
Styled = Sequence[tuple[str, str | None]]
"""Text as (text, style) pieces; style is a rich style name or None."""


def _console(out: IO[str], env: Mapping[str, str]) -> Console:
    from rich.console import Console

    no_color = bool(env.get("NO_COLOR"))
    columns = env.get("COLUMNS", "")
    return Console(
        file=out,
        force_terminal=True,
        no_color=no_color,
        color_system=None if no_color else "auto",
        width=int(columns) if columns.isdigit() and int(columns) > 0 else None,
        highlight=False,
        markup=False,
        emoji=False,
        _environ=dict(env),
    )


def table(
    out: IO[str],
    env: Mapping[str, str],
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    wide: int | None = None,
) -> None:
    """A borderless table; every column but `wide` keeps its full width, and `wide` takes what
    is left (at least MIN_WIDE cells), cut with an ellipsis."""
    from rich.cells import cell_len
    from rich.table import Table

    console = _console(out, env)
    widths = [
        max([cell_len(h), *(cell_len(row[i]) for row in rows)]) for i, h in enumerate(headers)
    ]
    gaps = 2 * (len(headers) - 1)
    if wide is not None:
        fixed = sum(w for i, w in enumerate(widths) if i != wide) + gaps
        widths[wide] = min(widths[wide], max(MIN_WIDE, console.width - fixed))
    # On a terminal too narrow even for that, lines wrap rather than columns vanishing.
    console.width = max(console.width, sum(widths) + gaps)
    t = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for i, header in enumerate(headers):
        t.add_column(
            header,
            justify="right" if i in numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[i],
            style="cyan" if i == 0 else None,
        )
    for row in rows:
        t.add_row(*row)
    console.print(t)
    out.flush()


def styled(out: IO[str], env: Mapping[str, str], pieces: Styled) -> None:
    """Write styled text, wrapped at the terminal's width."""
    from rich.text import Text

    text = Text()
    for piece, style in pieces:
        text.append(piece, style=style or "")
    console = _console(out, env)
    console.print(text, end="")
    out.flush()
