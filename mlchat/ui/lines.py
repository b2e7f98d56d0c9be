"""Rendering to lines: what a rich renderable draws at the console's width, as lists of
segments without the trailing blanks rich pads with; and one Markdown block rendered so. The
streaming renderer commits and live-draws these lines. Imports rich lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.segment import Segment

Line = list["Segment"]

CODE_THEME = "monokai"
"""rich Markdown's own code theme, so streamed code looks exactly like a one-shot render."""


def render_lines(console: Console, renderable: RenderableType) -> list[Line]:
    """`renderable` as the console would print it, cut into lines (without newlines), less the
    invisible spaces rich pads lines with: copied from the terminal, lines have no trailing
    blanks, and a narrower terminal re-wraps fewer of them."""
    from rich.segment import Segment

    return [
        trim(line)
        for line in Segment.split_and_crop_lines(
            console.render(renderable, console.options),
            console.width,
            pad=False,
            include_new_lines=False,
        )
    ]


_SHOWS_BLANKS = ("bgcolor", "underline", "underline2", "reverse", "strike", "overline")


def trim(line: Line) -> Line:
    while line:
        text, style, control = line[-1]
        if control or (style is not None and any(getattr(style, a) for a in _SHOWS_BLANKS)):
            break
        kept = text.rstrip(" ")
        if kept:
            line[-1] = line[-1]._replace(text=kept)
            break
        line.pop()
    return line


def markdown_lines(
    console: Console, text: str, *, hyperlinks: bool = False, first_fence: int | None = None
) -> tuple[list[Line], bool, int]:
    """A block rendered as rich Markdown, whether a blank line must separate it from the next
    one (rich puts none after a horizontal rule), and how many fenced code blocks it holds (with
    `first_fence`, drawn numbered from that one; else 0). Links show their targets
    (ui/links.py); OSC 8 hyperlinks are written only when `hyperlinks`."""
    from rich.theme import Theme

    from mlchat.ui.links import markdown, theme_styles

    md = markdown(text, code_theme=CODE_THEME, hyperlinks=hyperlinks, first_fence=first_fence)
    if not md.parsed:
        return [], False, 0
    with console.use_theme(Theme(theme_styles())):
        lines = render_lines(console, md)
    fences = sum(1 for token in md.parsed if token.type == "fence") if first_fence else 0
    return lines, md.parsed[-1].type != "hr", fences
