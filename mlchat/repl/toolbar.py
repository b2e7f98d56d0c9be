"""The chat's bottom toolbar: model, dialect, temperature, tokens, what is queued, the context
used and the cost, fitted to the terminal's width without ever cutting a number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlchat.prices import usd
from mlchat.text import escape_controls

if TYPE_CHECKING:
    from mlchat.repl.loop import Repl


def toolbar(repl: Repl, width: int | None = None) -> str:
    """Model, dialect, temperature, tokens, cost, in `width` columns (the terminal's, less
    the bar's margins). Too narrow, whole items go, least important first (the /help hint,
    the dialect, the temperature, the cost, the tokens), so a number is never cut; only the
    model id, last of all, is shortened. The model id may come from the store or a server:
    sanitised (prompt_toolkit would draw a bidi override raw)."""
    c = repl.convo
    # (priority: lower goes first, text), in the order shown
    items: list[tuple[int, str]] = [(6, escape_controls(c.model, keep="")), (1, c.dialect)]
    if c.params.temperature is not None:
        items.append((2, f"temperature {c.params.temperature:g}"))
    items.append((4, f"{repl.tokens:,} tokens"))
    if repl.queued:
        from mlchat.repl.files import summary

        items.append((5, f"next: {summary(repl.queued)}"))
    size = repl.window_quietly()
    if size and repl.context_tokens is not None:
        from mlchat.context import share, short

        used = repl.context_tokens
        items.append((3, f"context {short(used)}, {share(used, size)}"))
    if repl.spent is not None:
        items.append((3, usd(repl.spent)))
    room = _room(repl) if width is None else width
    help_hint = "  │  /help"

    def line(kept: list[tuple[int, str]], hint: bool) -> str:
        return " · ".join(text for _, text in kept) + (help_hint if hint else "")

    if room <= 0 or len(line(items, True)) <= room:
        return line(items, True)
    kept = list(items)
    while len(kept) > 1 and len(line(kept, False)) > room:
        kept.remove(min(kept, key=lambda item: item[0]))
    text = line(kept, False)
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _room(repl: Repl) -> int:
    """Columns for the toolbar's text (0: unknown, no limit)."""
    import os

    try:
        return max(os.get_terminal_size(repl.rt.out.fileno()).columns - 2, 0)
    except (OSError, ValueError, AttributeError):
        return 0
