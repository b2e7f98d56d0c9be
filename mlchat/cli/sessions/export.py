"""`mlchat sessions export`: one conversation as Markdown or JSON, exactly as stored, to stdout
or a file written atomically (mlchat/atomic.py), owner-only. Markdown written to a terminal has
its control characters shown (mlchat.text), never obeyed; JSON escapes them itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.cli.sessions.base import OptionalRefArg, app, read_store, require, summary_json
from mlchat.errors import UsageError
from mlchat.text import json_text

if TYPE_CHECKING:
    from mlchat.store import Record, Summary


@app.command(
    help=doc(
        """Export a conversation as Markdown or JSON, to stdout or a file.

        Without ID, the most recently updated one. -o writes the file atomically (a temporary
        file, then a rename), readable only by you. On a terminal, control characters in the
        text are shown, not obeyed; piped or with -o, the text is exact.

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
            help="Markdown or JSON \\[default: md].",
            show_default=False,
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
    force: Annotated[
        bool, typer.Option("--force", help="Replace the -o file if it exists.")
    ] = False,
) -> None:
    rt = common.runtime(ctx)
    with boundary(rt):
        if fmt not in ("md", "json"):
            raise UsageError(f"--format must be md or json, got '{fmt}'")
        with read_store() as opened:
            store, cid = require(opened, ref)
            summary, records = store.record(cid)
        text = (
            _markdown(summary, records)
            if fmt == "md"
            else json_text(export_json(summary, records), indent=2) + "\n"
        )
        if output is None or str(output) == "-":
            if rt.stdout_tty and fmt == "md":
                from mlchat.text import escape_controls

                text = escape_controls(text)
            rt.out.write(text)
            rt.out.flush()
        else:
            _write_atomic(output, text, force=force)
            if rt.stderr_tty:
                what = "Markdown" if fmt == "md" else "JSON"
                n = summary.messages
                rt.note(
                    f"mlchat: wrote conversation {summary.id[:8]} to {output} ({what}, {n} "
                    f"message{'s' if n != 1 else ''})"
                )


def export_json(summary: Summary, records: list[Record]) -> dict[str, Any]:
    doc = summary_json(summary)
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
            "requested_model": r.requested_model,
            "finish_reason": r.finish_reason,
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
    if summary.summary is not None:
        # /compact: this text is sent in place of the first `replaces` messages (those that are
        # part of the conversation: failure records do not count).
        doc["compact_summary"] = {"text": summary.summary, "replaces": summary.compacted}
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
    included = 0
    marked = summary.summary is None
    for r in records:
        if not marked and r.included and included == summary.compacted:
            lines += _summary_markdown(summary)
            marked = True
        included += r.included
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
    if not marked:
        lines += _summary_markdown(summary)
    return "\n".join(lines).rstrip("\n") + "\n"


def _summary_markdown(summary: Summary) -> list[str]:
    head = f"## Summary (/compact: sent in place of the {summary.compacted} messages above)"
    return [head, "", (summary.summary or "").rstrip("\n"), ""]


def _write_atomic(path: Path, text: str, *, force: bool) -> None:
    """The export, written all at once (mlchat/atomic.py): the old file or the whole new one,
    owner-only (it is a chat). An existing file is replaced only with --force."""
    from mlchat.atomic import write_atomic

    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    try:
        write_atomic(path, text, replace=force)
    except FileExistsError:
        raise UsageError(
            f"{path} exists; nothing was written", hint="add --force to replace it"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


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
