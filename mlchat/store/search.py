"""The store's search: FTS5 queries, and the LIKE fallback for SQLite builds without FTS5.
Part of mlchat.store (`Store.search` is the caller, inside its error guard); imports the standard
library and mlchat.store.values.
"""

from __future__ import annotations

import re
import sqlite3

from mlchat.store.values import MARK_END, MARK_START, Hit, hit_from_row


def is_literal(term: str) -> bool:
    """A term with a symbol or an underscore (`c++`, `bubble_sort`, `std::sort`): the index
    splits words there (`c++` would be the word `c`, matching "-c"), so it is matched as the
    exact characters instead, ignoring ASCII case."""
    core = term[:-1] if term.endswith("*") and len(term) > 1 else term
    return any(not ch.isalnum() for ch in core)


def _like_clause(word: str) -> tuple[str, list[str]]:
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
    return (
        "(m.content LIKE ? ESCAPE '\\' OR COALESCE(m.reasoning, '') LIKE ? ESCAPE '\\')",
        [pattern, pattern],
    )


def fts(db: sqlite3.Connection, terms: list[str], limit: int) -> list[Hit]:
    """Best matches first. Each word is one quoted phrase (so FTS5 operators in the query are
    plain words); a trailing * keeps its prefix meaning. Terms with symbols are matched
    literally (`is_literal`). Raises sqlite3.Error when FTS5 cannot parse the query."""
    words = [t for t in terms if not is_literal(t)]
    literals = [t for t in terms if is_literal(t)]
    if not words:
        return like(db, terms, limit)
    phrases = []
    for term in words:
        star = term.endswith("*") and len(term) > 1
        core = term[:-1] if star else term
        phrases.append('"' + core.replace('"', '""') + '"' + ("*" if star else ""))
    where, args = ["messages_fts MATCH ?"], [" ".join(phrases)]
    for term in literals:
        clause, more = _like_clause(term)
        where.append(clause)
        args += more
    sql = f"""
        SELECT m.conversation_id, c.name, m.seq, m.role, m.created, m.content, m.reasoning,
            snippet(messages_fts, -1, ?, ?, '…', 16) AS snip
        FROM messages_fts
        JOIN messages m ON m.id = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE {" AND ".join(where)}
        ORDER BY rank LIMIT ?"""
    rows = db.execute(sql, (MARK_START, MARK_END, *args, limit)).fetchall()
    if not literals:
        return [hit_from_row(r, r["snip"]) for r in rows]
    marked = [_strip(t) for t in terms]
    return [hit_from_row(r, like_snippet(r["content"], r["reasoning"], marked)) for r in rows]


def _strip(term: str) -> str:
    return term[:-1] if term.endswith("*") and len(term) > 1 else term


def like(db: sqlite3.Connection, terms: list[str], limit: int) -> list[Hit]:
    """Most recent matches first: every word (a trailing * dropped) as a substring."""
    words = [_strip(t) for t in terms]
    where, args = [], []
    for word in words:
        clause, more = _like_clause(word)
        where.append(clause)
        args += more
    sql = f"""
        SELECT m.conversation_id, c.name, m.seq, m.role, m.created, m.content, m.reasoning
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE {" AND ".join(where)}
        ORDER BY m.created DESC LIMIT ?"""
    rows = db.execute(sql, (*args, limit)).fetchall()
    return [hit_from_row(r, like_snippet(r["content"], r["reasoning"], words)) for r in rows]


def like_snippet(content: str, reasoning: str | None, words: list[str], width: int = 60) -> str:
    """The text around the first match, each match marked, as FTS5's snippet() would."""
    for text in (content or "", reasoning or ""):
        low = text.lower()
        found = [i for w in words if (i := low.find(w.lower())) >= 0]
        if not found:
            continue
        first = min(found)
        start, end = max(0, first - width), min(len(text), first + width)
        window = text[start:end]
        pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
        marked = pattern.sub(lambda m: MARK_START + m.group(0) + MARK_END, window)
        return ("…" if start else "") + marked + ("…" if end < len(text) else "")
    return ""
