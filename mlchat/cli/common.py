"""Wiring shared by the commands: the Runtime from the context, the config file, settings, model
names, the API key (with the first-run prompt), the client, and the conversation store with its
turn log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat.errors import ConfigError, MlchatError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat import config

    # config (with params and types) is imported inside the functions: `--help` and completion
    # import this module and never resolve settings.
    from mlchat.client import Client
    from mlchat.session import Conversation, TurnLog
    from mlchat.store import Store

# Options of the commands that save conversations (`ask`, and `chat`).
CONVERSATION = "Conversation"
NoLogOpt = Annotated[
    bool,
    typer.Option(
        "--no-log",
        help="Do not save this conversation (config: log = false).",
        rich_help_panel=CONVERSATION,
    ),
]
ContinueOpt = Annotated[
    bool,
    typer.Option(
        "--continue",
        "-c",
        help="Continue the most recently updated saved conversation.",
        rich_help_panel=CONVERSATION,
    ),
]

SessionOpt = Annotated[
    str | None,
    typer.Option(
        "--session",
        help="Resume the saved conversation with this id, id prefix or name.",
        rich_help_panel=CONVERSATION,
        metavar="ID_OR_NAME",
    ),
]


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime().bind()
    return root.obj


def load_config(
    rt: Runtime, *, writing: bool = False, using: bool = False
) -> tuple[Path, dict[str, Any]]:
    """The config file's path and contents. Every key mlchat can see is registered as a secret
    first, so no later message can show it; a key file that others can read gets the one warning
    (unless the command is about to rewrite it, which repairs the mode: see `wrote`); an unknown
    key gets a warning (a typo would otherwise be ignored in silence).

    A file that another user can write, holding a key or a base URL, is refused (ConfigError)
    when `using` its settings for a request, and warned about when only showing them."""
    from mlchat import config

    env_key = rt.env.get(config.KEY_ENV, "").strip()
    if env_key:
        rt.secrets.add(env_key)
    path = config.config_path()
    file = config.load_file(path)
    profiles = file.get("profiles")
    tables = [file, *(profiles.values() if isinstance(profiles, dict) else ())]
    for table in tables:
        file_key = table.get("api_key") if isinstance(table, dict) else None
        if isinstance(file_key, str) and file_key.strip():
            rt.secrets.add(file_key.strip())
    if using:
        config.refuse_untrusted(path, file)
    elif not writing:
        try:
            config.refuse_untrusted(path, file)
        except ConfigError as exc:
            rt.warn(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
    if not writing:
        warn_readable(rt, path, file)
    for name in config.unknown_keys(file):
        close = config.suggest(name)
        rt.warn(
            f"unknown key '{name}' in {path} is ignored"
            + (f" (did you mean {close}?)" if close else "")
        )
    return path, file


def warn_readable(rt: Runtime, path: Path, file: dict[str, Any]) -> None:
    """The one warning about a key file that group or others can read."""
    from mlchat import config

    key = file.get("api_key")
    if isinstance(key, str) and key.strip() and (mode := config.insecure_mode(path)) is not None:
        rt.warn(
            f"{path} holds the API key and is readable by others (mode {mode:o}); "
            f"run: chmod 600 {path}"
        )


def wrote(rt: Runtime, path: Path, old_mode: int | None) -> None:
    """After a write (always mode 600): say so when that closed a file others could read."""
    if old_mode is not None:
        rt.note(f"mlchat: {path} was readable by others (mode {old_mode:o}); it is now 600")


def settings(rt: Runtime, flags: config.Flags, *, sampling: bool = True) -> config.Settings:
    """The settings of a command. One that sends no chat request (`sampling=False`: models,
    tokens) is not stopped by a bad sampling parameter in the file, which it does not use: it
    warns, and goes on without it."""
    from mlchat import config

    path, file = load_config(rt, using=True)
    if not sampling:
        file = without_bad_params(rt, file, str(path))
    resolved = config.resolve(flags, rt.env, file, path=path)
    if resolved.api_key:
        rt.secrets.add(resolved.api_key)
    return resolved


def without_bad_params(rt: Runtime, file: dict[str, Any], where: str) -> dict[str, Any]:
    from mlchat import config

    def clean(table: dict[str, Any], prefix: str) -> dict[str, Any]:
        kept = dict(table)
        for name, value in table.items():
            opt = config.OPTIONS.get(name)
            if opt is None or opt.kind != "param":
                continue
            try:
                config.check_option((name,), value)
            except MlchatError as exc:
                rt.warn(f"{where}: {prefix}{exc.message}; ignored here (ask and chat stop on it)")
                del kept[name]
        return kept

    cleaned = clean(file, "")
    profiles = cleaned.get("profiles")
    if isinstance(profiles, dict):
        cleaned["profiles"] = {
            name: clean(table, f"profiles.{name}: ") if isinstance(table, dict) else table
            for name, table in profiles.items()
        }
    return cleaned


def resolve_model(rt: Runtime, s: config.Settings) -> config.Settings:
    """`s` with its model name turned into an id: exact id, alias, or unique fragment of an id in
    the cached model list (never the network). An ambiguous fragment raises UsageError (exit 2)
    before any request is made."""
    from mlchat import models

    ids = models.cached_ids(s.base_url, models.cache_path(s.profile))
    model = models.resolve_model(s.model, s.aliases, ids)
    if model == s.model:
        return s
    if rt.stderr_tty:  # a fragment picks one id: say which, so a surprise shows at once
        rt.note(f"mlchat: model '{s.model}' is {model}")
    elif rt.debug:
        rt.note(f"mlchat: debug: model '{s.model}' is {model}")
    return replace(s, model=model)


def no_key_error(label: str | None = None) -> ConfigError:
    from mlchat import config

    if label:  # api_key_env names a variable that is empty or unset
        return ConfigError(f"no API key: {label} is empty or unset")
    return ConfigError(
        f"no API key: set {config.KEY_ENV} or run `mlchat key set`",
        hint=f"get a key at {config.DASHBOARD_URL}",
    )


def require_key(s: config.Settings, rt: Runtime | None = None) -> str:
    """The key in use. With none anywhere, on a terminal (stdin and stderr), ask for it once and
    save it; elsewhere (scripts, pipes, CI) fail before any request is made."""
    from mlchat import config

    if s.api_key:
        return s.api_key
    if s.key_ref is not None:  # a command or the keyring: asked now, once per process
        env = rt.env if rt is not None else {}
        if rt is not None and rt.debug:
            rt.note(f"mlchat: debug: reading the API key from the {s.key_ref.describe()}")
        key = s.key_ref.get(env, stdin_tty=bool(rt and rt.stdin_tty))
        if rt is not None:
            rt.secrets.add(key)
        return key
    if s.key_label:  # api_key_env names a variable that is not set
        raise no_key_error(s.key_label)
    if rt is not None and rt.stdin_tty and rt.stderr_tty:
        return first_run(rt, s.path or config.config_path())
    raise no_key_error()


def read_key(rt: Runtime, empty: MlchatError) -> str:
    """A key typed at the hidden prompt; `empty` is raised when none is given (Enter, Ctrl-D)."""
    from mlchat import config

    rt.discard_typeahead()  # only what is typed (or pasted) at the prompt is the key
    try:
        raw = rt.read_secret("API key (input hidden): ")
    except EOFError:
        rt.note("")
        raise empty from None
    if not raw.strip():
        raise empty
    key = config.check_key(raw)
    rt.secrets.add(key)
    return key


def first_run(rt: Runtime, path: Path) -> str:
    from mlchat import config

    rt.note(f"mlchat: no API key yet. Get one at {config.DASHBOARD_URL}")
    rt.note(f"mlchat: it will be saved to {path}, readable only by you.")
    key = read_key(rt, no_key_error())
    try:
        config.save_key(path, key)
    except ConfigError as exc:
        # The key still works for this run; losing the user's answer would be worse.
        rt.warn(f"{exc.message}; the key is used for this run only")
    else:
        rt.note(f"mlchat: key {config.mask(key)} saved to {path}")
    return key


def rejected_key_hint(s: config.Settings) -> str:
    """The 401 hint, naming where the rejected key came from (as `mlchat key status` does):
    "set MODELSLAB_API_KEY" is no help when that variable is what was rejected."""
    from mlchat import config

    if s.key_source == "env":
        return (
            f"the rejected key is the one in {config.KEY_ENV}: correct it, or unset it to use "
            "the config file's (`mlchat key status` shows both)"
        )
    if s.key_source == "file":
        where = f"the [profiles.{s.profile}] table of " if s.profile else ""
        return (
            f"the rejected key is the one in {where}the config file: replace it with "
            "`mlchat key set` (in a chat: /key)"
        )
    if s.key_ref is not None:
        return f"the rejected key came from the {s.key_ref.describe()}: check what it prints"
    if s.key_label:
        return f"the rejected key came from the {s.key_label}"
    return f"set {config.KEY_ENV} or run `mlchat key set`"


def client(rt: Runtime, s: config.Settings) -> Client:
    from mlchat.client import Client, RetryPolicy, Timeouts

    return Client(
        s.base_url,
        require_key(s, rt),
        timeouts=Timeouts(read=s.timeout, idle=s.idle_timeout, total=s.max_time),
        retry=RetryPolicy(retries=s.retries),
        transport=rt.transport,
        debug=(lambda line: rt.note(rt.scrub(f"mlchat: debug: {line}"))) if rt.debug else None,
        status=lambda line: rt.note(rt.scrub(f"mlchat: {line}")),
        sleep=rt.sleep,
        clock=rt.clock,
        auth_hint=rejected_key_hint(s),
    )


def db_path() -> Path:
    from mlchat import config
    from mlchat.store import DB_NAME

    return config.data_dir() / DB_NAME


def logging_enabled(s: config.Settings, no_log: bool) -> bool:
    """False with --no-log or `log = false` in the config file (validated by config)."""
    return s.log and not no_log


def open_store(*, create: bool = True) -> Store | None:
    """The conversation store; None when it does not exist and `create` is false. StoreError
    (exit 3, the file left untouched) when it cannot be opened."""
    from mlchat.store import Store

    path = db_path()
    if not create and not path.exists():
        return None
    return Store.open(path)


@contextmanager
def conversation_log(
    rt: Runtime,
    s: config.Settings,
    *,
    no_log: bool,
    need_store: bool = False,
    want_store: bool = False,
) -> Iterator[tuple[Store | None, TurnLog]]:
    """The store and the turn log for a command that chats (`ask`, the REPL).

    With logging off the log is a NullLog, and the store is opened only if `need_store` (to
    continue or resume a conversation without saving the new turns) or `want_store` (for the
    REPL's /save and /load). A store that cannot be opened is an error when it is needed,
    otherwise a warning: the chat goes on unsaved. When only the log needs it, the store is
    opened on the log's first write, after the request has left (send first: issue 23), and
    the first item of the pair is None.
    """
    from mlchat.session import NullLog, OpenedLog

    enabled = logging_enabled(s, no_log)
    opened: list[Store] = []

    def store_or_none() -> Store | None:
        from mlchat.store import StoreError

        try:
            store = open_store()
        except StoreError as exc:
            if need_store:
                raise
            lost = "this conversation will not be saved" if enabled else "/save and /load are off"
            rt.warn(f"{exc.message}; {lost}")
            if exc.hint:
                rt.note(f"hint: {exc.hint}")
            return None
        opened.extend([store] if store is not None else [])
        return store

    def log_of(store: Store | None) -> TurnLog:
        return store_log(rt, s, store) if store is not None and enabled else NullLog()

    try:
        if need_store or want_store:
            store = store_or_none()
            yield store, log_of(store)
        elif enabled:
            yield None, OpenedLog(lambda: log_of(store_or_none()))
        else:
            yield None, NullLog()
    finally:
        for store in opened:
            store.close()


def store_log(rt: Runtime, s: config.Settings, store: Store) -> TurnLog:
    """The log that saves every turn in `store` (also what `/save` starts under --no-log)."""
    from mlchat import prices
    from mlchat.turnlog import StoreLog

    return StoreLog(store, rt.warn, cost=lambda model, usage: prices.cost(model, usage, s.prices))


def resumed(
    rt: Runtime, flags: config.Flags, *, continue_latest: bool = False, ref: str | None = None
) -> config.Flags:
    """`flags` for resuming (`-c`, `--session`): the profile the conversation was held with, unless
    --profile names another (the conversation's service beats MLCHAT_PROFILE and the file's
    `profile`). A profile that is gone from the config file is a warning, not a dead end."""
    from mlchat import config, profiles

    if flags.profile is not None or not (continue_latest or ref):
        return flags
    try:
        store = open_store(create=False)
    except MlchatError:
        return flags  # the command opens it again and reports the problem
    if store is None:
        return flags
    try:
        if ref is not None:
            summary = store.record(store.resolve(ref))[0]
        else:
            latest = store.conversations(limit=1)
            if not latest:
                return flags
            summary = latest[0]
    except MlchatError:
        return flags
    finally:
        store.close()
    name = summary.profile
    if name is None:
        return flags
    known = [profiles.DEFAULT, *profiles.names(config.load_file(config.config_path()))]
    if name not in known:
        from mlchat.text import escape_controls

        rt.warn(f"the conversation's profile '{escape_controls(name)}' is gone; using the current")
        return flags
    return replace(flags, profile=name)


def starting_conversation(
    rt: Runtime,
    s: config.Settings,
    flags: config.Flags,
    store: Store | None,
    *,
    continue_latest: bool = False,
    ref: str | None = None,
) -> Conversation:
    """A new conversation; or the latest saved one (`-c`); or the one named by `ref`
    (`--session`). A resumed conversation keeps its model, dialect, system prompt and
    parameters, except where a flag was given."""
    from mlchat.session import Conversation

    found: Conversation | None = None
    if store is not None and ref is not None:
        found = store.find(ref)
    elif store is not None and continue_latest:
        found = store.latest()
        if found is None:
            rt.note("mlchat: no saved conversation to continue; starting a new one")
    from mlchat.profiles import DEFAULT

    if found is None:
        return Conversation(
            model=s.model,
            dialect=s.dialect,
            system=s.system,
            params=s.params,
            profile=s.profile or DEFAULT,
        )
    from mlchat import params as P

    found.profile = s.profile or DEFAULT

    if flags.model is not None:
        found.model = s.model
    if flags.api is not None:
        found.dialect = s.dialect
    if flags.system is not None:
        found.system = flags.system or None
    found.params = P.validate(P.merge(found.params, flags.params), found.dialect)
    return found
