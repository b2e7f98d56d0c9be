"""A streamed fenced code block, highlighted batch by batch (see `CodeBlock`). Imports rich and
pygments (which rich brings for its Syntax) lazily.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from mlchat.ui.lines import CODE_THEME, Line, render_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.style import Style
    from rich.syntax import SyntaxTheme


@cache
def _replay_class() -> type[Any]:
    """A pygments Lexer that hands rich's Syntax tokens lexed in advance (by `CodeBlock`)."""
    from pygments.lexer import Lexer  # type: ignore[import-untyped]

    class Replay(Lexer):  # type: ignore[misc]
        def __init__(self, tokens: list[tuple[Any, str]]) -> None:
            super().__init__(stripnl=False, ensurenl=False)
            self.tokens = tokens

        def get_tokens(self, text: str, unfiltered: bool = False) -> Iterable[tuple[Any, str]]:
            return iter(self.tokens)

    return Replay


def label_of(number: int) -> str:
    """How a code block's number is shown: what /copy N and /run N take."""
    return f"[{number}]"


def pad_line(width: int, background: Style, label: str = "") -> Line:
    """A line of `width` cells of code background, with `label` dimmed at its right end (one
    cell from the edge, as the code is one cell from the left); no label where it cannot fit."""
    from rich.segment import Segment
    from rich.style import Style

    if not label or len(label) + 2 > width:
        return [Segment(" " * width, background)]
    rest = width - len(label) - 1
    return [
        Segment(" " * rest, background),
        Segment(label, background + Style(dim=True)),
        Segment(" ", background),
    ]


class CodeBlock:
    """One fenced code block, rendered batch by batch of finished lines exactly as rich's Markdown
    renders a whole code block (Syntax, word-wrapped, one cell of padding, the Markdown theme),
    each line coloured in the context of the lines before it, at a cost bounded per batch: the
    last ~2 KB of the block (whole lines) is lexed again with the new lines through pygments'
    public `get_tokens`, and only the new lines' tokens are kept. So a string, docstring or comment
    opened up to a screenful or two earlier still colours as one.

    What no streaming renderer can match is a token a one-shot render recognises only thanks to
    lines that have not arrived yet (JavaScript's one-regex `/* ... */` comment, while still open);
    such a line is coloured as what it is so far. A construct open for more than the window is
    coloured from the window's start.
    """

    _WINDOW = 2048  # chars of earlier lines lexed again with each batch

    def __init__(self, console: Console, info: str) -> None:
        from rich.syntax import Syntax

        self._console = console
        self._theme: SyntaxTheme = Syntax.get_theme(CODE_THEME)
        # Exactly rich's CodeBlock: the info string's first word names the lexer; unknown: text.
        syntax = Syntax("", info.partition(" ")[0] or "text", tab_size=4)
        self._lexer: Any = syntax.lexer or syntax.default_lexer
        self._before = ""  # committed lines lexed again with the next ones
        self.lines = 0

    def pad(self, label: str = "") -> Line:
        """The blank line of background above and below the code; above it, the block's number
        (`label`) at its right end, dimmed."""
        return pad_line(self._console.width, self._theme.get_background_style(), label)

    def render(self, lines: list[str], *, commit: bool = True) -> list[Line]:
        """Finished lines (`commit`), or a preview of the unfinished ones that changes nothing."""
        lines = [line.expandtabs(4) for line in lines]
        text = "".join(line + "\n" for line in lines)
        before = self._before
        base = len(before)
        found, pos = [], 0
        for ttype, value in self._lexer.get_tokens(before + text):
            found.append((pos, ttype, value))
            pos += len(value)
        tokens = [
            (ttype, value[base - pos :] if pos < base else value)
            for pos, ttype, value in found
            if pos + len(value) > base
        ]
        if commit:
            self.lines += len(lines)
            kept = (before + text)[-self._WINDOW :]
            self._before = kept[kept.find("\n") + 1 :] if len(kept) == self._WINDOW else kept
        return self._syntax_lines("\n".join(lines), tokens)

    def _syntax_lines(self, code: str, tokens: list[tuple[Any, str]]) -> list[Line]:
        from rich.syntax import Syntax

        syntax = Syntax(
            code, _replay_class()(tokens), theme=self._theme, word_wrap=True, padding=(0, 1)
        )
        return render_lines(self._console, syntax)
