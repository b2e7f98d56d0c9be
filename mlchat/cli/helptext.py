"""Help text in the shape Typer's rich help renders well at any terminal width.

Every command's help is a one-line summary (the line `mlchat --help` lists it with), prose
paragraphs, and an indented `Examples:` block. Source strings are hard-wrapped for reading; Typer's
rich mode keeps single newlines after the first paragraph, so a paragraph wrapped at 100 columns in
the source would break mid-sentence on an 80-column terminal. `doc()` joins those lines and leaves
indented blocks (examples, tables) line by line. Imports only the standard library.
"""

from __future__ import annotations

import inspect


def doc(text: str) -> str:
    """`text` with each prose paragraph on one line; indented paragraphs kept as written."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out: list[str] = []
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        if any(line.startswith(" ") for line in lines):
            out.append(paragraph)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def summary(text: str | None) -> str:
    """The one-line summary of a help text: its first paragraph, as `mlchat --help` shows it."""
    first = inspect.cleandoc(text or "").split("\n\n")[0]
    return " ".join(first.split())
