"""`mlchat sessions show`: one conversation as readable text, control characters in the stored
text neutralised (`export` gives the exact text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.cli.sessions.base import (
    JsonOpt,
    OptionalRefArg,
    app,
    count,
    json_out,
    local_time,
    read_store,
    require,
)

if TYPE_CHECKING:
    from mlchat.runtime import Runtime
    from mlchat.store import Record, Summary


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
def show(ctx: typer.Context, ref: OptionalRefArg = None, as_json: JsonOpt = False) -> None:
    rt = common.runtime(ctx)
    with boundary(rt), read_store() as opened:
        store, cid = require(opened, ref)
        summary, records = store.record(cid)
        if as_json:  # the same document as `sessions export -f json`
            from mlchat.cli.sessions.export import export_json

            json_out(rt, export_json(summary, records))
            return
        if rt.stdout_tty:
            from mlchat.ui.console import wants_plain

            if wants_plain(rt.env, True, False):  # TERM=dumb: styled text, no Markdown
                from mlchat.ui.console import print_styled

                print_styled(rt.out, rt.env, _show(summary, records))
                return
            from mlchat.ui.transcript import draw

            columns, lines = _screen(rt)
            drawn = draw(_show(summary, records, markdown=True), rt.env, columns)
            _page(rt, drawn, lines)
        else:
            rt.out.write("".join(text for text, _ in _show(summary, records)))
            rt.out.flush()


def _screen(rt: Runtime) -> tuple[int, int]:
    """The terminal's columns and lines (COLUMNS and LINES win, as for rich)."""
    import contextlib
    import os

    size = os.terminal_size((80, 24))
    with contextlib.suppress(OSError, ValueError, AttributeError):
        size = os.get_terminal_size(rt.out.fileno())
    columns = rt.env.get("COLUMNS", "")
    lines = rt.env.get("LINES", "")
    return (
        int(columns) if columns.isdigit() and int(columns) > 0 else size.columns,
        int(lines) if lines.isdigit() and int(lines) > 0 else size.lines,
    )


def _page(rt: Runtime, text: str, lines: int) -> None:
    """`text` on stdout, through the pager when it is taller than the screen: $PAGER (empty or
    `cat`: none), else `less -R`, with LESS=FRX unless set, as git does. The pager gets no API
    key in its environment, and less runs in its secure mode (no shell from a stored reply)."""
    import shlex
    import shutil
    import subprocess

    argv: list[str] = []
    if text.count("\n") >= lines:
        try:
            argv = shlex.split(rt.env.get("PAGER", "less -R"))
        except ValueError:
            argv = ["less", "-R"]
        if argv in (["cat"], []) or shutil.which(argv[0], path=rt.env.get("PATH")) is None:
            argv = []
    if argv:
        env = {k: v for k, v in rt.env.items() if k != "MODELSLAB_API_KEY" and v not in rt.secrets}
        env.setdefault("LESS", "FRX")
        env.setdefault("LESSSECURE", "1")
        rt.out.flush()
        try:
            subprocess.run(argv, input=text.encode(), stdout=rt.out, env=env, check=False)
            return
        except (OSError, ValueError):
            pass  # no pager after all (or no file descriptor to give it): print instead
    rt.out.write(text)
    rt.out.flush()


def _show(
    summary: Summary, records: list[Record], *, markdown: bool = False
) -> list[tuple[str, str | None]]:
    """The conversation as styled pieces. With `markdown` (a terminal), replies are Markdown
    pieces and reasoning is labelled and indented."""
    from mlchat.text import escape_controls as printable
    from mlchat.ui.transcript import MARKDOWN

    out: list[tuple[str, str | None]] = [(summary.id, "bold cyan")]
    if summary.name:
        out.append((f"  {printable(summary.name)}", "bold"))
    out.append(("\n", None))
    out.append(
        (
            f"{printable(summary.model)} ({summary.dialect}) · {summary.messages} messages · "
            f"created {local_time(summary.created)} · updated {local_time(summary.updated)}\n",
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
    included = 0
    marked = summary.summary is None
    for r in records:
        if not marked and r.included and included == summary.compacted:
            out += _summary_mark(summary)
            marked = True
        included += r.included
        head = [r.role, local_time(r.created)]
        if r.role == "assistant" and r.model:
            head.insert(1, printable(r.model))
        if r.usage is not None:
            head.append(f"{count(r.usage.input_tokens)} in, {count(r.usage.output_tokens)} out")
        if r.cost is not None:
            head.append(f"${r.cost:.6f}".rstrip("0").rstrip("."))
        if r.tool_call_id:
            head.append(f"result of {printable(r.tool_call_id)}")
        out.append(("\n── " + " · ".join(head) + "\n", "bold"))
        if r.reasoning and markdown:
            out.append(("reasoning\n", "dim bold"))
            thought = printable(r.reasoning).rstrip("\n").split("\n")
            out.append(("".join(f"  │ {line}\n" for line in thought), "dim italic"))
            if r.content:
                out.append(("\n", None))
        elif r.reasoning:
            out.append((printable(r.reasoning).rstrip("\n") + "\n", "dim italic"))
            if r.content:
                out.append(("\n", None))
        if r.parts:
            out += _attachments(r)
        elif r.content and markdown and r.role == "assistant":
            out.append((r.content, MARKDOWN))
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
    if not marked:  # the summary stands for every message (/compact 0)
        out += _summary_mark(summary)
    return out


def _summary_mark(summary: Summary) -> list[tuple[str, str | None]]:
    """Where /compact's summary begins: what is sent in place of the messages above it."""
    from mlchat.text import escape_controls as printable

    head = f"\n── summary by /compact (sent in place of the {summary.compacted} messages above)\n"
    return [(head, "bold magenta"), (printable(summary.summary or "").rstrip("\n") + "\n", None)]


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
