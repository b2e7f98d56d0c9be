"""`-f/--file SOURCE` for `ask`, `chat` and `tokens`: the options, declared once, and the wiring
from sources to the one user message (mlchat.attach reads, mlchat.fetch fetches). Nothing here is
imported by `--help` beyond the option declarations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.attach import Collected, Limits, Pending
    from mlchat.config import Settings
    from mlchat.types import Message, Part

FILES = "Files and images"

FileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--file",
        "-f",
        help="Attach a file, a folder, a glob, an image or a URL (repeatable; - is stdin).",
        metavar="SOURCE",
        rich_help_panel=FILES,
        show_default=False,
    ),
]
MaxFilesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-files",
        help="Most files one message may attach \\[default: 1000, or attach_max_files].",
        rich_help_panel=FILES,
        show_default=False,
    ),
]
MaxBytesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-bytes",
        help="Most bytes of text per message, and per image \\[default: 20000000, or "
        "attach_max_bytes].",
        rich_help_panel=FILES,
        show_default=False,
    ),
]


def limits(s: Settings, max_files: int | None, max_bytes: int | None) -> Limits:
    """The limits from the flags, else the config file, else the defaults."""
    from mlchat.attach import Limits
    from mlchat.config import check_count

    files = max_files if max_files is not None else s.file.get("attach_max_files")
    size = max_bytes if max_bytes is not None else s.file.get("attach_max_bytes")
    base = Limits()
    files = base.files if files is None else check_count(files, "--max-files")
    size = base.text_bytes if size is None else check_count(size, "--max-bytes")
    return Limits(files=files, text_bytes=size, image_bytes=size)


def collect(
    rt: Runtime,
    argument: str | None,
    files: list[str] | None,
    limit: Limits,
    *,
    allow_binary: bool = False,
) -> Collected:
    """Every local source read (stdin, files, folders, globs, then the argument): a bad one is a
    usage error here, before any network traffic. URLs are left for `message`."""
    from mlchat.attach import collect

    return collect(
        files or [],
        argument=argument,
        piped=not rt.stdin_tty,
        stdin=rt.stdin,
        limits=limit,
        allow_binary=allow_binary,
        warn=rt.warn,
        note=rt.note,
    )


def message(rt: Runtime, s: Settings, got: Collected, limit: Limits) -> Message:
    """The user message: pending URLs fetched (with the client's timeouts), then every part in
    order. An empty message is returned as is: the command words its own "no prompt" error."""
    from mlchat.attach import Pending
    from mlchat.types import user_message

    parts: list[Part | Pending] = list(got.items)
    if any(isinstance(item, Pending) for item in got.items):
        from mlchat.client import Fetched, Timeouts, fetch
        from mlchat.fetch import resolve

        # The read timeout is the API's (--timeout): the longest silence accepted.
        t = Timeouts(read=s.timeout)

        def fetcher(url: str, most: int) -> Fetched:
            return fetch(url, most, timeouts=t)

        parts = [*resolve(got, fetcher, limit, warn=rt.warn)]
    return user_message([p for p in parts if not isinstance(p, Pending)])
