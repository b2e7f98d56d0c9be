"""Wiring shared by the commands: the Runtime from the context, settings, the client, and the
conversation store with its turn log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlchat import config
from mlchat.errors import ConfigError
from mlchat.runtime import Runtime
from mlchat.session import NullLog, TurnLog

if TYPE_CHECKING:
    from mlchat.client import Client
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


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime().bind()
    return root.obj


def settings(rt: Runtime, flags: config.Flags) -> config.Settings:
    path = config.config_path()
    file = config.load_file(path)
    resolved = config.resolve(flags, rt.env, file)
    if resolved.api_key:
        rt.secrets.add(resolved.api_key)
    if resolved.key_source == "file" and (mode := config.insecure_mode(path)) is not None:
        rt.warn(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return resolved


def require_key(s: config.Settings) -> str:
    if not s.api_key:
        raise ConfigError(
            "no API key: set MODELSLAB_API_KEY or run `mlchat key set`",
            hint=f"get a key at {config.DASHBOARD_URL}",
        )
    return s.api_key


def client(rt: Runtime, s: config.Settings) -> Client:
    from mlchat.client import Client, RetryPolicy, Timeouts

    return Client(
        s.base_url,
        require_key(s),
        timeouts=Timeouts(read=s.timeout),
        retry=RetryPolicy(retries=s.retries),
        transport=rt.transport,
        debug=(lambda line: rt.note(rt.scrub(f"mlchat: debug: {line}"))) if rt.debug else None,
        status=lambda line: rt.note(f"mlchat: {line}"),
        sleep=rt.sleep,
        clock=rt.clock,
    )


def db_path() -> Path:
    from mlchat.store import DB_NAME

    return config.data_dir() / DB_NAME


def logging_enabled(s: config.Settings, no_log: bool) -> bool:
    """False with --no-log or `log = false` in the config file."""
    if no_log:
        return False
    value: Any = s.file.get("log", True)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise ConfigError("log in the config file must be true or false")


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
    rt: Runtime, s: config.Settings, *, no_log: bool, need_store: bool = False
) -> Iterator[tuple[Store | None, TurnLog]]:
    """The store and the turn log for a command that chats (`ask`, the REPL).

    With logging off the log is a NullLog, and the store is opened only if `need_store` (to
    continue or resume a conversation without saving the new turns). A store that cannot be
    opened is an error when it is needed, otherwise a warning: the chat goes on unsaved.
    """
    from mlchat.store import StoreError
    from mlchat.turnlog import StoreLog

    enabled = logging_enabled(s, no_log)
    store: Store | None = None
    log: TurnLog = NullLog()
    if enabled or need_store:
        try:
            store = open_store()
        except StoreError as exc:
            if need_store:
                raise
            rt.warn(f"{exc.message}; this conversation will not be saved")
            if exc.hint:
                rt.note(f"hint: {exc.hint}")
    if store is not None and enabled:
        log = StoreLog(store, rt.warn)
    try:
        yield store, log
    finally:
        if store is not None:
            store.close()
