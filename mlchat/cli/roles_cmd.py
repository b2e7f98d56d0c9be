"""`mlchat roles list | show | edit | rm`: the role files in the config directory's `roles/`.

`edit` opens a copy in $VISUAL or $EDITOR (run without a shell, as git does with a plain
command) and keeps it only if it is a valid role: an invalid edit leaves the role as it was and
the edited copy where the message says, so nothing typed is lost. Imports: typer, roles, errors,
cli.common/boundary.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.cli.role_use import complete_role
from mlchat.errors import ConfigError, MlchatError, UsageError
from mlchat.text import json_text

app = typer.Typer(
    help=doc(
        """List, show, edit or remove roles.

        A role is a named bundle of a system prompt, model, sampling parameters and a prompt
        template ({input} is what you give, {NAME} a value given with -p NAME VALUE), kept in
        roles/NAME.toml in the config directory. Use one with `mlchat ask -r NAME`. The roles
        code, shell and explain are built in; a file of the same name takes their place.

        Examples:

          mlchat roles list
          mlchat roles edit review
          git diff | mlchat ask -r review
        """
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

NameArg = Annotated[
    str, typer.Argument(help="The role's name.", metavar="ROLE", autocompletion=complete_role)
]

SKELETON = """\
# A role for mlchat: every key is optional. See `mlchat roles --help`.
description = ""
system = ""
# {input} is what you give (the argument and stdin); {name} is a value given with -p name VALUE.
template = "{input}"
# model = "minimax-minimax-m1"
# temperature = 0.7
"""


@app.command(
    "list",
    help=doc(
        """List the roles: built-in ones, files, and files that replace a built-in.

        Each line has the name, where the role comes from and its description; --json gives
        one JSON array.

        Examples:

          mlchat roles list
          mlchat roles list --json | jq -r '.[].name'
        """
    ),
)
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:

    from mlchat import roles
    from mlchat.text import escape_controls

    rt = common.runtime(ctx)
    with boundary(rt):
        rows = []
        for name, where in roles.names().items():
            try:
                description = roles.load(name).description
            except MlchatError as exc:
                description = f"(invalid: {exc.message})"
            kind = {"builtin": "built-in", "file": "file", "overrides": "file, replaces built-in"}
            rows.append({"name": name, "source": kind[where], "description": description})
        if as_json:
            rt.out.write(json_text(rows, indent=2) + "\n")
        else:
            width = max(len(r["name"]) for r in rows)
            for r in rows:
                line = f"{r['name']:<{width}}  {r['source']:<8}  {r['description']}".rstrip()
                rt.out.write(escape_controls(line) + "\n")
        rt.out.flush()


@app.command(
    "show",
    help=doc(
        """Print a role's file (or the built-in role's text).

        The text is printed as the file holds it, so it can be saved and shared.

        Examples:

          mlchat roles show shell
          mlchat roles show review > review.toml     # to share it
        """
    ),
)
def show(ctx: typer.Context, name: NameArg) -> None:
    from mlchat import roles
    from mlchat.text import escape_controls

    rt = common.runtime(ctx)
    with boundary(rt):
        text = roles.text_of(roles.check_name(name))
        rt.out.write(escape_controls(text) if rt.stdout_tty else text)
        rt.out.flush()


@app.command(
    "edit",
    help=doc(
        """Edit a role in $VISUAL or $EDITOR; it is kept only if it is valid.

        A new name starts from a skeleton, a built-in role from its text (the file then takes its
        place). An invalid edit leaves the role as it was; the edited copy is kept and named.

        Examples:

          mlchat roles edit review
          EDITOR=nano mlchat roles edit shell
        """
    ),
)
def edit(ctx: typer.Context, name: NameArg) -> None:
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    from mlchat import roles

    rt = common.runtime(ctx)
    with boundary(rt):
        roles.check_name(name)
        if not rt.stdin_tty:  # as `config edit`: an editor needs a terminal
            raise UsageError(
                "roles edit needs a terminal to run the editor in",
                hint="in a script, write the role's file, or use `mlchat ask --save-role NAME`",
            )
        path = roles.path_of(name)
        try:
            before = roles.text_of(name)
        except UsageError:
            before = SKELETON
        editor = rt.env.get("VISUAL", "").strip() or rt.env.get("EDITOR", "").strip() or "vi"
        try:
            argv = shlex.split(editor)
        except ValueError:
            raise UsageError(f"cannot read the editor command '{editor}'") from None
        fd, tmp = tempfile.mkstemp(prefix=f"mlchat-role-{name}-", suffix=".toml")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(before)
        try:
            done = subprocess.run([*argv, tmp], check=False)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise UsageError(f"cannot run the editor '{argv[0]}': {exc.strerror}") from None
        after = Path(tmp).read_text(encoding="utf-8", errors="replace")
        if done.returncode != 0:
            raise UsageError(
                f"the editor exited with status {done.returncode}; the role was not changed",
                hint=f"your edit is in {tmp}",
            )
        if after == before:
            Path(tmp).unlink(missing_ok=True)
            rt.note(f"mlchat: role {name} unchanged")
            return
        try:
            roles.parse(name, after, None, where=str(path))
        except ConfigError as exc:
            raise ConfigError(
                f"{exc.message}; the role was not changed",
                hint=f"your edit is in {tmp}: fix it and run `mlchat roles edit {name}` again",
            ) from None
        saved = roles.save(name, after)
        Path(tmp).unlink(missing_ok=True)
        rt.note(f"mlchat: role {name} saved to {saved}")


@app.command(
    "rm",
    help=doc(
        """Remove a role's file.

        Only roles/NAME.toml goes; a built-in role of the same name applies again.

        Examples:

          mlchat roles rm review
          mlchat roles rm shell      # back to the built-in shell role
        """
    ),
)
def rm(ctx: typer.Context, name: NameArg) -> None:
    from mlchat import roles

    rt = common.runtime(ctx)
    with boundary(rt):
        path = roles.path_of(roles.check_name(name))
        try:
            path.unlink()
        except FileNotFoundError:
            if name in roles.BUILTIN:
                raise UsageError(
                    f"'{name}' is a built-in role; there is no file to remove"
                ) from None
            raise UsageError(
                f"no role file named '{name}'", hint="see `mlchat roles list`"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot remove {path}: {exc.strerror or exc}") from None
        again = " (the built-in role applies again)" if name in roles.BUILTIN else ""
        rt.note(f"mlchat: role {name} removed ({path}){again}")
