"""`mlchat models`: the model list, from the service or the day-old cache, filtered by terms."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from mlchat.cli import common
from mlchat.cli import options as o
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import NetworkError, RateLimited, UsageError
from mlchat.runtime import Runtime
from mlchat.text import escape_controls, json_text

if TYPE_CHECKING:
    from mlchat import models as M
    from mlchat.config import Settings
    from mlchat.types import ModelInfo

HELP = doc(
    """List the models the service offers (cached for a day).

    TERMS narrow the list: every term must appear, ignoring case, in the id, the owner or the
    name. On a terminal: a table, with the default model and your aliases marked; piped: one id
    per line; --json: a JSON array of objects.

    The list is cached for a day; --refresh fetches it again. When the service cannot be reached,
    the cached list is shown with a note saying how old it is. A fresh cached list needs no API
    key. Any unique fragment of an id works as a model name (`mlchat ask -m qwen2.5-vl ...`), and
    shell completion offers the cached ids after -m.

    Examples:

      mlchat models
      mlchat models llama 70b
      mlchat models --json | jq -r '.[].id'
    """
)


def models(
    ctx: typer.Context,
    terms: Annotated[
        list[str] | None,
        typer.Argument(
            help="Words that must all appear in the id, owner or name.", metavar="TERMS"
        ),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch the list again even if the cache is fresh.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON array: id, owned_by, created, display_name, context, aliases, "
            "default.",
            rich_help_panel=o.OUTPUT,
        ),
    ] = False,
    base_url: o.BaseUrlOpt = None,
    profile: o.ProfileOpt = None,
    timeout: o.TimeoutOpt = None,
    retries: o.RetriesOpt = None,
) -> None:
    from mlchat import models as M
    from mlchat.config import Flags

    rt = common.runtime(ctx)
    with boundary(rt):
        flags = Flags(base_url=base_url, timeout=timeout, retries=retries, profile=profile)
        s = common.settings(rt, flags, sampling=False)
        cached, fetched = obtain(rt, s, refresh=refresh)
        chosen = M.select(cached.models, terms or [])
        default = _default(s, cached)
        aliases: dict[str, list[str]] = {}
        for name, target in sorted(s.aliases.items()):
            aliases.setdefault(target, []).append(name)
        if not chosen and terms:
            rt.note(f"mlchat: no model matches {' '.join(terms)!r}")
        if as_json:
            from mlchat import context

            docs = [
                {
                    **M.as_json(m),
                    # The window from the config and the shipped table too, not only the list's.
                    "context": context.window(m.id, s.contexts, (m,)),
                    "aliases": aliases.get(m.id, []),
                    "default": m.id == default,
                }
                for m in chosen
            ]
            rt.out.write(json_text(docs, indent=2) + "\n")
        elif rt.stdout_tty:
            caption = f"{len(chosen)} of {len(cached.models)} models" if terms else None
            caption = caption or f"{len(cached.models)} models"
            if not fetched:
                caption += f" · cached {M.age_text(cached.age())} (--refresh to update)"
            _table(rt, chosen, default, aliases, caption)
        else:
            # An id is the service's text: one holding ESC or a newline is shown, never obeyed
            # (as `sessions list` does); --json keeps the exact value.
            rt.out.write("".join(f"{escape_controls(m.id, keep='')}\n" for m in chosen))
        rt.out.flush()


def obtain(rt: Runtime, s: Settings, *, refresh: bool) -> tuple[M.Cached, bool]:
    """The list and whether it was just fetched: a fresh cache as is, else the service, else (when
    the service cannot be reached) the cache however old, with a note saying how old."""
    from mlchat import models as M

    where = M.cache_path(s.profile)
    cached = M.load(s.base_url, where)
    if cached is not None and cached.fresh() and not refresh:
        return cached, False
    try:
        with common.client(rt, s) as client:
            fetched = client.list_models()
    except (NetworkError, RateLimited) as exc:
        if cached is None:
            raise
        rt.warn(
            f"{exc.message}; showing the model list cached {M.age_text(cached.age())}"
            f" ({len(cached.models)} models)"
        )
        return cached, False
    try:
        return M.save(fetched, s.base_url, path=where), True
    except OSError as exc:
        rt.warn(f"cannot cache the model list in {where}: {exc.strerror or exc}")
        return M.Cached(tuple(fetched), time.time(), s.base_url), True


def _default(s: Settings, cached: M.Cached) -> str:
    """The id of the default model, for marking; an ambiguous MLCHAT_MODEL must not stop the
    command that helps to fix it."""
    from mlchat import models as M

    try:
        return M.resolve_model(s.model, s.aliases, [m.id for m in cached.models])
    except UsageError:
        return s.model


def _table(
    rt: Runtime,
    chosen: list[ModelInfo],
    default: str,
    aliases: dict[str, list[str]],
    caption: str,
) -> None:
    from mlchat.ui.table import Column, print_table

    named = any(m.display_name and m.display_name != m.id for m in chosen)
    columns = [
        Column("ID", fixed=True, style="cyan"),
        Column("OWNER", shrink=True, drop=3),
        Column("CREATED", fixed=True, drop=2),
        *([Column("NAME", drop=1)] if named else []),
        Column("NOTES"),
    ]
    rows: list[list[str]] = []
    styles: list[str | None] = []
    for m in chosen:
        notes = (["default"] if m.id == default else []) + (
            ["alias " + ", ".join(aliases[m.id])] if m.id in aliases else []
        )
        name = [m.display_name or ""] if named else []
        rows.append([m.id, m.owned_by or "", _date(m.created), *name, "; ".join(notes)])
        styles.append("bold" if m.id == default else None)
    print_table(rt.out, rt.env, columns, rows, styles=styles, caption=caption)


def _date(created: int | None) -> str:
    from datetime import UTC, datetime

    if created is None:
        return ""
    try:
        return datetime.fromtimestamp(created, UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return ""
