"""Tab completion in the REPL: command names (from the one `COMMANDS` table), model ids after
/model, role names after /role, parameter names after /set, command names after /help. Pure: no
prompt_toolkit (the prompt reader turns candidates into its Completions).
"""

from __future__ import annotations

from collections.abc import Callable

from mlchat import params as P
from mlchat.repl.commands import COMMANDS
from mlchat.text import escape_controls

Candidate = tuple[str, int, str]
"""(text to insert, start position relative to the cursor, one-line description)."""


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
    /model, parameter names after /set, command names after /help. With no model ids known
    yet, /model offers one entry that inserts nothing and says why (`models_hint`)."""
    if not text.startswith("/") or "\n" in text:
        return []
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
