"""Peak memory: the largest resident set (ru_maxrss from wait4) of

- `mlchat ask` receiving a 16k-token reply, piped (plain) and on a pseudo-terminal (rendered);
- a 200-turn `mlchat chat` session fed through stdin, when this checkout has a `chat` command:
  each line is a one-paragraph Markdown question of ~60 words, which the emulator's default
  reply echoes back, so the conversation sent grows to ~25k words by the last turn.

The floor is the httpx consumer receiving the same 16k-token reply, run in the same session.

    python bench/memory.py [--quick] [--json]

Imports: bench.common.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

ASK_MB = 60.0
TOKENS = 16000
TURNS = 200


def question(n: int) -> str:
    """One line of Markdown: a paragraph of ~60 words with emphasis and inline code."""
    paragraph = c.markdown_reply(60, seed=1000 + n).split("\n\n")
    return " ".join(p for p in paragraph if not p.startswith(("#", "`", "-", "1."))) or "Why?"


def measure(quick: bool) -> list[c.Row]:
    repeats = 1 if quick else 3
    text = c.markdown_reply(TOKENS)
    c.progress(f"memory: ask with {TOKENS} tokens x {repeats}, chat with {TURNS} turns")
    with c.Sandbox() as sb, c.emulator() as emu:
        env = sb.env(emu.base_url)

        def ask(mode: str) -> c.Run:
            emu.script(c.Reply.chat(text))
            if mode == "httpx":
                return c.run(sb.floor_httpx(emu.base_url, "go"), env, peak_rss=True).check()
            if mode == "plain":
                return c.run(sb.mlchat("ask", "go"), env, peak_rss=True).check()
            return c.run_pty(sb.mlchat("ask", "go"), env, peak_rss=True).check()

        runs = c.interleaved(
            {mode: (lambda mode=mode: ask(mode)) for mode in ("httpx", "plain", "rendered")},
            repeats,
            warmup=0,
        )
        rss = {mode: c.median([r.maxrss_mb or 0.0 for r in rs]) for mode, rs in runs.items()}
        chat: c.Run | None = None
        chat_note = "no `chat` command in this checkout: skipped"
        if sb.has_command("chat"):
            # Default replies (not scripted ones), so that any other request chat makes (the
            # models list, a token count) cannot take a reply meant for a turn.
            emu.reset()
            lines = "".join(f"Question {n}: {question(n)}\n" for n in range(TURNS))
            chat = c.run(sb.mlchat("chat"), env, stdin=lines.encode(), peak_rss=True)
            turns = sum(r.path in ("/chat/completions", "/v1/messages") for r in emu.requests)
            if chat.returncode != 0 or turns != TURNS:
                err = chat.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
                chat_note = (
                    f"could not run: exit {chat.returncode} after {turns} of {TURNS} turns"
                    f": {err[0][:120]}"
                ).rstrip()
                chat = None
    rows = [
        c.Row(
            f"peak RSS: ask, {TOKENS // 1000}k tokens, plain",
            rss["plain"],
            "MB",
            rss["httpx"],
            "httpx",
            f"< {ASK_MB:g} MB",
            rss["plain"] < ASK_MB,
        ),
        c.Row(
            f"peak RSS: ask, {TOKENS // 1000}k tokens, rendered",
            rss["rendered"],
            "MB",
            rss["httpx"],
            "httpx",
            f"< {ASK_MB:g} MB",
            rss["rendered"] < ASK_MB,
        ),
    ]
    if chat is None:
        rows.append(
            c.Row(
                f"peak RSS: chat, {TURNS} turns (stdin)",
                None,
                "MB",
                note=chat_note,
            )
        )
    else:
        rows.append(
            c.Row(
                f"peak RSS: chat, {TURNS} turns (stdin)",
                chat.maxrss_mb,
                "MB",
                rss["httpx"],
                "httpx",
                note=f"{chat.wall:.1f} s wall, {chat.cpu:.2f} s CPU",
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(c.script_main(measure))
