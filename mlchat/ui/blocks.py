"""Cutting a growing Markdown reply into finished pieces, for the streaming renderer. Pure: the
standard library and mlchat.text only (no rich).

A block ends at a blank line outside a code fence, or where the next item of a tight top-level
list starts; inside a fence, each finished line is a piece of its own, so code streams line by
line. What is not finished yet is the tail, which the renderer redraws until it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlchat.text import escape_controls

_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_TOP_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}([.)]))(?:[ \t]+|$)")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_CLOSE_PREFIX = re.compile(r"^ {0,3}(?:`+|~+)[ \t]*$")


def _indent(line: str) -> int:
    """Columns of leading whitespace (a tab stops every 4 columns, as in CommonMark)."""
    prefix = line[: len(line) - len(line.lstrip(" \t"))]
    return len(prefix.expandtabs(4)) if "\t" in prefix else len(prefix)


def _top_item(line: str) -> tuple[str, int] | None:
    """For the first line of a list item at the margin: the kind of list it belongs to (its bullet,
    or the delimiter after its number) and the column its content starts at."""
    m = _TOP_ITEM.match(line)
    if m is None or _RULE.match(line):
        return None
    return m[1] or line.lstrip()[0], m.end()


def _dedent(line: str, n: int) -> str:
    """Remove up to `n` leading spaces, as CommonMark does with a fence's content lines."""
    i = 0
    while i < n and i < len(line) and line[i] == " ":
        i += 1
    return line[i:]


@dataclass(slots=True)
class _Fence:
    char: str
    length: int
    indent: int
    streamed: bool

    def closed_by(self, line: str) -> bool:
        body = line.strip()
        return (
            len(body) >= self.length
            and body == self.char * len(body)
            and _indent(line) <= (3 if self.streamed else self.indent + 3)
        )


class Blocks:
    """Cuts the growing reply into finished pieces, appended to `out` as (kind, text):

    - ("md", text): a finished Markdown block (it ended at a blank line outside a fence);
    - ("item", text): finished items of a tight list, continuing the block before (an item ends
      where the next one of the same list starts), so a long list streams item by item;
    - ("open", info), ("code", line)..., ("close", ""): a top-level code fence, line by line.

    A blank line that may be followed by more of the same block (inside a list, or between lines of
    indented code) waits for the next line: an indented line continues the block. A fence inside a
    list stays part of its block. Lines are escaped (`escape_controls`) and CRLF becomes LF.
    """

    def __init__(self) -> None:
        self.out: list[tuple[str, str]] = []
        self.block: list[str] = []  # finished lines of the unfinished block
        self.has_list = False  # the block holds a list item: indented lines may continue it
        self.item: tuple[str, int] | None = None  # the list the block starts: kind, content column
        self.continues = False  # the block continues the list committed just before it
        self.blanks = 0  # blank lines after the block whose meaning the next line decides
        self.fence: _Fence | None = None
        self.held: list[str] = []  # blank lines in a streamed fence, held: trailing ones vanish
        self._parts: list[str] = []  # the unfinished last line, in pieces (joined once per line)

    def feed(self, text: str) -> None:
        if "\n" not in text:
            self._parts.append(text)
            return
        first, *rest = text.split("\n")
        self._parts.append(first)
        lines = ["".join(self._parts), *rest[:-1]]
        self._parts = [rest[-1]] if rest[-1] else []
        for line in lines:
            self._line(escape_controls(line.removesuffix("\r")))

    def finish(self) -> None:
        if self._parts:
            self._line(escape_controls("".join(self._parts).removesuffix("\r")))
            self._parts = []
        if self.fence is not None and self.fence.streamed:
            self.out.append(("close", ""))  # a fence that never closed ends with the reply
            self.fence = None
        self._commit()

    def partial(self) -> str:
        return escape_controls("".join(self._parts).removesuffix("\r"))

    def tail(self) -> tuple[Literal["md", "item", "code"], list[str]]:
        """What is not finished yet: Markdown lines, or code lines of the open streamed fence."""
        partial = self.partial()
        if self.fence is not None and self.fence.streamed:
            code = list(self.held)
            # The start of what may be the closing fence is not shown as code.
            if partial and not _CLOSE_PREFIX.match(partial):
                code.append(_dedent(partial, self.fence.indent))
            return "code", code
        lines = self.block + [""] * self.blanks
        if partial.strip():
            lines.append(partial)
        return "item" if self.continues else "md", lines

    def _line(self, line: str) -> None:
        fence = self.fence
        if fence is not None:
            if fence.closed_by(line):
                self.fence = None
                if fence.streamed:
                    self.held = []
                    self.out.append(("close", ""))
                    return
            elif fence.streamed:
                code = _dedent(line, fence.indent)
                if code.strip():
                    self.out.extend(("code", held) for held in self.held)
                    self.held = []
                    self.out.append(("code", code))
                else:
                    self.held.append(code)
                return
            self._append(line)
            return
        if not line.strip():
            if self.block:
                if self.has_list or _indent(self.block[0]) >= 4:
                    self.blanks += 1
                else:
                    self._commit()
            return
        if self.blanks:
            indent = _indent(line)
            if (self.has_list and indent > 0) or (indent >= 4 and _indent(self.block[0]) >= 4):
                self.block.extend([""] * self.blanks)
                self.blanks = 0
            else:
                self._commit()
        m = _FENCE.match(line)
        if m and (m[2][0] == "~" or "`" not in m[3]):
            indent = len(m[1].expandtabs(4))
            if indent <= 3 or self.has_list:
                # A fence at the margin is top-level whatever came before (it cannot continue a
                # list item or a quote); indented a little, it is unless a list item may hold it.
                streamed = indent <= 3 and (not self.block or indent == 0 or not self.has_list)
                self.fence = _Fence(m[2][0], len(m[2]), indent, streamed)
                if streamed:
                    self._commit()
                    self.out.append(("open", m[3].strip()))
                    return
        if self.item is not None and self.fence is None:
            item = _top_item(line)
            if item is not None and item[0] == self.item[0] and _indent(line) < self.item[1]:
                self._commit()  # the items so far are finished: the next one has started
                self.continues = True
        self._append(line)

    def _append(self, line: str) -> None:
        if not self.block:
            self.item = _top_item(line)
        self.block.append(line)
        if not self.has_list and _LIST_ITEM.match(line):
            self.has_list = True

    def _commit(self) -> None:
        if self.block:
            self.out.append(("item" if self.continues else "md", "\n".join(self.block)))
        self.block = []
        self.has_list = False
        self.item = None
        self.continues = False
        self.blanks = 0
