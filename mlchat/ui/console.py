"""The one console factory, and the rules for when output is styled: every rich Console mlchat
draws on comes from `make_console`, so NO_COLOR, FORCE_COLOR, COLUMNS (read by rich from the
environment given) and TERM behave the same for replies, reasoning, tables and styled text.
Markup and emoji codes are never interpreted: what is drawn is data (`bad[/]model` as a model id
once crashed a table). Imports rich lazily (inside the functions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

Styled = Sequence[tuple[str, str | None]]
"""Text as (text, style) pieces; style is a rich style name or None."""


def _forced(env: Mapping[str, str]) -> bool:
    return bool(env.get("FORCE_COLOR"))


def wants_plain(env: Mapping[str, str], stdout_tty: bool, plain: bool) -> bool:
    """Raw text for `--plain`, and unless FORCE_COLOR asks for colour, when stdout is not a
    terminal or is a dumb one (TERM=dumb)."""
    if plain:
        return True
    return not _forced(env) and (not stdout_tty or env.get("TERM", "") == "dumb")


def can_redraw(env: Mapping[str, str], tty: bool) -> bool:
    """Whether a live region may be drawn: a real terminal that understands cursor movement."""
    return tty and env.get("TERM", "") != "dumb"


def make_console(
    file: IO[str],
    env: Mapping[str, str],
    *,
    tty: bool,
    width: int | None = None,
    height: int | None = None,
) -> Console:
    """A console for `file`. NO_COLOR (non-empty) removes colour but keeps bold, italic, dim and
    the layout; FORCE_COLOR (non-empty) styles output that is not a terminal."""
    from rich.console import Console

    styled = tty or _forced(env)
    return Console(
        file=file,
        force_terminal=styled,
        no_color=bool(env.get("NO_COLOR")),
        color_system="auto" if styled else None,
        width=width,
        height=height,
        highlight=False,
        markup=False,
        emoji=False,
        _environ=dict(env),
    )


def print_styled(out: IO[str], env: Mapping[str, str], pieces: Styled) -> None:
    """Write styled text on a terminal, wrapped at its width. The pieces are sanitised
    (mlchat.text): control characters other than newline and tab are shown, never obeyed."""
    from rich.text import Text

    from mlchat.text import escape_controls

    text = Text()
    for piece, style in pieces:
        text.append(escape_controls(piece), style=style or "")
    make_console(out, env, tty=True).print(text, end="")
    out.flush()
