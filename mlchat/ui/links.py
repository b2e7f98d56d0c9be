"""Links in Markdown replies show where they go. A model (or a page it read) can write
`[https://docs.python.org](http://evil.example)`: rich shows only the text, so the reader trusts a
target they never saw. Here every link whose text is not its target is drawn as the text followed
by the target, dimmed: `https://docs.python.org (http://evil.example)`; an image as `🌆 alt (src)`.
On a terminal known to support OSC 8 hyperlinks the text is also a hyperlink; elsewhere no OSC 8
sequence is written and the URL itself is what the reader sees.

rich's Markdown has no hook for this, so `LinkMarkdown` rewrites the token stream it walks
(`_flatten_tokens`): the target becomes a text token inside an inline style of our own, and
without OSC 8 the link tokens become a plain style. Control characters never reach a target:
the text is escaped before it is parsed (ui/blocks.py), and markdown-it percent-encodes URLs.
Imports rich and markdown-it (rich's parser) lazily, in `markdown()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from rich.markdown import Markdown

TARGET = "mlchat_target"  # inline style of a link's target, after its text
LINK = "mlchat_link"  # a link's text where no OSC 8 hyperlink is written

# Terminals that draw OSC 8 hyperlinks (and do not print the sequence as text).
_PROGRAMS = {"iTerm.app", "WezTerm", "vscode", "ghostty", "Hyper", "Tabby", "rio"}
_TERMS = ("xterm-kitty", "xterm-ghostty", "foot", "wezterm", "contour", "rio")


def hyperlinks_supported(env: Mapping[str, str]) -> bool:
    """Whether the terminal described by `env` is known to support OSC 8 hyperlinks. Unknown
    terminals (and tmux or screen, which need configuring) are assumed not to: their readers see
    the URL itself. FORCE_HYPERLINK=1 / 0 overrides, as in the supports-hyperlinks convention."""
    forced = env.get("FORCE_HYPERLINK")
    if forced is not None and forced.strip():
        return forced.strip() not in ("0", "false", "no")
    term = env.get("TERM", "")
    if term.startswith(("screen", "tmux")) or env.get("TMUX"):
        return False
    if env.get("TERM_PROGRAM", "") in _PROGRAMS or term.startswith(_TERMS):
        return True
    if env.get("KITTY_WINDOW_ID") or env.get("WT_SESSION") or env.get("KONSOLE_VERSION"):
        return True
    vte = env.get("VTE_VERSION", "")
    return vte.isdigit() and int(vte) >= 5000


def same_target(text: str, href: str) -> bool:
    """Whether a link's text already says where it goes (an autolink, `[x.org/a](x.org/a/)`)."""
    a, b = text.strip().rstrip("/"), href.strip().rstrip("/")
    return a == b or b == "mailto:" + a


def markdown(
    text: str, *, code_theme: str, hyperlinks: bool, first_fence: int | None = None
) -> Markdown:
    """rich Markdown of `text` whose links show their targets (see the module). With
    `first_fence`, each fenced code block shows its number, counting from that one, at the
    right end of its top line (as the streamed ones do: ui/code.py)."""
    from markdown_it.token import Token
    from rich.markdown import Markdown

    class LinkMarkdown(Markdown):
        inlines = Markdown.inlines | {TARGET, LINK}
        elements: ClassVar[dict[str, type[Any]]] = {
            **Markdown.elements,
            "table_open": _wrapping_table_class(),
            **({"fence": _numbered_fence_class()} if first_fence is not None else {}),
        }
        next_fence = first_fence or 1

        def _flatten_tokens(self, tokens: Iterable[Token]) -> Iterable[Token]:
            # Not super()'s: it recurses through this method, which would rewrite twice.
            return _rewrite(_flat(_images(tokens)), hyperlinks, Token)

    return LinkMarkdown(text, code_theme=code_theme, hyperlinks=True)


