"""Configuration: where files live, the config file, and resolving every setting.

Precedence, for every setting: command-line flag > environment (MODELSLAB_API_KEY,
MODELSLAB_BASE_URL, MLCHAT_MODEL, ...) > config file > built-in default. The only module that
imports platformdirs. Nothing is read at import time.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlchat import params as P
from mlchat.errors import ConfigError, UsageError
from mlchat.types import DIALECTS, Dialect, Params

APP = "mlchat"
DEFAULT_BASE_URL = "https://modelslab.com/api/v7/llm"
DEFAULT_MODEL = "minimax-minimax-m1"
DEFAULT_TIMEOUT = 120.0
DEFAULT_RETRIES = 2
KEY_ENV = "MODELSLAB_API_KEY"
BASE_URL_ENV = "MODELSLAB_BASE_URL"
MODEL_ENV = "MLCHAT_MODEL"
DASHBOARD_URL = "https://modelslab.com/dashboard/api-keys"

KeySource = Literal["flag", "env", "file"]


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
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    import tomllib  # ~4 ms, paid only when there is a file to parse

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        where = str(exc)
        at = where[where.find("(at ") :] if "(at " in where else ""
        raise ConfigError(
            f"{path} is not valid TOML {at}".rstrip(),
            hint="fix the file by hand; mlchat leaves it untouched",
        ) from None
    return data


def insecure_mode(path: Path) -> int | None:
    """The file's mode when group or others can read it, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


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


def resolve(flags: Flags, env: Mapping[str, str], file: Mapping[str, Any]) -> Settings:
    """Every setting from flag > environment > file > default, validated."""
    key: str | None = None
    source: KeySource | None = None
    for candidate, where in (
        (flags.api_key, "flag"),
        (env.get(KEY_ENV), "env"),
        (file.get("api_key"), "file"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            key, source = candidate.strip(), where  # type: ignore[assignment]
            break

    base_url = _first_str(flags.base_url, env.get(BASE_URL_ENV), file.get("base_url"))
    base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"the base URL must start with http:// or https://, got '{base_url}'")

    api = _first_str(flags.api, env.get("MLCHAT_API"), file.get("api")) or "openai"
    if api not in DIALECTS:
        raise UsageError(f"--api must be one of {', '.join(DIALECTS)}, got '{api}'")
    dialect: Dialect = "anthropic" if api == "anthropic" else "openai"

    aliases_raw = file.get("aliases", {})
    if not isinstance(aliases_raw, dict):
        raise ConfigError('[aliases] in the config file must be a table of name = "model id"')
    aliases = {str(k): str(v) for k, v in aliases_raw.items() if isinstance(v, str)}
    model = _first_str(flags.model, env.get(MODEL_ENV), file.get("model")) or DEFAULT_MODEL

    system = flags.system if flags.system is not None else _first_str(file.get("system"))

    from_file: dict[str, Any] = {}
    for name in P.SPECS:
        if name in file:
            try:
                from_file[name] = P.coerce(name, file[name])
            except UsageError as exc:
                raise ConfigError(f"config file: {exc.message}") from None
    merged = P.merge(P.merge(P.DEFAULTS, from_file), flags.params)
    P.validate(merged, dialect)

    timeout = _number(flags.timeout, env.get("MLCHAT_TIMEOUT"), file.get("timeout"), "timeout")
    retries = _number(flags.retries, env.get("MLCHAT_RETRIES"), file.get("retries"), "retries")
    return Settings(
        api_key=key,
        key_source=source,
        base_url=base_url,
        model=model,
        dialect=dialect,
        system=system or None,
        params=merged,
        timeout=float(timeout) if timeout is not None else DEFAULT_TIMEOUT,
        retries=int(retries) if retries is not None else DEFAULT_RETRIES,
        aliases=aliases,
        file=file,
        path=None,
    )


def _first_str(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _number(*values: Any) -> float | None:
    *candidates, name = values
    for value in candidates:
        if value is None or value == "":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"{name} must be a number, got '{value}'") from None
        if number < 0 or (name == "timeout" and number == 0):
            raise UsageError(f"{name} must be positive, got {value}")
        return number
    return None


def env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def environ() -> dict[str, str]:
    return dict(os.environ)
