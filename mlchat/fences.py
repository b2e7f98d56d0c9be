"""The fenced code blocks of a Markdown text (`fences`), found by a real CommonMark parse, for
`ask -x`, `/copy N`, `/run N` and the block numbers drawn beside rendered replies.

markdown-it-py (the parser rich's Markdown uses, so it is already installed) does what regexes
get wrong: a fence of four backticks holding one of three, a fence inside a list item or a quote
with its indentation removed (CommonMark 4.5: up to the opening fence's indent), a fence left
open by an interrupted reply (it ends with the document). Indented code blocks are not fences
and are not counted. The parser is configured as rich configures it, so the numbers shown on
screen and the numbers /copy and /run take agree. Imports markdown_it lazily (about 50 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# Info strings that name a shell: the blocks /run may run.
SHELLS = frozenset({"sh", "bash", "shell", "zsh", "fish", "ksh", "dash"})


@dataclass(frozen=True, slots=True)
class Fence:
    info: str  # the info string after the opening fence, as written
    code: str  # the block's content, without its final newline

    @property
    def language(self) -> str | None:
        word = self.info.split(maxsplit=1)[0] if self.info.strip() else ""
        return word or None

    @property
    def is_shell(self) -> bool:
        return (self.language or "").lower() in SHELLS

    def to_json(self) -> dict[str, str | None]:
        return {"language": self.language, "code": self.code}


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt().enable("strikethrough").enable("table")  # as rich.markdown does


def fences(text: str) -> list[Fence]:
    """Every fenced code block of `text`, in document order, nested ones (in lists, quotes)
    included."""
    if "```" not in text and "~~~" not in text:
        return []
    return [
        Fence(token.info.strip(), token.content.removesuffix("\n"))
        for token in _parser().parse(text)
        if token.type == "fence"
    ]
