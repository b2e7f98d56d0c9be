"""Configuration: where files live (platformdirs' only home), and resolving every setting into
`Settings` (`resolve`): the one place a flag, a variable or a key of the file becomes a value.

Precedence, for every setting: command-line flag > environment (MODELSLAB_API_KEY,
MODELSLAB_BASE_URL, MLCHAT_MODEL, ...) > config file > built-in default.

The modules of the configuration, by job (this one re-exports the public names of both, so
callers use `config.X`):

    config_keys   the table of keys (`OPTIONS`: type, default, variable, help) and every check
    config_file   reading, validating, trusting and writing the file

Imports: platformdirs, params, prices, keysource, profiles (lazily), runtime, errors, types and
the two modules above. Nothing is read at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlchat import params as P
from mlchat.config_file import (
    DIR_MODE,
    TRUSTED_KEYS,
    file_mode,
    insecure_mode,
    parse_text,
    read_text,
    refuse_untrusted,
    remove_key,
    save_key,
    set_in_file,
    unset_in_file,
    untrusted,
    validate_file,
    write_atomic,
)
from mlchat.config_keys import (
    API_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_IDLE,
    DEFAULT_MODEL,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    FALSE,
    IDLE_ENV,
    KEY_ENV,
    MAX_RETRIES,
    MAX_SECONDS,
    MAX_TIME_ENV,
    MODEL_ENV,
    OPTIONS,
    PRICE_FIELDS,
    RETRIES_ENV,
    TIMEOUT_ENV,
    TRUE,
    KeyPath,
    Option,
    check_api,
    check_base_url,
    check_count,
    check_key,
    check_model,
    check_option,
    check_seconds,
    find_key,
    parse_key,
    parse_value,
    suggest,
    unknown_keys,
)
from mlchat.keysource import KeyRef
from mlchat.keysource import KeySource as KeySource  # re-exported
from mlchat.prices import SHIPPED, Price
from mlchat.prices import table as price_table
from mlchat.runtime import mask as mask  # re-exported: the commands call config.mask
from mlchat.types import Dialect, Params

APP = "mlchat"
DASHBOARD_URL = "https://modelslab.com/dashboard/api-keys"

__all__ = [
    "API_ENV",
    "APP",
    "BASE_URL_ENV",
    "DASHBOARD_URL",
    "DEFAULT_BASE_URL",
    "DEFAULT_IDLE",
    "DEFAULT_MODEL",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DIR_MODE",
    "FALSE",
    "IDLE_ENV",
    "KEY_ENV",
    "MAX_RETRIES",
    "MAX_SECONDS",
    "MAX_TIME_ENV",
    "MODEL_ENV",
    "OPTIONS",
    "PRICE_FIELDS",
    "RETRIES_ENV",
    "TIMEOUT_ENV",
    "TRUE",
    "TRUSTED_KEYS",
    "Flags",
    "KeyPath",
    "KeySource",
    "Option",
    "Settings",
    "cache_dir",
    "check_api",
    "check_base_url",
    "check_count",
    "check_key",
    "check_model",
    "check_option",
    "check_seconds",
    "config_dir",
    "config_path",
    "data_dir",
    "file_mode",
    "find_key",
    "insecure_mode",
    "load_file",
    "mask",
    "parse_key",
    "parse_text",
    "parse_value",
    "read_text",
    "refuse_untrusted",
    "remove_key",
    "resolve",
    "save_key",
    "set_in_file",
    "state_dir",
    "suggest",
    "unknown_keys",
    "unset_in_file",
    "untrusted",
    "validate_file",
    "write_atomic",
]


# ---------------------------------------------------------------------------------------------
# Paths


def config_dir() -> Path:
    import platformdirs

    return platformdirs.user_config_path(APP)


def config_path() -> Path:
    return config_dir() / "config.toml"


def cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path(APP)


def data_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path(APP)


def state_dir() -> Path:
    import platformdirs

    return platformdirs.user_state_path(APP)


def load_file(path: Path | None = None) -> dict[str, Any]:
    """The parsed config file, or {} when there is none. A file that does not parse is an error
    naming the path and position; its contents (which may hold the key) are never shown."""
    path = path or config_path()
    return parse_text(read_text(path), path)


# ---------------------------------------------------------------------------------------------
# Resolving the settings


@dataclass(frozen=True, slots=True)
class Flags:
    """Values given on the command line; None means "not given"."""

    api_key: str | None = None
    base_url: str | None = None
    model: str | None = None
    api: str | None = None
    system: str | None = None
    timeout: float | None = None
    retries: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    max_time: float | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    api_key: str | None
    key_source: KeySource | None
    base_url: str
    model: str
    dialect: Dialect
    system: str | None
    params: Params
    timeout: float
    retries: int
    aliases: Mapping[str, str]
    file: Mapping[str, Any]
    path: Path | None
    log: bool = True
    edit_mode: str = "emacs"  # the chat's line editing keys: emacs or vi
    # The shipped prices with the file's [prices] on top (validated once, by validate_file).
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(SHIPPED))
    # The longest a stream may send keep-alives without content.
    idle_timeout: float = DEFAULT_IDLE
    # The overall deadline of one request (--max-time), None for none.
    max_time: float | None = None
    # The active [profiles.NAME] (None: the top level), and a key read only when it is needed
    # (a command or the keyring: see keysource), with a description of where the key comes from.
    profile: str | None = None
    key_ref: KeyRef | None = None
    key_label: str = ""
    # [models."ID"] context = N: context windows the user states, by model id.
    contexts: Mapping[str, int] = field(default_factory=dict)


def resolve(
    flags: Flags, env: Mapping[str, str], file: Mapping[str, Any], *, path: Path | None = None
) -> Settings:
    """Every setting from flag > environment > file > default, validated. A bad value in the
    file is a ConfigError naming the file; a bad flag or variable is a UsageError naming it."""
    from mlchat import keysource, profiles

    where = str(path) if path else "the config file"
    validate_file(file, where)  # the whole file first: a mistake in any profile is reported
    profile = profiles.choose(flags.profile, env, file)
    if profile is not None:
        file = profiles.overlay(file, profile)
    checked = validate_file(file, where)
    found = keysource.find(
        flags.api_key,
        env,
        checked,
        env_first=profile is None or not profile.has_key,
        account=profile.name if profile else keysource.DEFAULT_ACCOUNT,
        where=f"profiles.{profile.name}" if profile and profile.has_key else "the config file",
    )
    key, source = found.key, found.source
    if key is not None and source != "file":
        check_key(key, {"env": KEY_ENV, "var": found.label}.get(source or "", "the API key"))

    env_url = _first_str(env.get(BASE_URL_ENV))
    if flags.base_url is not None:
        base_url = check_base_url(flags.base_url)
    elif env_url is not None:
        base_url = check_base_url(env_url)
    else:
        base_url = checked.get("base_url") or DEFAULT_BASE_URL

    api = _first_str(flags.api)
    api = check_api(api, "--api") if api else None
    env_api = _first_str(env.get(API_ENV))
    api = api or (check_api(env_api, API_ENV) if env_api else None) or checked.get("api")
    dialect: Dialect = "anthropic" if api == "anthropic" else "openai"

    aliases: dict[str, str] = checked.get("aliases", {})
    model = _first_str(flags.model, env.get(MODEL_ENV)) or checked.get("model") or DEFAULT_MODEL
    model = aliases.get(model, model)

    system = flags.system if flags.system is not None else checked.get("system")

    from_file = {name: checked[name] for name in P.SPECS if name in checked}
    if "stop" in from_file:
        from_file["stop"] = tuple(from_file["stop"])
    defaults = P.DEFAULTS
    if dialect == "anthropic":
        # Recent Anthropic-compatible models refuse temperature and top_p in one request: the
        # playground's top_p is sent only when the user sets it.
        from dataclasses import replace

        defaults = replace(defaults, top_p=None)
    merged = P.merge(P.merge(defaults, from_file), flags.params)
    P.validate(merged, dialect)

    timeout = _pick(flags.timeout, "--timeout", env, TIMEOUT_ENV, check_seconds)
    timeout = float(timeout if timeout is not None else checked.get("timeout", DEFAULT_TIMEOUT))
    retries = _pick(flags.retries, "--retries", env, RETRIES_ENV, check_count)
    max_time = _pick(flags.max_time, "--max-time", env, MAX_TIME_ENV, check_seconds)
    if max_time is None:
        max_time = checked.get("max_time")
    # A stream of pings is at least as alive as a silent one: never below the read timeout,
    # unless set.
    idle = _pick(None, "", env, IDLE_ENV, check_seconds)
    if idle is None:
        idle = checked.get("idle_timeout", max(DEFAULT_IDLE, timeout))
    return Settings(
        api_key=key,
        key_source=source,
        base_url=base_url,
        model=model,
        dialect=dialect,
        system=system or None,
        params=merged,
        timeout=timeout,
        retries=int(retries if retries is not None else checked.get("retries", DEFAULT_RETRIES)),
        aliases=aliases,
        file=file,
        path=path,
        log=checked.get("log", True),
        edit_mode=checked.get("edit_mode", "emacs"),
        prices=price_table(checked.get("prices")),
        idle_timeout=float(idle),
        max_time=None if max_time is None else float(max_time),
        profile=profile.name if profile else None,
        key_ref=found.ref,
        key_label=found.label,
        contexts={
            m: entry["context"]
            for m, entry in checked.get("models", {}).items()
            if entry.get("context")
        },
    )


def _pick(
    flag: Any, flag_name: str, env: Mapping[str, str], var: str, check: Callable[[Any, str], Any]
) -> Any:
    if flag is not None:
        return check(flag, flag_name)
    value = _first_str(env.get(var))
    return check(value, var) if value is not None else None


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
