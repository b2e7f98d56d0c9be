"""`mlchat config path | show | get | set | unset | edit`: read and edit the config file.

`set` and `unset` change one key and keep the rest of the file as written (comments, order,
unknown keys); values are checked by the same table that checks the file when it is read. The API
key is shown only as its last four characters. `edit` (mlchat/cli/config_edit.py) opens the file
in an editor, visudo-style. Imports: typer, config, tomledit, errors, runtime and
cli.common/boundary/config_edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.cli import common
from mlchat.cli.boundary import boundary
from mlchat.cli.helptext import doc
from mlchat.errors import MlchatError, UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat import config


def keys_help() -> str:
    """The key table of `mlchat config --help`, from config.OPTIONS (a test keeps KEYS_HELP equal
    to it)."""
    from mlchat import config

    rows = [f"  {name:<18} {opt.help}" for name, opt in config.OPTIONS.items()]
    return "\n".join(rows)


# Spelled out so that `--help` (of any command: the group is registered at start-up) needs no
# config import; tests/test_cli_config.py fails when it drifts from config.OPTIONS.
KEYS_HELP = """\
  api_key            the ModelsLab API key; set it with `mlchat key set`
  base_url           API base URL
  model              default model id or alias
  api                wire dialect: openai or anthropic
  system             default system prompt
  temperature        randomness: 0 is greedy (0-2; 0-1 on --api anthropic)
  top_p              nucleus sampling mass (0-1)
  max_tokens         longest reply, in tokens (>= 1)
  frequency_penalty  penalise repeated tokens (-2..2)
  presence_penalty   penalise tokens already present (-2..2)
  stop               up to 4 stop sequences
  seed               seed for reproducible sampling
  timeout            longest silence accepted while a reply streams, seconds (> 0)
  retries            retries before any of the reply has arrived (>= 0)
  idle_timeout       longest a stream may send only keep-alives, seconds (> 0)
  max_time           overall deadline of one request, retries included, seconds (> 0)
  log                save conversations (true or false)
  edit_mode          line editing keys in chat: emacs or vi
  compact_at         chat: /compact on its own past this share of the window
  attach_max_files   most files one message may attach (-f, @)
  attach_max_bytes   most bytes of attached text per message, and per image
  aliases            short name = "model id", accepted by -m
  prices             per model id: input and output, USD per 1M tokens (>= 0)
  models             per model id: context = its context window in tokens (>= 1)
  api_key_env        read the key from this environment variable instead
  api_key_cmd        run this command; its first line of output is the key
  api_key_keyring    true: the key is in the system keyring (key set --keyring)
  profile            the profile used when none is given
  profiles           [profiles.NAME] tables: base_url, api, model, key source, ...
  mcp                MCP tool servers: [mcp.NAME] tables, used with --mcp NAME"""


app = typer.Typer(
    help=doc(
        """Read and edit the config file.

        Precedence for every setting: command-line flag > environment > config file > default.

        Keys:

        {keys}

        Examples:

          mlchat config set temperature 0.2
          mlchat config set aliases.fast minimax-minimax-m1
          mlchat config unset temperature
          mlchat config edit
        """
    ).replace("{keys}", KEYS_HELP),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

KeyArg = Annotated[
    str,
    typer.Argument(
        help="A key: model, temperature, ..., aliases.NAME, prices.MODEL.input.",
        metavar="KEY",
        show_default=False,
    ),
]


@app.command(
    "path",
    help=doc(
        """Print the config file's path (it may not exist yet).

        The file is created by the first `mlchat config set` or `mlchat key set`. XDG_CONFIG_HOME
        moves it on Linux and other Unix systems.

        Examples:

          mlchat config path
          "$EDITOR" "$(mlchat config path)"
        """
    ),
)
def path_cmd(ctx: typer.Context) -> None:
    from mlchat import config

    rt = common.runtime(ctx)
    with boundary(rt):
        rt.out.write(f"{config.config_path()}\n")
        rt.out.flush()


@app.command(
    "show",
    help=doc(
        """Print the config file's settings as TOML, the API key masked.

        Comments are not shown (an old key may hide in one); the file itself keeps them.

        Examples:

          mlchat config show
          mlchat config show > settings-backup.toml
        """
    ),
)
def show(ctx: typer.Context) -> None:
    from mlchat import tomledit

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt)
        if not path.exists():
            rt.note(f"mlchat: no config file at {path}; built-in defaults apply")
            return
        _write(rt, tomledit.dumps_document(_masked(file)))
        for name in file:
            _note_env_override(rt, (name,))


@app.command(
    "get",
    help=doc(
        """Print one setting from the config file.

        The API key is masked. When the file does not set the key, the built-in default is
        printed, with a note on stderr.

        Examples:

          mlchat config get temperature
          mlchat config get aliases.fast
          mlchat config get prices.minimax-minimax-m1
        """
    ),
)
def get(ctx: typer.Context, key: KeyArg) -> None:
    from mlchat import config

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt)
        keypath = config.parse_key(key)
        found, value = _lookup(_masked(file), keypath)
        name = keypath[0]
        if not found and name not in config.OPTIONS:
            raise _unknown(key)
        _note_env_override(rt, keypath)
        if found:
            _write(rt, _display(keypath, value))
            return
        default = config.OPTIONS[name].default if len(keypath) == 1 else None
        if default is None or default == ():
            rt.note(f"mlchat: {key} is not set in {path}")
        else:
            rt.note(f"mlchat: {key} is not set in {path}; built-in default:")
            _write(rt, _display(keypath, default))


@app.command(
    "set",
    help=doc(
        """Set one key in the config file, keeping the rest of it as written.

        VALUE is read in the key's type: numbers, true/false, text (quote text with spaces).
        `stop` takes up to four values, or one TOML array ('["END", "STOP"]'). A model id may
        contain dots (prices.Qwen2.5-72B.input) or be quoted (prices."a.b".input). Use
        `mlchat key set` for the API key.

        Examples:

          mlchat config set model meta-llama-3-8B-instruct
          mlchat config set stop END STOP
          mlchat config set prices.minimax-minimax-m1.input 0.4
        """
    ),
    context_settings={"ignore_unknown_options": True},  # negative numbers are values, not options
)
def set_cmd(
    ctx: typer.Context,
    key: KeyArg,
    value: Annotated[
        list[str],
        typer.Argument(
            help="The value (several for stop).", metavar="VALUE...", show_default=False
        ),
    ],
) -> None:
    from mlchat import config

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt, writing=True)
        keypath = config.parse_key(key)
        try:
            parsed = config.parse_value(keypath, value)
        except MlchatError:
            common.warn_readable(rt, path, file)  # nothing will be written to repair it
            raise
        old_mode = config.insecure_mode(path)
        new = config.set_in_file(path, keypath, parsed)
        common.wrote(rt, path, old_mode)
        if rt.stderr_tty:
            from mlchat.tomledit import dumps_value

            shown = config.mask(str(parsed)) if keypath == ("api_key",) else dumps_value(parsed)
            rt.note(f"mlchat: set {key} = {shown} in {path}")
        _note_env_override(rt, keypath)
        try:
            config.resolve(config.Flags(), {}, new, path=path)
        except MlchatError as exc:
            rt.warn(f"saved, but the settings now clash: {exc.message}")


@app.command(
    "unset",
    help=doc(
        """Remove one key or table from the config file.

        The rest of the file is kept as written, and the built-in default applies again. A whole
        table goes too: aliases, or prices.MODEL.

        Examples:

          mlchat config unset temperature
          mlchat config unset aliases.fast
          mlchat config unset prices.minimax-minimax-m1
        """
    ),
)
def unset(ctx: typer.Context, key: KeyArg) -> None:
    from mlchat import config

    rt = common.runtime(ctx)
    with boundary(rt):
        path, file = common.load_config(rt, writing=True)
        keypath = config.parse_key(key)
        present, _ = _lookup(file, keypath)
        if not present:
            common.warn_readable(rt, path, file)  # nothing will be written to repair it
            if keypath[0] not in config.OPTIONS:
                raise _unknown(key)
            rt.note(f"mlchat: {key} was not set in {path}")
            return
        old_mode = config.insecure_mode(path)
        config.unset_in_file(path, keypath)
        common.wrote(rt, path, old_mode)
        if rt.stderr_tty:
            rt.note(f"mlchat: removed {key} from {path}")
        if keypath[0] == "aliases":
            _warn_lost_aliases(rt, file, config.load_file(path))


def _warn_lost_aliases(rt: Runtime, old: dict[str, Any], new: dict[str, Any]) -> None:
    """A model setting that named an alias now gone would be sent as a model id: say so."""
    gone = set(_aliases(old)) - set(_aliases(new))
    uses = [("model", new.get("model"))]
    profiles = new.get("profiles")
    if isinstance(profiles, dict):
        uses += [
            (f"profiles.{name}.model", table.get("model"))
            for name, table in profiles.items()
            if isinstance(table, dict)
        ]
    uses.append(("MLCHAT_MODEL", rt.env.get("MLCHAT_MODEL")))
    for where, value in uses:
        if isinstance(value, str) and value in gone:
            rt.warn(
                f"{where} is '{value}', an alias that no longer exists: it will be sent as a "
                "model id (set the model, or the alias, again)"
            )


def _aliases(file: dict[str, Any]) -> dict[str, Any]:
    found = file.get("aliases")
    return found if isinstance(found, dict) else {}


@app.command(
    "edit",
    help=doc(
        """Edit the config file in $VISUAL or $EDITOR; only a valid edit is saved.

        The editor works on a copy. After it exits, the copy is parsed and checked as `mlchat`
        reads the file; when it does not parse or holds a bad value, you can open it again (as
        visudo does) or quit, leaving the file as it was and your edit in the copy it names.
        Needs a terminal: without one it exits 2 (use `mlchat config set` in scripts). Exit 3
        when you quit with an invalid edit, or another program changed the file meanwhile.

        Examples:

          mlchat config edit
          EDITOR=nano mlchat config edit
        """
    ),
)
def edit_cmd(ctx: typer.Context) -> None:
    from mlchat.cli import config_edit

    rt = common.runtime(ctx)
    with boundary(rt):
        config_edit.edit(rt)


def _unknown(key: str) -> UsageError:
    from mlchat import config

    close = config.suggest(key.partition(".")[0])
    return UsageError(
        f"unknown key '{key}'",
        hint=f"did you mean {close}?" if close else "keys: " + ", ".join(config.OPTIONS),
    )


def _lookup(file: dict[str, Any], keypath: config.KeyPath) -> tuple[bool, Any]:
    node: Any = file
    for part in keypath:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _masked(file: dict[str, Any]) -> dict[str, Any]:
    from mlchat import config

    key = file.get("api_key")
    if isinstance(key, str) and key.strip():
        return {**file, "api_key": config.mask(key.strip())}
    return file


def _display(keypath: config.KeyPath, value: Any) -> str:
    """Text as is; other scalars and lists as TOML values; tables as a TOML snippet."""
    from mlchat import tomledit

    if isinstance(value, str):
        return value + "\n"
    if isinstance(value, dict):
        for part in reversed(keypath):
            value = {part: value}
        return tomledit.dumps_document(value)
    return tomledit.dumps_value(value) + "\n"


def _note_env_override(rt: Runtime, keypath: config.KeyPath) -> None:
    from mlchat import config

    opt = config.OPTIONS.get(keypath[0])
    if opt is not None and opt.env and rt.env.get(opt.env, "").strip():
        rt.note(f"mlchat: note: {opt.env} is set in the environment and overrides {keypath[0]}")


def _write(rt: Runtime, text: str) -> None:
    rt.out.write(rt.scrub(text))
    rt.out.flush()
