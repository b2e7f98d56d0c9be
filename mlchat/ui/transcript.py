"""A saved conversation drawn for a terminal (`sessions show`): the headers styled, each reply's
Markdown through the same streaming renderer a live reply uses, into a string that the caller
writes or hands to a pager. Control characters are shown, never obeyed (mlchat.text, and
ui/blocks.py for the Markdown). Imports rich lazily (inside the function).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from mlchat.ui.console import Styled

MARKDOWN = "markdown"
"""The style name of a piece to be drawn as Markdown, as a reply is."""


def draw(pieces: Styled, env: Mapping[str, str], width: int) -> str:
    """The pieces as a terminal would show them, `width` columns wide."""
    from rich.text import Text

    from mlchat.text import escape_controls
    from mlchat.types import TextDelta
    from mlchat.ui.console import make_console
    from mlchat.ui.markdown import MarkdownRenderer

    buf = io.StringIO()
    console = make_console(buf, env, tty=True, width=width)
    text = Text()
    for piece, style in pieces:
        if style != MARKDOWN:
            text.append(escape_controls(piece), style=style or "")
            continue
        console.print(text, end="")
        text = Text()
        renderer = MarkdownRenderer(console, None, live=False)
        renderer.feed(TextDelta(piece))
        renderer.finish()
    console.print(text, end="")
    return buf.getvalue()
