"""`@path` mentions in a chat message: finding them, and the text that is sent. Pure apart from
asking the file system whether a path exists; no prompt_toolkit, no terminal.

- `@path` at the start of the message or after whitespace names a file, a folder or a glob to
  attach to that message; the mention stays in the text as typed, so the model can tell which
  attachment the words refer to.
- `@@` is a literal `@` (`@@home` sends `@home` and attaches nothing).
- A mention ends at whitespace; trailing punctuation (`.,;:!?)]}'"`) is not part of it unless
  the path with it exists (`see @notes.md.` attaches notes.md).
- A word after `@` that names nothing is left as text (`@alice`, `@pytest.fixture`), unless it
  looks like a path: it holds a `/` or a glob character, starts with `~`, or ends in a common
  file extension (`.md`, `.py`, `.png`, ...). That one is an error, so a typo in a file name is
  caught before the message is paid for.
- An `@` inside a word (`me@example.com`) is never a mention.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlchat.errors import UsageError

_MENTION = re.compile(r"(?<!\S)@(@?)(\S*)")
_TRAILING = ".,;:!?)]}'\""
_GLOB = frozenset("*?[")
# Extensions that make a word after @ a file name even when no such file exists (a typo).
EXTENSIONS = frozenset(
    [
        ".md",
        ".txt",
        ".rst",
        ".py",
        ".js",
        ".ts",
        ".tsx",
        ".jsx",
        ".json",
        ".toml",
        ".yaml",
        ".yml",
        ".ini",
        ".cfg",
        ".rs",
        ".go",
        ".c",
        ".h",
        ".cpp",
        ".java",
        ".kt",
        ".rb",
        ".sh",
        ".sql",
        ".html",
        ".css",
        ".xml",
        ".csv",
        ".log",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".pdf",
    ]
)


def looks_like_path(word: str) -> bool:
    if "/" in word or word.startswith("~") or _GLOB & set(word):
        return True
    _, dot, ext = word.rpartition(".")
    return bool(dot) and f".{ext.lower()}" in EXTENSIONS


@dataclass(frozen=True, slots=True)
class Mentions:
    text: str  # the message as sent: `@@` made `@`, mentions kept as typed
    sources: tuple[str, ...]  # the paths mentioned, in order, each once


def _exists(path: str, cwd: Path | None) -> bool:
    p = Path(os.path.expanduser(path))  # noqa: PTH111 - `~nosuchuser` stays as typed
    if cwd is not None and not p.is_absolute():
        p = cwd / p
    try:
        if p.exists():
            return True
    except OSError:
        return False
    if _GLOB & set(path):
        root = str(cwd) if cwd is not None else None
        pattern = os.path.expanduser(path)  # noqa: PTH111 - a pattern, not a path
        return bool(glob.glob(pattern, root_dir=root, recursive=True))  # noqa: PTH207
    return False


def mentioned(text: str) -> list[str]:
    """Every word after a single `@` in `text`, trailing punctuation off, whether or not it
    names anything (what /edit needs to tell mentioned attachments from queued ones)."""
    return [m.group(2).rstrip(_TRAILING) for m in _MENTION.finditer(text) if not m.group(1)]


def parse(text: str, cwd: Path | None = None) -> Mentions:
    """The mentions of `text`, or UsageError naming a path-like mention that names nothing."""
    sources: list[str] = []
    out: list[str] = []
    last = 0
    for match in _MENTION.finditer(text):
        out.append(text[last : match.start()])
        last = match.end()
        literal, word = match.group(1), match.group(2)
        if literal:  # `@@word`: the user meant an `@`
            out.append("@" + word)
            continue
        if not word:
            out.append("@")
            continue
        out.append(match.group(0))
        candidate = word
        while not _exists(candidate, cwd) and candidate and candidate[-1] in _TRAILING:
            candidate = candidate[:-1]
        if candidate and _exists(candidate, cwd):
            if candidate not in sources:
                sources.append(candidate)
            continue
        if looks_like_path(word.rstrip(_TRAILING)):
            raise UsageError(
                f"@{word.rstrip(_TRAILING)}: no such file, folder or matching glob; "
                "nothing was sent",
                hint="write @@ for a literal @ (the message is in the input history: Up)",
            )
    out.append(text[last:])
    return Mentions("".join(out), tuple(sources))
