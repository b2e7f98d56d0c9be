"""Tab completion in the REPL: command names (from the one `COMMANDS` table), model ids after
/model, role names after /role, parameter names after /set, command names after /help, and paths
after `@` (anywhere in a message) and after /file. No prompt_toolkit (the prompt reader turns
candidates into its Completions); paths are listed from the file system.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from mlchat import params as P
from mlchat.repl.commands import COMMANDS
from mlchat.text import escape_controls

Candidate = tuple[str, int, str]
"""(text to insert, start position relative to the cursor, one-line description)."""

# `@word` at the end of the input, at the start of a word and not `@@` (a literal @).
_MENTION = re.compile(r"(?<![\S])@(?!@)(\S*)$")
MAX_PATHS = 200  # a folder of thousands offers the first ones; typing more narrows it


def paths(word: str) -> list[Candidate]:
    """The entries of the folder named by `word` (up to its last /) whose names start with the
    rest, folders with a trailing /, in name order; hidden ones only when the name part starts
    with a dot. A name with whitespace or a control character is not offered (a mention ends at
    whitespace, and the menu must draw only what a file system gave)."""
    head, slash, prefix = word.rpartition("/")
    folder = os.path.expanduser(head + slash) if slash else "."  # noqa: PTH111 - as typed
    try:
        entries = sorted(os.scandir(folder or "/"), key=lambda e: e.name)
    except OSError:
        return []
    out: list[Candidate] = []
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
            continue
        if any(ch.isspace() for ch in name) or escape_controls(name, keep="") != name:
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        out.append((head + slash + name + ("/" if is_dir else ""), -len(word), ""))
        if len(out) >= MAX_PATHS:
            break
    return out


def _no_roles() -> list[str]:
    return []


def _no_hint() -> str:
    return ""


def completions(
    text: str,
    models: Callable[[], list[str]],
    roles: Callable[[], list[str]] = _no_roles,
    models_hint: Callable[[], str] = _no_hint,
) -> list[Candidate]:
    """Completions for the input before the cursor: command names, then model ids after
    /model, parameter names after /set, command names after /help; paths after `@` and /file.
    With no model ids known yet, /model offers one entry that inserts nothing and says why
    (`models_hint`)."""
    mention = _MENTION.search(text)
    if mention is not None:
        return paths(mention.group(1))
    if not text.startswith("/") or "\n" in text:
        return []
    if text.startswith("/file "):
        return paths(text.rsplit(" ", 1)[-1])
    name, space, arg = text[1:].partition(" ")
    if not space:
        return [
            ("/" + n, -len(text), c.help) for n, c in COMMANDS.items() if n.startswith(name.lower())
        ]
    word = arg.lstrip()
    if " " in word:
        return []
    if name == "model":
        fragment = word.lower()
        known = models()
        if not known:
            hint = models_hint()
            return [("", 0, hint)] if hint else []
        # Ids from the network: one with a control character or a bidirectional override is
        # not offered (it would draw in the menu, and is no usable model id anyway).
        return [
            (m, -len(word), "")
            for m in known
            if fragment in m.lower() and escape_controls(m, keep="") == m
        ]
    if name == "role":
        return [(r, -len(word), "") for r in roles() if r.startswith(word)]
    if name == "set":
        return [(p, -len(word), s.help) for p, s in P.SPECS.items() if p.startswith(word)]
    if name == "help":
        return [(n, -len(word), c.help) for n, c in COMMANDS.items() if n.startswith(word)]
    return []
