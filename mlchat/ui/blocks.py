"""Cutting a growing Markdown reply into finished pieces, for the streaming renderer. Pure: the
standard library and mlchat.text only (no rich).

A block ends at a blank line outside a code fence, or where the next item of a tight top-level
list starts; inside a fence, each finished line is a piece of its own, so code streams line by
line. What is not finished yet is the tail, which the renderer redraws until it is.

The tail is redrawn on every refresh, so it is kept short whatever the reply's shape: a block
that grows past `PIECE` characters without ending (a paragraph, a list) is committed there and
continued by the next piece (a fence's continuation repeats its opening line), and a line that
grows past `PIECE` without a newline is cut in two (at a space before a letter when there is
one, where a soft line break renders exactly as the space did). Of a table, the tail is only its
header and last rows (`TABLE_ROWS`), and it is cut at `TABLE_PIECE`, each piece under the header
again. The renderer's cost thus stays linear in the reply's length.
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
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")

PIECE = 4096
"""Characters an unfinished block or line may reach before it is committed in a piece."""

TABLE_PIECE = 16384
"""The same for a table: its live tail is only its header and last rows (TABLE_ROWS), whatever
its length, so it may grow further before its header has to be repeated."""

TABLE_ROWS = 4
"""Rows of an unfinished table drawn live under its header: a table is the costliest block to
draw, and the tail is drawn again on every refresh."""

HELD = 256
"""Blank lines a streamed fence holds back (in case they end it) before they are shown."""


def _cut_at(line: str, start: int) -> tuple[int, int]:
    """Where to cut `line[start:]`, longer than PIECE, in two: the end of the first part and the
    start of the second. At a space followed by a letter in the second half of PIECE (the space
    is dropped: the line break that replaces it renders as a space, and a letter cannot start a
    heading, a list or a fence), else at PIECE."""
    end = i = start + PIECE
    while True:
        i = line.rfind(" ", start + PIECE // 2, i)
        if i < 0:
            return end, end
        if line[i + 1 : i + 2].isalpha():
            return i, i + 1


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
        # Indices in `out` of pieces whose first fence continues the piece before (a fence in a
        # list, closed and reopened by `_cut`): one block, for the numbers the chat shows.
        self.reopened: list[int] = []
        self.reopening = False  # the unfinished block starts with such a reopened fence
        self.block: list[str] = []  # finished lines of the unfinished block
        self.has_list = False  # the block holds a list item: indented lines may continue it
        self.item: tuple[str, int] | None = None  # the list the block starts: kind, content column
        self.continues = False  # the block continues the list committed just before it
        self.blanks = 0  # blank lines after the block whose meaning the next line decides
        self.fence: _Fence | None = None
        self.held: list[str] = []  # blank lines in a streamed fence, held: trailing ones vanish
        self._parts: list[str] = []  # the unfinished last line, in pieces (joined once per line)
        self._length = 0  # characters in `_parts`
        self.size = 0  # characters in `block`
        self.opening = ""  # the opening line of a fence inside the block
        self.shift: int | None = 0  # spaces taken off the lines of a continued block (None: unset)
        self.resumed = False  # the block continues one cut for its length: `item` stays
        self.table = False  # the block is a table

    def feed(self, text: str) -> None:
        if "\n" not in text:
            self._parts.append(text)
            self._length += len(text)
            if self._length > PIECE:
                self._long_partial()
            return
        first, *rest = text.split("\n")
        self._parts.append(first)
        lines = ["".join(self._parts), *rest[:-1]]
        self._parts = [rest[-1]] if rest[-1] else []
        self._length = len(rest[-1])
        for line in lines:
            self._whole(line)
        if self._length > PIECE:
            self._long_partial()

    def _whole(self, line: str) -> None:
        """A finished line of the reply, in pieces of at most PIECE characters."""
        self._line(escape_controls(self._heads(line.removesuffix("\r"))))

    def _long_partial(self) -> None:
        """The unfinished line is too long to wait for its end: its head is taken as a line."""
        rest = self._heads("".join(self._parts))
        self._parts = [rest] if rest else []
        self._length = len(rest)

    def _heads(self, line: str) -> str:
        """Take lines of at most PIECE characters off the start of `line`; return the rest."""
        start = 0
        while len(line) - start > PIECE:
            if self.fence is not None and self.fence.streamed:
                end = nxt = start + PIECE  # code: each piece is a line of its own
            else:
                end, nxt = _cut_at(line, start)
            self._line(escape_controls(line[start:end]))
            start = nxt
        return line[start:] if start else line

    def finish(self) -> None:
        if self._parts:
            self._whole("".join(self._parts))
            self._parts = []
            self._length = 0
        if self.fence is not None and self.fence.streamed:
            self.out.append(("close", ""))  # a fence that never closed ends with the reply
            self.fence = None
        self._commit()

    def partial(self) -> str:
        return escape_controls("".join(self._parts).removesuffix("\r"))

    def tail(self, rows: int | None = None) -> tuple[Literal["md", "item", "code"], list[str]]:
        """What is not finished yet: Markdown lines, or code lines of the open streamed fence.
        Of a table, only its header and its last rows (TABLE_ROWS at most, `rows` when fewer
        fit on the screen)."""
        partial = self.partial()
        if self.fence is not None and self.fence.streamed:
            code = list(self.held)
            # The start of what may be the closing fence is not shown as code.
            if partial and not _CLOSE_PREFIX.match(partial):
                code.append(_dedent(partial, self.fence.indent))
            return "code", code
        lines = self.block
        keep = TABLE_ROWS if rows is None else max(1, min(rows, TABLE_ROWS))
        if len(lines) > keep + 2 and self.table:
            lines = lines[:2] + lines[-keep:]
        lines = lines + [""] * self.blanks
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
                    if len(self.held) > HELD:  # so many cannot all be trailing: shown
                        self.out.extend(("code", held) for held in self.held)
                        self.held = []
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
                self.opening = line
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
        if self.block and self.size + len(line) >= (TABLE_PIECE if self.table else PIECE):
            self._cut()
        if not self.block:
            if self.resumed:
                self.resumed = False
            else:
                self.item = _top_item(line)
        if self.shift is None:
            self.shift = len(line) - len(line.lstrip(" "))
        if self.shift:
            line = _dedent(line, self.shift)
        self.block.append(line)
        self.size += len(line) + 1
        if len(self.block) == 2:  # a header and a delimiter row
            self.table = "|" in self.block[0] and _TABLE_RULE.match(line) is not None
        if not self.has_list and _LIST_ITEM.match(line):
            self.has_list = True

    def _cut(self) -> None:
        """Commit the unfinished block as it is and go on with a piece that continues it: a
        table's header comes again, an open fence is closed and opened again, and an indented
        line of a list no longer counts as indented code."""
        block, fence, keep = self.block, self.fence, (self.has_list, self.item)
        head: list[str] = []
        if fence is not None:  # a fence inside a list item
            indent = _indent(_dedent(self.opening, self.shift or 0))
            block.append(" " * indent + fence.char * fence.length)
            head = [self.opening]
        elif len(block) > 2 and self.table:
            head = block[:2]
        code = not self.has_list and fence is None and _indent(block[0]) >= 4
        if sum(len(line) + 1 for line in head) > PIECE // 4:
            head = []
        self._commit()
        self.reopening = fence is not None and bool(head)
        self.has_list, self.item = keep
        self.continues = self.resumed = True
        if not code:  # the rest of an indented code block stays code
            self.shift = None
        for line in head:
            self._append(line)

    def _commit(self) -> None:
        if self.block:
            if self.reopening:
                self.reopened.append(len(self.out))
            self.out.append(("item" if self.continues else "md", "\n".join(self.block)))
        self.reopening = False
        self.block = []
        self.size = 0
        self.shift = 0
        self.resumed = False
        self.table = False
        self.has_list = False
        self.item = None
        self.continues = False
        self.blanks = 0
