"""What every `mlchat sessions` command shares: the Typer app, the options, opening the store
for reading, naming a conversation, and the output helpers (JSON, one-line text, times). Part of
mlchat.cli.sessions; imports typer, mlchat.cli.common, errors, runtime (the store lazily).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli import common
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError
from mlchat.runtime import Runtime
from mlchat.text import json_text

if TYPE_CHECKING:
    from mlchat.store import Store, Summary

HELP = doc(
    """List, show, search, export and delete saved conversations.

    Every `ask` and chat is saved as it happens (unless --no-log or `log = false`). Name a
    conversation by its id, a unique prefix of it (4+ characters), or its name. With no command,
    lists the 20 most recent.

    Examples:

      mlchat sessions
      mlchat sessions search "rust lifetimes"
      mlchat sessions export a1b2 -o notes.md
    """
)

app = typer.Typer(
    name="sessions",
    help=HELP,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

LimitOpt = Annotated[
    int,
    typer.Option(
        "--limit",
        "-n",
        help="How many to show, 0 for all \\[default: 20].",
        min=0,
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
RefArg = Annotated[
    str, typer.Argument(help="Id, unique id prefix, or name.", metavar="ID", show_default=False)
]
OptionalRefArg = Annotated[
    str | None,
    typer.Argument(
        help="Id, unique id prefix, or name \\[default: the latest].",
        metavar="[ID]",
        show_default=False,
    ),
]


@contextmanager
def read_store() -> Iterator[Store | None]:
    """The store, or None when nothing has ever been saved (reading never creates it)."""
    store = common.open_store(create=False)
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def require(store: Store | None, ref: str | None) -> tuple[Store, str]:
    if store is None:
        raise UsageError("no saved conversations yet")
    if ref is None:
        latest = store.conversations(1)
        if not latest:
            raise UsageError("no saved conversations yet")
        return store, latest[0].id
    return store, store.resolve(ref)


def summary_json(s: Summary) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "created": s.created,
        "updated": s.updated,
        "model": s.model,
        "dialect": s.dialect,
        "messages": s.messages,
        "title": s.title,
        "profile": s.profile,
        "role": s.role,
    }


def json_out(rt: Runtime, doc: Any) -> None:
    rt.out.write(json_text(doc) + "\n")
    rt.out.flush()


def one_line(text: str) -> str:
    from mlchat.text import escape_controls as printable

    return " ".join(printable(text).split())


def local_time(stamp: str) -> str:
    from mlchat.store import parse_time

    try:
        return parse_time(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def utc_time(stamp: str) -> str:
    """Seconds precision for scripts: 2024-05-01T12:03:04Z."""
    return stamp.split(".")[0] + "Z" if "." in stamp else stamp


def count(value: int | None) -> str:
    return "?" if value is None else str(value)
