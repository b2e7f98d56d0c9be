"""The chat's attachments: `read_sources` (mlchat.attach reads, mlchat.fetch fetches, with the
client's rules) for `@path`, `/file` and `chat -f`; `/file SOURCE...` queues sources for the next
message; `/files` lists what the conversation carries and what is queued, with sizes and token
estimates. Imports context, prompt_input, types and errors; attach, fetch and client inside
`read_sources`, so only a chat that attaches something loads them.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mlchat.context import CHARS_PER_TOKEN, IMAGE_TOKENS
from mlchat.errors import UsageError
from mlchat.prompt_input import STDIN, human_size
from mlchat.types import ImagePart, Message, Part, TextPart

if TYPE_CHECKING:
    from mlchat.attach import Limits
    from mlchat.repl.loop import Repl


def read_sources(
    sources: Sequence[str],
    *,
    limits: Limits | None = None,
    warn: Callable[[str], None],
    note: Callable[[str], None],
    timeout: float | None = None,
    allow_binary: bool = False,
) -> list[Part]:
    """`sources` (files, folders, globs, images, URLs; not stdin) read into parts, in order, under
    one set of limits: every local source first, then the URLs, fetched with the client's rules
    and `timeout` as the read timeout. For the chat's `@path`, `/file` and `chat -f`."""
    from mlchat.attach import Limits, Pending, Reader
    from mlchat.fetch import Fetcher, resolve

    limits = limits or Limits()
    reader = Reader(limits=limits, allow_binary=allow_binary, warn=warn, note=note)
    for source in sources:
        reader.add(source)
    fetcher: Fetcher | None = None
    if any(isinstance(item, Pending) for item in reader.got.items):
        from mlchat.client import Fetched, Timeouts, fetch

        t = Timeouts() if timeout is None else Timeouts(read=timeout)

        def fetcher(url: str, most: int) -> Fetched:
            return fetch(url, most, timeouts=t)

    return resolve(reader.got, fetcher, limits, warn=warn)


def attachments(parts: Sequence[Part]) -> list[Part]:
    """The parts that came from a source (a file, an image, a page), not typed text."""
    return [p for p in parts if isinstance(p, ImagePart) or p.source is not None]


def size(part: Part) -> str:
    if isinstance(part, ImagePart):
        return f"{part.media_type}, {human_size(len(part.data))}"
    return human_size(len(part.text.encode()))


def tokens(part: Part) -> int:
    if isinstance(part, ImagePart):
        return IMAGE_TOKENS
    return math.ceil(len(part.rendered) / CHARS_PER_TOKEN)


def summary(parts: Sequence[Part]) -> str:
    """ "2 files (3.4 KB), 1 image" """
    texts = [p for p in parts if isinstance(p, TextPart)]
    images = len(parts) - len(texts)
    out = []
    if texts:
        total = sum(len(p.text.encode()) for p in texts)
        out.append(f"{len(texts)} file{'s' if len(texts) != 1 else ''} ({human_size(total)})")
    if images:
        out.append(f"{images} image{'s' if images != 1 else ''}")
    return ", ".join(out) or "nothing"


def for_edit(message: Message) -> tuple[str, list[Part]]:
    """/edit of a message with attachments: the text that was typed (its `@path` mentions
    included, read again when it is sent), and the attachments that came from elsewhere (/file,
    `chat -f`), queued again, so that sending the edit carries each one once."""
    from fnmatch import fnmatch

    from mlchat.repl.mentions import mentioned

    typed = "\n\n".join(
        p.text for p in message.parts if isinstance(p, TextPart) and p.source is None
    )
    named = mentioned(typed)

    def from_mention(source: str | None) -> bool:
        if source is None:
            return False
        return any(
            source == n or source.startswith(n.rstrip("/") + "/") or fnmatch(source, n)
            for n in named
        )

    return typed, [p for p in attachments(message.parts) if not from_mention(p.source)]


def cmd_file(repl: Repl, arg: str) -> None:
    if not arg:
        if not repl.queued:
            repl.show("nothing is queued for the next message")
            return
        repl.show("\n".join(f"next message: {p.source}  {size(p)}" for p in repl.queued))
        return
    if arg in ("--clear", "none"):
        repl.queued.clear()
        repl.rt.note("nothing is queued for the next message")
        return
    try:
        sources = shlex.split(arg)
    except ValueError:
        raise UsageError("/file: unbalanced quotes") from None
    if STDIN in sources:
        raise UsageError("/file -: stdin carries the chat's messages; name a file instead")
    parts = attachments(repl.read_sources(sources))  # all or nothing: an error queues none
    repl.queued.extend(parts)
    repl.rt.note(f"attached to the next message: {summary(repl.queued)}")


def cmd_files(repl: Repl, arg: str) -> None:
    rows: list[tuple[str, Part]] = []
    for index, message in enumerate(repl.convo.messages, 1):
        rows += [(f"message {index}", p) for p in attachments(message.parts)]
    rows += [("next", p) for p in repl.queued]
    if not rows:
        repl.show("the conversation carries no attachments (@path or /file SOURCE adds one)")
        return
    width = max(len(label) for label, _ in rows)
    lines = [
        f"{label:<{width}}  {p.source or '(image)'}  {size(p)}  ~{tokens(p):,} tokens"
        for label, p in rows
    ]
    total = sum(tokens(p) for _, p in rows)
    lines.append(f"{len(rows)} attachment{'s' if len(rows) != 1 else ''}, ~{total:,} tokens")
    repl.show("\n".join(lines))
