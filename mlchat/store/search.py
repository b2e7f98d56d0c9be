"""The store's search: FTS5 queries, and the LIKE fallback for SQLite builds without FTS5.
Part of mlchat.store (`Store.search` is the caller, inside its error guard); imports the standard
library and mlchat.store.values.
"""

from __future__ import annotations

import re
import sqlite3

from mlchat.store.values import MARK_END, MARK_START, Hit, hit_from_row


def fts(db: sqlite3.Connection, terms: list[str], limit: int) -> list[Hit]:
    """Best matches first. Each term is one quoted phrase (so FTS5 operators in the query are
    plain words); a trailing * keeps its prefix meaning. Raises sqlite3.Error when FTS5 cannot
    parse the query."""
    phrases = []
    for term in terms:
        star = term.endswith("*") and len(term) > 1
        core = term[:-1] if star else term
        phrases.append('"' + core.replace('"', '""') + '"' + ("*" if star else ""))
    sql = """
        SELECT m.conversation_id, c.name, m.seq, m.role, m.created,
            snippet(messages_fts, -1, ?, ?, '…', 16) AS snip
        FROM messages_fts
        JOIN messages m ON m.id = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE messages_fts MATCH ?
        ORDER BY rank LIMIT ?"""
    rows = db.execute(sql, (MARK_START, MARK_END, " ".join(phrases), limit)).fetchall()
    return [hit_from_row(r, r["snip"]) for r in rows]


def like(db: sqlite3.Connection, terms: list[str], limit: int) -> list[Hit]:
    """Most recent matches first: every word (a trailing * dropped) as a substring."""
    words = [t[:-1] if t.endswith("*") and len(t) > 1 else t for t in terms]
    where, args = [], []
    for word in words:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
        where.append(
            "(m.content LIKE ? ESCAPE '\\' OR COALESCE(m.reasoning, '') LIKE ? ESCAPE '\\')"
        )
        args += [pattern, pattern]
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
