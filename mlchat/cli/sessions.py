"""`mlchat sessions`: list, show, export, search, rename and delete saved conversations.

Conversations are named on the command line by id, unique id prefix (4 or more characters) or
name. Output follows the scripting contract: a table on a terminal, tab-separated lines when piped,
`--json` for programs; stored text is shown with control characters neutralised, and exported
exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.store import Hit, Record, Store, Summary

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
    typer.Option("--limit", "-n", help="How many to show (0: all).", min=0, show_default=True),
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


@app.callback()
def sessions(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        rt = common.runtime(ctx)
        with boundary(rt):
            _list(rt, 20, as_json=False)


@contextmanager
def _store() -> Iterator[Store | None]:
    """The store, or None when nothing has ever been saved (reading never creates it)."""
    store = common.open_store(create=False)
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def _require(store: Store | None, ref: str | None) -> tuple[Store, str]:
    if store is None:
        raise UsageError("no saved conversations yet")
    if ref is None:
        latest = store.conversations(1)
        if not latest:
            raise UsageError("no saved conversations yet")
        return store, latest[0].id
    return store, store.resolve(ref)


# -- list ----------------------------------------------------------------------------------------


@app.command(
    "list",
    help=doc(
        """List saved conversations, most recently updated first.

        On a terminal: a table. Piped: one tab-separated line each (id, name or -, updated time
        in UTC, model, message count, first words). --json: a JSON array.

        Examples:

          mlchat sessions list
          mlchat sessions list -n 0 --json | jq -r '.[].id'
          mlchat sessions list -n 5 | cut -f1,6
        """
    ),
)
def list_(ctx: typer.Context, limit: LimitOpt = 20, as_json: JsonOpt = False) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        _list(rt, limit, as_json=as_json)


def _list(rt: Runtime, limit: int, *, as_json: bool) -> None:
    with _store() as store:
        items = store.conversations(limit or None) if store is not None else []
    if as_json:
        _json_out(rt, [_summary_json(s) for s in items])
        return
    if not items:
        if rt.stdout_tty:
            rt.note("no saved conversations yet")
        return
    if rt.stdout_tty:
        from mlchat.ui.table import Column, print_table

        rows = [
            [s.id, s.name or "", _local(s.updated), s.model, str(s.messages), s.title]
            for s in items
        ]
        columns = [
            Column("ID", style="cyan"),
            Column("NAME"),
            Column("UPDATED"),
            Column("MODEL"),
            Column("MSGS", right=True),
            Column("FIRST WORDS", fill=True),
        ]
        print_table(rt.out, rt.env, columns, rows, rule=False)
        return
    for s in items:
        fields = [s.id, s.name or "-", _utc(s.updated), s.model, str(s.messages), s.title]
        rt.out.write("\t".join(_one_line(f) for f in fields) + "\n")
    rt.out.flush()


# -- show ----------------------------------------------------------------------------------------


@app.command(
    help=doc(
        """Show a conversation as readable text.

        Without ID, the most recently updated one. Control characters in the stored text are
        shown neutralised; use `mlchat sessions export` for the exact text.

        Examples:

          mlchat sessions show
          mlchat sessions show a1b2
          mlchat sessions show rust-notes | less
        """
    )
)
def show(ctx: typer.Context, ref: OptionalRefArg = None) -> None:
    rt = common.runtime(ctx)
    with boundary(rt), _store() as opened:
        store, cid = _require(opened, ref)
        summary, records = store.record(cid)
        pieces = _show(summary, records)
        if rt.stdout_tty:
            from mlchat.ui.console import print_styled

            print_styled(rt.out, rt.env, pieces)
        else:
            rt.out.write("".join(text for text, _ in pieces))
            rt.out.flush()


def _show(summary: Summary, records: list[Record]) -> list[tuple[str, str | None]]:
    from mlchat.text import escape_controls as printable

    out: list[tuple[str, str | None]] = [(summary.id, "bold cyan")]
    if summary.name:
        out.append((f"  {printable(summary.name)}", "bold"))
    out.append(("\n", None))
    out.append(
        (
            f"{printable(summary.model)} ({summary.dialect}) · {summary.messages} messages · "
            f"created {_local(summary.created)} · updated {_local(summary.updated)}\n",
            "dim",
        )
    )
    held = [
        f"{k} {printable(v)}"
        for k, v in (("profile", summary.profile), ("role", summary.role))
        if v
    ]
    if held:
        out.append((" · ".join(held) + "\n", "dim"))
    if summary.system:
        out += [("system: ", "bold"), (printable(summary.system) + "\n", None)]
    for r in records:
        head = [r.role, _local(r.created)]
        if r.role == "assistant" and r.model:
            head.insert(1, printable(r.model))
        if r.usage is not None:
            head.append(f"{_n(r.usage.input_tokens)} in, {_n(r.usage.output_tokens)} out")
        if r.cost is not None:
            head.append(f"${r.cost:.6f}".rstrip("0").rstrip("."))
        if r.tool_call_id:
            head.append(f"result of {printable(r.tool_call_id)}")
        out.append(("\n── " + " · ".join(head) + "\n", "bold"))
        if r.reasoning:
            out.append((printable(r.reasoning).rstrip("\n") + "\n", "dim italic"))
            if r.content:
                out.append(("\n", None))
        if r.parts:
            out += _attachments(r)
        elif r.content:
            out.append((printable(r.content).rstrip("\n") + "\n", None))
        for call in r.tool_calls:
            out.append((f"→ {printable(call.name)}({printable(call.arguments)})\n", "yellow"))
        if r.status == "interrupted":
            out.append(
                ("[interrupted" + (f": {printable(r.error)}" if r.error else "") + "]\n", "red")
            )
        elif r.status == "failed":
            out.append((f"[failed: {printable(r.error or 'unknown error')}]\n", "red"))
    return out


def _attachments(r: Record) -> list[tuple[str, str | None]]:
    """A message with attachments as `show` prints it: the text the user typed, and one line
    naming each file or image instead of its contents."""
    from mlchat.prompt_input import human_size
    from mlchat.text import escape_controls as printable
    from mlchat.types import ImagePart

    out: list[tuple[str, str | None]] = []
    for part in r.parts:
        if isinstance(part, ImagePart):
            name = printable(part.source or part.url or "image")
            line = f"[image: {name}, {part.media_type}, {human_size(len(part.data))}]\n"
            out.append((line, "cyan"))
        elif part.source is not None:
            size = human_size(len(part.text.encode("utf-8", errors="replace")))
            out.append((f"[file: {printable(part.source)}, {size}]\n", "cyan"))
        elif part.text.strip():
            out.append((printable(part.text).rstrip("\n") + "\n", None))
    return out


def _parts_json(r: Record) -> list[dict[str, Any]]:
    import base64

    from mlchat.types import ImagePart

    out: list[dict[str, Any]] = []
    for part in r.parts:
        if isinstance(part, ImagePart):
            out.append(
                {
                    "type": "image",
                    "source": part.source,
                    "url": part.url,
                    "media_type": part.media_type,
                    "data": base64.b64encode(part.data).decode(),
                }
            )
        elif part.source is not None:
            out.append({"type": "file", "source": part.source, "text": part.text})
        else:
            out.append({"type": "text", "text": part.text})
    return out


# -- export --------------------------------------------------------------------------------------


@app.command(
    help=doc(
        """Export a conversation as Markdown or JSON, to stdout or a file.

        Without ID, the most recently updated one. -o writes the file atomically (a temporary
        file, then a rename), readable only by you.

        Examples:

          mlchat sessions export a1b2 -o chat.md
          mlchat sessions export rust-notes -f json | jq '.messages | length'
          mlchat sessions export > latest.md
        """
    )
)
def export(
    ctx: typer.Context,
    ref: OptionalRefArg = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Markdown or JSON.",
            **o.choices("md", "json"),
        ),
    ] = "md",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (atomically) instead of stdout.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        if fmt not in ("md", "json"):
            raise UsageError(f"--format must be md or json, got '{fmt}'")
        with _store() as opened:
            store, cid = _require(opened, ref)
            summary, records = store.record(cid)
        text = (
            _markdown(summary, records)
            if fmt == "md"
            else json.dumps(_export_json(summary, records), ensure_ascii=False, indent=2) + "\n"
        )
        if output is None or str(output) == "-":
            rt.out.write(text)
            rt.out.flush()
        else:
            _write_atomic(output, text)


def _export_json(summary: Summary, records: list[Record]) -> dict[str, Any]:
    doc = _summary_json(summary)
    doc["system"] = summary.system
    from mlchat.store import params_json

    doc["params"] = json.loads(params_json(summary.params))
    doc["messages"] = [
        {
            "seq": r.seq,
            "role": r.role,
            "content": r.content,
            "reasoning": r.reasoning,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in r.tool_calls
            ],
            "tool_call_id": r.tool_call_id,
            "is_error": r.is_error,
            "model": r.model,
            "usage": None
            if r.usage is None
            else {"input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens},
            "cost": r.cost,
            "created": r.created,
            "status": r.status,
            "error": r.error,
            **({"parts": _parts_json(r)} if r.parts else {}),
        }
        for r in records
    ]
    return doc


def _fence(text: str, info: str = "") -> str:
    """`text` in a code fence longer than any run of backticks inside it."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip(chr(10))}\n{ticks}\n"


