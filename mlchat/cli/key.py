"""`mlchat key set | status | remove`: the API key in the config file.

The key is read hidden on a terminal or as one line from a pipe, never from argv (shell history,
the process list). Only its last four characters are ever shown. Imports: typer, config, errors,
runtime and cli.common/boundary.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import MlchatError, UsageError
from mlchat.runtime import Runtime

MAX_PIPED = 64 * 1024

ProfileFlag = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="The key of this \\[profiles.NAME] table \\[default: the top level of the file].",
        metavar="PROFILE",
        show_default=False,
    ),
]

app = typer.Typer(
    help=doc(
        """Store, inspect or remove the ModelsLab API key.

        The key lives in the config file (see `mlchat config path`), readable only by you.
        MODELSLAB_API_KEY in the environment takes precedence over it. Get a key at
        https://modelslab.com/dashboard/api-keys. There is no --api-key flag: a key typed in a
        command line ends up in shell history and the process list.

        Examples:

          mlchat key set
          pass show modelslab | mlchat key set
          mlchat key status
        """
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command(
    "set",
    help=doc(
        """Save the API key in the config file.

        On a terminal the key is read at a hidden prompt; otherwise one line is read from stdin.
        The rest of the file is kept as written; the file is made readable only by you (mode 600).

        Examples:

          mlchat key set
          pass show modelslab | mlchat key set
          printf '%s\\n' "$MODELSLAB_API_KEY" | mlchat key set
        """
    ),
)
def set_key(
    ctx: typer.Context,
    keyring: Annotated[
        bool,
        typer.Option(
            "--keyring",
            help="Store it in the system keyring instead of the file (needs the keyring "
            "package), and set api_key_keyring = true.",
        ),
    ] = False,
    profile: ProfileFlag = None,
) -> None:
    from mlchat import config, keysource, profiles

    rt = common.runtime(ctx)
    with boundary(rt):
        # Read (and check) the file first: a corrupt one fails before the key is asked for.
        path, file = common.load_config(rt, writing=True)
        config.validate_file(file, str(path))
        chosen = profiles.choose(profile, {}, {**file, "profile": None})
        prefix: tuple[str, ...] = ("profiles", chosen.name) if chosen else ()
        table = chosen.table if chosen else file
        where = f"profiles.{chosen.name}" if chosen else "the config file"
        other = [f for f in keysource.sources_in(table) if f != _field(keyring)]
        if other:
            raise UsageError(
                f"{where} already sets {other[0]}: remove it first, so that one source is left",
                hint=f"mlchat config unset {'.'.join((*prefix, other[0]))}",
            )
        try:
            key = _read(rt)
        except MlchatError:
            common.warn_readable(rt, path, file)  # nothing will be written to repair it
            raise
        old_mode = config.insecure_mode(path)
        if keyring:
            account = chosen.name if chosen else keysource.DEFAULT_ACCOUNT
            keysource.keyring_set(account, key)
            if table.get("api_key_keyring") is not True:
                config.set_in_file(path, (*prefix, "api_key_keyring"), True)
            rt.note(
                f"mlchat: key {config.mask(key)} saved in the system keyring "
                f"({keysource.SERVICE}/{account}); {path} says api_key_keyring = true"
            )
        else:
            config.set_in_file(path, (*prefix, "api_key"), config.check_key(key))
            rt.note(f"mlchat: key {config.mask(key)} saved to {path} (mode 600)")
        common.wrote(rt, path, old_mode)
        env_key = rt.env.get(config.KEY_ENV, "").strip()
        if env_key and env_key != key and not chosen:
            rt.warn(f"{config.KEY_ENV} is set in the environment and takes precedence over it")


def _field(keyring: bool) -> str:
    return "api_key_keyring" if keyring else "api_key"


def _read(rt: Runtime) -> str:
    from mlchat import config

    if rt.stdin_tty:
        rt.note(f"Paste your ModelsLab API key (from {config.DASHBOARD_URL}).")
        return common.read_key(rt, UsageError("no key entered; nothing was saved"))
    key = config.check_key(_piped_line(rt))
    rt.secrets.add(key)
    return key


def _piped_line(rt: Runtime) -> str:
    """The single line of piped stdin. Anything after it is refused rather than ignored: a
    pipe that carries more than a key is a mistake worth hearing about."""
    raw = rt.stdin.read(MAX_PIPED + 1) if rt.stdin is not None else b""
    if len(raw) > MAX_PIPED:
        raise UsageError("stdin is too long to be an API key; pipe the key alone, on one line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the API key contains a non-ASCII character; keys are ASCII") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UsageError(
            "no key on stdin",
            hint='run `mlchat key set` on a terminal, or pipe it: echo "$KEY" | mlchat key set',
        )
    if len(lines) > 1:
        raise UsageError(f"expected the key alone on one line; stdin has {len(lines)} lines")
    return lines[0]


@app.command(
    "status",
    help=doc(
        """Show which API key is in use and where it comes from.

        Prints the key's last four characters, its source (MODELSLAB_API_KEY or the config file),
        and the file's path and mode. Exits 3 when there is no key, so scripts can test for one.

        Examples:

          mlchat key status
          mlchat key status >/dev/null 2>&1 || mlchat key set
        """
    ),
)
def status(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="Also read a key that comes from a command or the keyring."),
    ] = False,
    profile: ProfileFlag = None,
) -> None:
    from mlchat import config

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt)
        usable = common.without_bad_params(rt, file, str(path))  # key status uses none of them
        s = config.resolve(config.Flags(profile=profile), rt.env, usable, path=path)
        file_key = config.find_key(None, {}, file)[0]
        out = rt.out
        key = s.api_key
        if key is None and s.key_ref is not None and check:
            key = common.require_key(s, rt)
        if s.profile:
            out.write(f"profile: {s.profile}\n")
        if key is not None:
            out.write(f"key:     {config.mask(key)}\n")
        elif s.key_ref is not None:
            out.write("key:     read when a request needs it (--check reads it now)\n")
        else:
            out.write("key:     none\n")
        if s.key_label:
            where = "config file" if s.key_source == "file" and not s.profile else s.key_label
            out.write(f"source:  {where}\n")
        mode = config.file_mode(path)
        if mode is None:
            detail = "does not exist"
        else:
            held = "no key"
            if file_key is not None:
                held = (
                    "holds the key"
                    if s.key_source == "file" and not s.profile
                    else f"holds key {config.mask(file_key)}, overridden by {config.KEY_ENV}"
                    if s.key_source == "env"
                    else f"holds key {config.mask(file_key)}, not in use"
                )
            detail = f"mode {mode:o}, {held}"
        out.write(rt.scrub(f"file:    {path} ({detail})\n"))
        out.flush()
        if key is None and s.key_ref is None:
            if s.key_label:
                raise common.no_key_error(s.key_label)
            raise common.no_key_error()


@app.command(
    "remove",
    help=doc(
        """Remove the API key from the config file.

        Only the api_key line goes; every other setting in the file is kept. MODELSLAB_API_KEY,
        if set, still applies.

        Examples:

          mlchat key remove
          mlchat key remove && mlchat key status
        """
    ),
)
def remove(
    ctx: typer.Context,
    keyring: Annotated[
        bool,
        typer.Option(
            "--keyring",
            help="Remove it from the system keyring instead, and unset api_key_keyring.",
        ),
    ] = False,
    profile: ProfileFlag = None,
) -> None:
    from mlchat import config, keysource, profiles

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt, writing=True)
        config.validate_file(file, str(path))
        chosen = profiles.choose(profile, {}, {**file, "profile": None})
        prefix: tuple[str, ...] = ("profiles", chosen.name) if chosen else ()
        old_mode = config.insecure_mode(path)
        if keyring:
            account = chosen.name if chosen else keysource.DEFAULT_ACCOUNT
            where = f"{keysource.SERVICE}/{account}"
            if keysource.keyring_delete(account):
                rt.note(f"mlchat: key removed from the system keyring ({where})")
            else:
                rt.note(f"mlchat: no key in the system keyring for {where}")
            if config.unset_in_file(path, (*prefix, "api_key_keyring")):
                common.wrote(rt, path, old_mode)
            return
        if config.unset_in_file(path, (*prefix, "api_key")):
            rt.note(f"mlchat: key removed from {path}")
            common.wrote(rt, path, old_mode)
        else:
            rt.note(f"mlchat: no key in {path}")
        if rt.env.get(config.KEY_ENV, "").strip() and not chosen:
            rt.note(f"mlchat: {config.KEY_ENV} is still set in the environment")