def _wrapping_table_class() -> type[Any]:
    """rich's Markdown table, drawn as it draws it, except that a cell too wide for its column
    on a narrow terminal wraps (a word longer than the column is folded onto the next line)
    instead of being cut to `std::sort…`."""
    from rich import box
    from rich.markdown import TableElement
    from rich.table import Table

    class WrappingTable(TableElement):
        def __rich_console__(self, console: Any, options: Any) -> Any:
            table = Table(
                box=box.SIMPLE,
                pad_edge=False,
                style="markdown.table.border",
                show_edge=True,
                collapse_padding=True,
            )
            if self.header is not None and self.header.row is not None:
                for column in self.header.row.cells:
                    heading = column.content.copy()
                    heading.stylize("markdown.table.header")
                    table.add_column(heading, overflow="fold")
            if self.body is not None:
                for row in self.body.rows:
                    table.add_row(*[element.content for element in row.cells])
            yield table

    return WrappingTable


def _numbered_fence_class() -> type[Any]:
    """rich's CodeBlock drawn as it draws it (Syntax, padding 1), its number on the top line."""
    from rich.markdown import CodeBlock
    from rich.segment import Segment
    from rich.syntax import Syntax

    from mlchat.ui.code import label_of, pad_line

    class NumberedFence(CodeBlock):
        number = 0

        @classmethod
        def create(cls, markdown: Any, token: Any) -> CodeBlock:
            block = super().create(markdown, token)
            assert isinstance(block, NumberedFence)
            block.number = markdown.next_fence
            markdown.next_fence += 1
            return block

        def __rich_console__(self, console: Any, options: Any) -> Any:
            code = str(self.text).rstrip()
            syntax = Syntax(code, self.lexer_name, theme=self.theme, word_wrap=True, padding=(0, 1))
            background = syntax.get_theme(self.theme).get_background_style()
            width = options.max_width
            yield from pad_line(width, background, label_of(self.number))
            yield Segment.line()
            yield syntax
            yield from pad_line(width, background)
            yield Segment.line()

    return NumberedFence


def theme_styles() -> dict[str, str]:
    """The styles of our two inline tags, for the console's theme."""
    return {f"markdown.{TARGET}": "dim", f"markdown.{LINK}": "underline blue"}


def _flat(tokens: Iterable[Any]) -> Iterable[Any]:
    """rich's `Markdown._flatten_tokens`: children in place of their parent, except in a fence
    or an image."""
    for token in tokens:
        if token.children and not (token.tag == "img" or token.type == "fence"):
            yield from _flat(token.children)
        else:
            yield token


def _images(tokens: Iterable[Any]) -> Iterable[Any]:
    """An image becomes `🌆 ` and a link to its source with its alt text, so its source shows
    like any link's (rich would draw the alt text alone)."""
    from markdown_it.token import Token

    for token in tokens:
        if token.children and token.type != "fence":
            token.children = list(_images(token.children))
        if token.type == "image":
            src = str(token.attrs.get("src", ""))
            alt = "".join(c.content for c in token.children or []) or src
            yield Token("text", "", 0, content="🌆 ")
            yield Token("link_open", "a", 1, attrs={"href": src})
            yield Token("text", "", 0, content=alt)
            yield Token("link_close", "a", -1)
        else:
            yield token


def _rewrite(tokens: Iterable[Any], hyperlinks: bool, token_type: Any) -> Iterable[Any]:
    href: str | None = None
    text: list[str] = []
    for token in tokens:
        if token.type == "link_open":
            href, text = str(token.attrs.get("href", "")), []
            yield token if hyperlinks else token_type(f"{LINK}_open", LINK, 1)
        elif token.type == "link_close" and href is not None:
            yield token if hyperlinks else token_type(f"{LINK}_close", LINK, -1)
            if not same_target("".join(text), href):
                yield token_type(f"{TARGET}_open", TARGET, 1)
                yield token_type("text", "", 0, content=f" ({href})")
                yield token_type(f"{TARGET}_close", TARGET, -1)
            href = None
        else:
            if href is not None and token.type in ("text", "code_inline"):
                text.append(token.content)
            yield token