def _markdown(summary: Summary, records: list[Record]) -> str:
    from mlchat.types import ImagePart

    title = summary.name or summary.title or f"Conversation {summary.id}"
    lines = [f"# {' '.join(title.split())}", ""]
    lines.append(f"- id: `{summary.id}`")
    lines.append(f"- model: `{summary.model}` ({summary.dialect})")
    lines.append(f"- created: {summary.created}")
    lines.append(f"- updated: {summary.updated}")
    from mlchat.store import params_json

    params = json.loads(params_json(summary.params))
    if params:
        lines.append("- parameters: " + ", ".join(f"{k} {v}" for k, v in params.items()))
    lines.append("")
    if summary.system:
        lines += ["## System", "", summary.system.rstrip("\n"), ""]
    for r in records:
        heading = {"user": "User", "assistant": "Assistant", "system": "System"}.get(r.role)
        lines += [f"## {heading}" if heading else f"## Tool result (`{r.tool_call_id}`)", ""]
        if r.reasoning:
            lines += ["<details><summary>Reasoning</summary>", "", r.reasoning.rstrip("\n")]
            lines += ["", "</details>", ""]
        if r.content:
            if r.role == "tool":
                lines.append(_fence(r.content))
            else:
                lines += [r.content.rstrip("\n"), ""]
        for image in (p for p in r.parts if isinstance(p, ImagePart)):
            where = image.url or image.source or "image"
            lines += [f"*(image: `{where}`, {image.media_type}, {len(image.data)} bytes)*", ""]
        for call in r.tool_calls:
            lines.append(f"Tool call `{call.name}` (`{call.id}`):")
            lines += ["", _fence(call.arguments, "json")]
        if r.status == "interrupted":
            lines += ["*(interrupted" + (f": {r.error}" if r.error else "") + ")*", ""]
        elif r.status == "failed":
            lines += [f"*(failed: {r.error or 'unknown error'})*", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """The export, written all at once (mlchat/atomic.py): the old file or the whole new one,
    owner-only (it is a chat)."""
    from mlchat.atomic import write_atomic

    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# -- rm, rename ----------------------------------------------------------------------------------


@app.command(
    help=doc(
        """Delete saved conversations.

        Every name is checked before anything is deleted. On a terminal it asks first; without a
        terminal it refuses unless given --yes.

        Examples:

          mlchat sessions rm a1b2
          mlchat sessions rm rust-notes trip-plans --yes
        """
    )
)
def rm(
    ctx: typer.Context,
    refs: Annotated[
        list[str],
        typer.Argument(
            help="Ids, unique id prefixes, or names.", metavar="ID...", show_default=False
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt), _store() as opened:
        store = opened
        if store is None:
            raise UsageError("no saved conversations yet")
        # Every name is checked before anything is deleted.
        ids = list(dict.fromkeys(store.resolve(ref) for ref in refs))
        if not yes:
            if not rt.stdin_tty:
                raise UsageError(
                    "refusing to delete without confirmation when stdin is not a terminal",
                    hint="add --yes",
                )
            if not _confirm(rt, store, ids):
                rt.note("nothing deleted")
                return
        for cid in ids:
            store.delete(cid)
            rt.note(f"deleted {cid}")


def _confirm(rt: Runtime, store: Store, ids: list[str]) -> bool:
    from mlchat.text import escape_controls as printable

    for cid in ids:
        summary, _ = store.record(cid)
        label = f" {printable(summary.name)!r}" if summary.name else ""
        words = f": {printable(summary.title[:50])}" if summary.title else ""
        rt.err.write(f"  {cid}{label} ({summary.messages} messages){words}\n")
    what = "this conversation" if len(ids) == 1 else f"these {len(ids)} conversations"
    rt.discard_typeahead()  # a "y" typed before the question was shown must not delete
    rt.err.write(f"Delete {what}? [y/N] ")
    rt.err.flush()
    assert rt.stdin is not None
    raw = rt.stdin.readline()
    answer = raw.decode(errors="replace")
    if not answer:
        rt.err.write("\n")
    return answer.strip().lower() in ("y", "yes")


@app.command(
    help=doc(
        """Name a conversation; use the name wherever an id goes.

        Names are unique (ASCII case ignored), at most 64 characters, and cannot look like an id.

        Examples:

          mlchat sessions rename a1b2c3d4 rust-notes
          mlchat sessions show rust-notes
        """
    )
)
def rename(
    ctx: typer.Context,
    ref: RefArg,
    name: Annotated[str, typer.Argument(help="The new name.", metavar="NAME", show_default=False)],
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt), _store() as opened:
        store, cid = _require(opened, ref)
        store.rename(cid, name)


# -- search --------------------------------------------------------------------------------------


@app.command(
    help=doc(
        """Search every saved message, showing the matches in context.

        Every word must match (stemmed: borrows finds borrowing); word* matches a prefix. Piped:
        one tab-separated line per match (id, name, message number, role, the match in context).

        Examples:

          mlchat sessions search "borrow checker"
          mlchat sessions search 'lifetime*' -n 5
          mlchat sessions search tokio --json | jq -r '.[].conversation'
        """
    )
)
def search(
    ctx: typer.Context,
    query: Annotated[
        list[str],
        typer.Argument(
            help="Words that must all appear; word* matches a prefix.",
            metavar="QUERY...",
            show_default=False,
        ),
    ],
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        text = " ".join(query)
        if not text.strip():
            raise UsageError("nothing to search for")
        with _store() as store:
            hits = store.search(text, limit or 1_000_000) if store is not None else []
        if as_json:
            _json_out(rt, [_hit_json(h) for h in hits])
        elif rt.stdout_tty:
            _search_tty(rt, hits)
        else:
            for h in hits:
                fields = [h.conversation, h.name or "-", str(h.seq), h.role, h.text]
                rt.out.write("\t".join(_one_line(f) for f in fields) + "\n")
            rt.out.flush()


def _search_tty(rt: Runtime, hits: list[Hit]) -> None:
    if not hits:
        rt.note("no matches")
        return
    from mlchat.ui.console import print_styled

    pieces: list[tuple[str, str | None]] = []
    for h in hits:
        pieces.append((h.conversation, "bold cyan"))
        if h.name:
            pieces.append((f" {h.name}", "bold"))
        pieces.append((f" · {h.role} · {_local(h.created)}\n", "dim"))
        pieces.append(("  ", None))
        pieces += [(text, "bold yellow" if hit else None) for text, hit in h.parts()]
        pieces.append(("\n", None))
    print_styled(rt.out, rt.env, pieces)


# -- helpers -------------------------------------------------------------------------------------


def _summary_json(s: Summary) -> dict[str, Any]:
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


def _hit_json(h: Hit) -> dict[str, Any]:
    return {
        "conversation": h.conversation,
        "name": h.name,
        "seq": h.seq,
        "role": h.role,
        "created": h.created,
        "snippet": h.text,
    }


def _json_out(rt: Runtime, doc: Any) -> None:
    rt.out.write(json.dumps(doc, ensure_ascii=False) + "\n")
    rt.out.flush()


def _one_line(text: str) -> str:
    from mlchat.text import escape_controls as printable

    return " ".join(printable(text).split())


def _local(stamp: str) -> str:
    from mlchat.store import parse_time

    try:
        return parse_time(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _utc(stamp: str) -> str:
    """Seconds precision for scripts: 2024-05-01T12:03:04Z."""
    return stamp.split(".")[0] + "Z" if "." in stamp else stamp


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)
