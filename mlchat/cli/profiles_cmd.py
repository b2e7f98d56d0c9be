"""`mlchat profiles`: the [profiles.NAME] tables of the config file, the active one marked.

Each row is what the profile resolves to (base URL, dialect, model, where its key comes from), so
the listing shows the effect of the precedence rules rather than the raw tables. A key is never
shown, and no key command or keyring is consulted. Imports: typer, config, profiles, cli.common.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import MlchatError
from mlchat.text import json_text

HELP = doc(
    """List the profiles of the config file and mark the active one.

    A profile is a [profiles.NAME] table of config.toml (base_url, api, model, the key's source,
    sampling settings...). One is chosen by --profile NAME, then MLCHAT_PROFILE, then
    `profile = "NAME"` in the file; `default` is the top level of the file.

    Examples:

      mlchat profiles
      mlchat profiles --json
      mlchat profiles --json | jq -r '.[] | select(.active) | .name'
    """
)


def profiles(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:

    from mlchat import config, keysource
    from mlchat import profiles as P

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt)
        config.validate_file(file, str(path))
        chosen = P.choose(None, rt.env, file)
        active = chosen.name if chosen else P.DEFAULT
        rows: list[dict[str, Any]] = []
        for name in [P.DEFAULT, *P.names(file)]:
            row: dict[str, Any] = {"name": name, "active": name == active}
            try:
                # The file's values only: the environment would make every row look the same.
                s = config.resolve(config.Flags(profile=name), {}, file, path=path)
            except MlchatError as exc:
                row["error"] = exc.message
            else:
                seen = (
                    P.overlay(file, P.Profile(name, file["profiles"][name])) if s.profile else file
                )
                fields = keysource.sources_in(seen)
                row.update(
                    base_url=s.base_url,
                    api=s.dialect,
                    model=s.model,
                    key=fields[0] if fields else "none",
                )
            rows.append(row)
        if as_json:
            rt.out.write(json_text(rows, indent=2) + "\n")
        else:
            for row in rows:
                mark = "*" if row["active"] else " "
                rest = (
                    f"error: {row['error']}"
                    if "error" in row
                    else f"{row['base_url']}  {row['api']}  {row['model']}  key: {row['key']}"
                )
                rt.out.write(rt.scrub(f"{mark} {row['name']}  {rest}\n"))
        rt.out.flush()
