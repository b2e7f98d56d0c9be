"""The chat's attachment commands: `/file SOURCE...` queues files, folders, globs, images and
URLs for the next message; `/files` lists what the conversation carries and what is queued, with
sizes and token estimates. The reading itself is the Repl's (`read_sources`: mlchat.attach and
mlchat.fetch); this module only words it. Imports context, prompt_input, types and errors.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlchat.context import CHARS_PER_TOKEN, IMAGE_TOKENS
from mlchat.errors import UsageError
from mlchat.prompt_input import STDIN, human_size
from mlchat.types import ImagePart, Part, TextPart

if TYPE_CHECKING:
    from mlchat.repl.loop import Repl


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
