"""Configuration: where files live, the config file, and resolving every setting.

Precedence, for every setting: command-line flag > environment (MODELSLAB_API_KEY,
MODELSLAB_BASE_URL, MLCHAT_MODEL, ...) > config file > built-in default. One table, `OPTIONS`,
names every key of the file with its type, range and meaning; it validates the file when it is
read and every `mlchat config set`, so both give the same message for the same mistake (the
sampling parameters' types and ranges come from `params`, shared with the command-line flags).

The file holds the API key: it is written atomically (mlchat/atomic.py: temp file, fsync,
os.replace), owner-only (0600 in a 0700 directory), and its contents are never put in a message.

Imports: platformdirs (its only home), tomllib, params, tomledit, errors, types. Nothing is read
at import time.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlchat import params as P
from mlchat import tomledit
from mlchat.errors import ConfigError, UsageError
from mlchat.keysource import KeyRef
from mlchat.keysource import KeySource as KeySource  # re-exported
from mlchat.prices import SHIPPED, Price
from mlchat.prices import table as price_table
from mlchat.runtime import mask as mask  # re-exported: the commands call config.mask
from mlchat.types import DIALECTS, Dialect, Params

APP = "mlchat"
DEFAULT_BASE_URL = "https://modelslab.com/api/v7/llm"
DEFAULT_MODEL = "minimax-minimax-m1"
DEFAULT_TIMEOUT = 120.0
DEFAULT_RETRIES = 2
KEY_ENV = "MODELSLAB_API_KEY"
BASE_URL_ENV = "MODELSLAB_BASE_URL"
MODEL_ENV = "MLCHAT_MODEL"
API_ENV = "MLCHAT_API"
TIMEOUT_ENV = "MLCHAT_TIMEOUT"
RETRIES_ENV = "MLCHAT_RETRIES"
IDLE_ENV = "MLCHAT_IDLE_TIMEOUT"
MAX_TIME_ENV = "MLCHAT_MAX_TIME"
DEFAULT_IDLE = 300.0  # seconds of keep-alives without content (at least the read timeout)
DASHBOARD_URL = "https://modelslab.com/dashboard/api-keys"
DIR_MODE = 0o700

KeyPath = tuple[str, ...]


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


# ---------------------------------------------------------------------------------------------
# The key


def check_key(raw: str, what: str = "the API key") -> str:
    """The key without surrounding white space, or UsageError. Messages give a position, never
    the key or the offending character."""
    key = raw.strip()
    if not key:
        raise UsageError(f"{what} is empty")
    for at, ch in enumerate(key, start=1):
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            problem = "a control character"
        elif not ch.isascii():
            problem = "a non-ASCII character"
        elif ch.isspace():
            problem = "a space"
        else:
            continue
        raise UsageError(f"{what} contains {problem} (at position {at}); keys are printable ASCII")
    return key


def find_key(
    flag: str | None, env: Mapping[str, str], file: Mapping[str, Any]
) -> tuple[str | None, KeySource | None]:
    """The key in use and where it came from: flag > environment > file."""
    candidates: tuple[tuple[Any, KeySource], ...] = (
        (flag, "flag"),
        (env.get(KEY_ENV), "env"),
        (file.get("api_key"), "file"),
    )
    for candidate, where in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip(), where
    return None, None


# ---------------------------------------------------------------------------------------------
# The table of keys


@dataclass(frozen=True, slots=True)
class Option:
    kind: Literal[
        "key",
        "url",
        "model",
        "choice",
        "text",
        "param",
        "seconds",
        "count",
        "bool",
        "table",
        "source",
        "profile",
    ]
    help: str
    default: Any = None
    env: str | None = None


OPTIONS: dict[str, Option] = {
    "api_key": Option("key", "the ModelsLab API key; set it with `mlchat key set`", env=KEY_ENV),
    "base_url": Option("url", "API base URL", DEFAULT_BASE_URL, env=BASE_URL_ENV),
    "model": Option("model", "default model id or alias", DEFAULT_MODEL, env=MODEL_ENV),
    "api": Option("choice", "wire dialect: openai or anthropic", "openai", env=API_ENV),
    "system": Option("text", "default system prompt"),
    **{
        name: Option("param", spec.help, getattr(P.DEFAULTS, name))
        for name, spec in P.SPECS.items()
    },
    "timeout": Option(
        "seconds",
        "longest silence accepted while a reply streams, seconds (> 0)",
        DEFAULT_TIMEOUT,
        env=TIMEOUT_ENV,
    ),
    "retries": Option(
        "count",
        "retries before any of the reply has arrived (>= 0)",
        DEFAULT_RETRIES,
        env=RETRIES_ENV,
    ),
    "idle_timeout": Option(
        "seconds",
        "longest a stream may send only keep-alives, seconds (> 0)",
        DEFAULT_IDLE,
        env=IDLE_ENV,
    ),
    "max_time": Option(
        "seconds",
        "overall deadline of one request, retries included, seconds (> 0)",
        None,
        env=MAX_TIME_ENV,
    ),
    "log": Option("bool", "save conversations (true or false)", True),
    "attach_max_files": Option("count", "most files one message may attach (-f, @)", 1000),
    "attach_max_bytes": Option(
        "count", "most bytes of attached text per message, and per image", 20_000_000
    ),
    "aliases": Option("table", 'short name = "model id", accepted by -m'),
    "prices": Option("table", "per model id: input and output, USD per 1M tokens (>= 0)"),
    "api_key_env": Option("source", "read the key from this environment variable instead"),
    "api_key_cmd": Option("source", "run this command; its first line of output is the key"),
    "api_key_keyring": Option("bool", "true: the key is in the system keyring (key set --keyring)"),
    "profile": Option("profile", "the profile used when none is given", env="MLCHAT_PROFILE"),
    "profiles": Option("table", "[profiles.NAME] tables: base_url, api, model, key source, ..."),
    "mcp": Option("table", "MCP tool servers: [mcp.NAME] tables, used with --mcp NAME"),
}
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")


def suggest(name: str, choices: list[str] | None = None) -> str | None:
    import difflib  # only on a mistake: keeps it off every start

    close = difflib.get_close_matches(name, choices or list(OPTIONS), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_keys(file: Mapping[str, Any]) -> list[str]:
    return [name for name in file if name not in OPTIONS]


def check_option(path: KeyPath, value: Any) -> Any:
    """`value` for the key at `path` (("temperature",), ("aliases", NAME), ("prices", MODEL,
    "input"), or a whole table), normalised, or UsageError naming the key and its range. The
    API key is never part of a message."""
    name = path[0]
    if name == "aliases":
        return _check_aliases(path, value)
    if name == "prices":
        return _check_prices(path, value)
    if name == "profiles":
        from mlchat import profiles

        return profiles.check_profiles(path, value)
    if name == "mcp":
        # Checked whole by mlchat.mcp_config when a run uses a server: a mistake in a server's
        # table must not stop the commands that use none.
        if len(path) > 1 or not isinstance(value, dict):
            raise UsageError("mcp must be a table of [mcp.NAME] tables; edit them in the file")
        return value
    if len(path) > 1 or name not in OPTIONS:
        raise UsageError(f"unknown key '{_dotted(path)}'")
    opt = OPTIONS[name]
    if opt.kind == "param":
        coerced = P.coerce(name, value)
        if name == "stop":
            P.validate(Params(stop=coerced), "openai")
            return list(coerced)
        return coerced
    if opt.kind == "seconds":
        return check_seconds(value, name)
    if opt.kind == "count":
        return check_count(value, name)
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise UsageError(f"{name} must be true or false")
        return value
    if opt.kind == "source":
        from mlchat import keysource

        return keysource.check_field(name, value)
    if opt.kind == "profile":
        from mlchat import profiles

        return profiles.check_name(value, name)
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string")
    if opt.kind == "key":
        return check_key(value, name) if value.strip() else ""
    if opt.kind == "url":
        return check_base_url(value)
    if opt.kind == "choice":
        return check_api(value, name)
    if opt.kind == "model":
        return check_model(value, name)
    return value


def check_base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise UsageError(f"the base URL must start with http:// or https://, got '{value}'")
    return url


def check_api(value: str, name: str = "api") -> str:
    api = value.strip()
    if api not in DIALECTS:
        raise UsageError(f"{name} must be one of {', '.join(DIALECTS)}, got '{value}'")
    return api


def check_model(value: Any, name: str = "model") -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{name} must be a model id such as {DEFAULT_MODEL}")
    model = value.strip()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in model):
        raise UsageError(f"{name} must be a model id without spaces, got '{model}'")
    return model


MAX_SECONDS = 7 * 24 * 3600.0  # a week: longer timeouts overflow the socket layer (1e308)
MAX_RETRIES = 100


def check_seconds(value: Any, name: str = "timeout") -> float:
    number = _to_number(value, name, "a number of seconds")
    if not math.isfinite(number) or number <= 0:
        raise UsageError(f"{name} must be a number of seconds > 0, got {value}")
    if number > MAX_SECONDS:
        raise UsageError(f"{name} must be at most {MAX_SECONDS:g} seconds (a week), got {value}")
    return number


def check_count(value: Any, name: str = "retries") -> int:
    number = _to_number(value, name, "a whole number")
    if not math.isfinite(number) or not number.is_integer() or number < 0:
        raise UsageError(f"{name} must be a whole number >= 0, got {value}")
    if "retries" in name.lower() and number > MAX_RETRIES:  # each retry may wait a minute
        raise UsageError(f"{name} must be at most {MAX_RETRIES}, got {value}")
    return int(number)


def _to_number(value: Any, name: str, kind: str) -> float:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be {kind}, not {str(value).lower()}")
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except OverflowError:  # an integer past float's range (a config `timeout = 1e400`-sized int)
        return math.inf
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be {kind}, got '{value}'") from None


def _check_aliases(path: KeyPath, value: Any) -> Any:
    if len(path) == 1:
        if not isinstance(value, dict):
            raise UsageError('aliases must be a table of name = "model id"')
        return {_alias_name(k): check_model(v, f"aliases.{k}") for k, v in value.items()}
    if len(path) != 2:
        raise UsageError(f"unknown key '{_dotted(path)}'")
    return check_model(value, f"aliases.{_alias_name(path[1])}")


def _alias_name(name: str) -> str:
    if not name.strip() or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise UsageError(f"an alias name must be one word without spaces, got '{name}'")
    return name


def _check_prices(path: KeyPath, value: Any) -> Any:
    if len(path) == 1:
        if not isinstance(value, dict):
            raise UsageError('prices must be a table of [prices."MODEL"] tables')
        return {model: _check_prices(("prices", model), v) for model, v in value.items()}
    model = check_model(path[1], "a price's model id")
    where = f"prices.{tomledit.format_key((model,))}"
    if len(path) == 2:
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a table with input and output")
        return {f: _check_prices((*path, f), v) for f, v in value.items()}
    if len(path) != 3 or path[2] not in PRICE_FIELDS:
        field_name = path[2] if len(path) > 2 else ""
        raise UsageError(
            f"{where} has no field '{field_name}'; a price has {', '.join(PRICE_FIELDS)}"
        )
    number = _to_number(value, f"{where}.{path[2]}", "a number of USD per 1M tokens")
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"{where}.{path[2]} must be >= 0 (USD per 1M tokens), got {value}")
    return number


def _dotted(path: KeyPath) -> str:
    return ".".join(path)


# ---------------------------------------------------------------------------------------------
# `mlchat config` keys and values typed on the command line


def parse_key(text: str) -> KeyPath:
    """A key as typed: `model`, `aliases.NAME`, `prices.MODEL` or `prices.MODEL.input`. Model
    ids may contain dots (`prices.Qwen2.5-72B.input`) and may be quoted (`prices."a.b".input`)."""
    text = text.strip()
    head, dot, rest = text.partition(".")
    if not head or (dot and not rest):
        raise UsageError(f"'{text}' is not a key", hint="see `mlchat config --help`")
    if not dot:
        return (head,)
    if head == "prices":
        for f in PRICE_FIELDS:
            if rest.endswith("." + f):
                return ("prices", _unquote(rest[: -len(f) - 1]), f)
        return ("prices", _unquote(rest))
    if head == "aliases":
        return ("aliases", _unquote(rest))
    if head == "profiles":
        name, _, key = rest.partition(".")
        return ("profiles", _unquote(name), *((key,) if key else ()))
    if head in OPTIONS:
        raise UsageError(f"{head} is not a table; set it with `mlchat config set {head} VALUE`")
    return tuple(_unquote(p) for p in text.split("."))


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")


def parse_value(path: KeyPath, texts: list[str]) -> Any:
    """Values typed after `mlchat config set KEY`, in the key's type, validated. `stop` takes
    several values, or one TOML array (`'["END", "STOP"]'`); every other key takes one."""
    name = path[0]
    if name not in OPTIONS:
        raise UsageError(
            f"unknown key '{_dotted(path)}'",
            hint=_did_you_mean(name) or "keys: " + ", ".join(OPTIONS),
        )
    if name == "api_key":
        raise UsageError(
            "set the key with `mlchat key set`: it reads the key hidden, so it stays out of your "
            "shell history and process list"
        )
    if name == "profiles" and len(path) == 3 and path[2] in OPTIONS:
        from mlchat import profiles

        try:
            inner = parse_value(path[2:], texts)
        except UsageError as exc:
            raise UsageError(f"profiles.{path[1]}: {exc.message}", hint=exc.hint) from None
        return profiles.check_profiles(path, inner)
    opt = OPTIONS[name]
    if opt.kind == "table" and len(path) == 1:
        example = "aliases.NAME MODEL" if name == "aliases" else "prices.MODEL.input 0.4"
        raise UsageError(f"{name} is a table: set one entry, e.g. `mlchat config set {example}`")
    if name == "prices" and len(path) == 2:
        raise UsageError(
            f"{_dotted(path)} is not a price: set prices.MODEL.input or prices.MODEL.output, "
            "one at a time"
        )
    if name == "stop":
        if len(texts) == 1 and texts[0].lstrip().startswith("["):
            try:
                value: Any = tomllib.loads(f"v = {texts[0]}")["v"]
            except (tomllib.TOMLDecodeError, RecursionError):
                raise UsageError(
                    "stop: not a TOML array of strings", hint="""e.g. '["END", "STOP"]'"""
                ) from None
        else:
            value = list(texts)
        return check_option(path, value)
    if len(texts) != 1:
        raise UsageError(
            f"{_dotted(path)} takes one value, got {len(texts)}",
            hint="""quote a value that has spaces: mlchat config set system "You are terse\"""",
        )
    text = texts[0]
    if opt.kind == "bool" or name == "api_key_keyring":
        word = text.strip().lower()
        if word not in TRUE + FALSE:
            raise UsageError(f"{name} must be true or false, got '{text}'")
        return word in TRUE
    return check_option(path, text)


def _did_you_mean(name: str) -> str | None:
    close = suggest(name)
    return f"did you mean {close}?" if close else None


# ---------------------------------------------------------------------------------------------
# Reading the file


def read_text(path: Path) -> str:
    """The file's text, "" when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", hint=_HAND_FIX) from None


_HAND_FIX = "fix the file by hand; mlchat leaves it untouched"


def parse_text(text: str, path: Path) -> dict[str, Any]:
    """The document, or ConfigError with the path and the line and column: never the contents,
    which may hold the key (tomllib's reasons can quote a character of it, so only its position
    is kept)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = str(exc)
        at = where[where.rfind("(at ") :] if "(at " in where else ""
        raise ConfigError(f"{path} is not valid TOML {at}".rstrip(), hint=_HAND_FIX) from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise ConfigError(f"{path} nests arrays or tables too deeply", hint=_HAND_FIX) from None


def load_file(path: Path | None = None) -> dict[str, Any]:
    """The parsed config file, or {} when there is none. A file that does not parse is an error
    naming the path and position; its contents (which may hold the key) are never shown."""
    path = path or config_path()
    return parse_text(read_text(path), path)


def validate_file(file: Mapping[str, Any], where: str = "the config file") -> dict[str, Any]:
    """The known keys of the file, checked and normalised (unknown keys are left out)."""
    checked: dict[str, Any] = {}
    for name, value in file.items():
        if name not in OPTIONS:
            continue
        try:
            checked[name] = check_option((name,), value)
        except UsageError as exc:
            raise ConfigError(
                f"{where}: {exc.message}",
                hint=f"fix it with `mlchat config set {name} ...` or `mlchat config unset {name}`",
            ) from None
    from mlchat import keysource

    keysource.check_one(checked, where)
    return checked


def file_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def insecure_mode(path: Path) -> int | None:
    """The file's mode when group or others can read it, else None."""
    mode = file_mode(path)
    return mode if mode is not None and mode & 0o077 and os.name != "nt" else None


# ---------------------------------------------------------------------------------------------
# Who else can write the file (ssh's rule)

# What is never read from a file another user can write (a planted api_key_cmd would run; a
# planted api_key_env would send another variable's secret as the key).
TRUSTED_KEYS = ("api_key", "base_url", "api_key_cmd", "api_key_env")


def untrusted(path: Path) -> str | None:
    """Why another user could have written `path`'s contents, or None: the file (through any
    link), the directory holding it and the directory of the link are owned by us (or root) and
    not writable by group or others. A directory with the sticky bit (/tmp) counts as closed: in
    it nobody can replace a file of ours. As ssh does for its config, group-writable counts."""
    if os.name == "nt":
        return None
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None  # no file: nothing to trust
    seen: list[Path] = []
    for each in (real, real.parent, path.parent.resolve()):
        if each in seen:
            continue
        seen.append(each)
        problem = _untrusted_entry(each)
        if problem is not None:
            return problem
    return None


def _untrusted_entry(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    what = "directory " if stat.S_ISDIR(st.st_mode) else ""
    if st.st_uid not in (os.getuid(), 0):
        return f"{what}{path} is owned by another user (uid {st.st_uid})"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and mode & stat.S_ISVTX):
        who = (
            "group and others"
            if mode & 0o002 and mode & 0o020
            else ("others" if mode & 0o002 else "its group")
        )
        return f"{what}{path} is writable by {who} (mode {mode:o})"
    return None


def refuse_untrusted(path: Path, file: Mapping[str, Any]) -> None:
    """ConfigError, as ssh's "Bad owner or permissions", when a file another user can write
    holds a key or a base URL: a planted base_url would receive the key, a planted key would
    send the conversations to someone else's account."""
    held = [name for name in TRUSTED_KEYS if file.get(name)]
    tables = file.get("profiles")
    for name, table in tables.items() if isinstance(tables, dict) else ():
        if isinstance(table, dict):
            held += [f"profiles.{name}.{key}" for key in TRUSTED_KEYS if table.get(key)]
    if not held:
        return
    problem = untrusted(path)
    if problem is None:
        return
    refused = " or ".join(held)
    raise ConfigError(
        f"bad owner or permissions on {path}: {problem}; refusing to use its {refused}",
        hint=_fix(problem),
    )


def _fix(problem: str) -> str:
    target = problem.split(" is ", 1)[0].removeprefix("directory ")
    if "owned by another user" in problem:
        return f"make it yours or move it away: chown $USER {target}"
    return f"run: chmod go-w {target}"


# ---------------------------------------------------------------------------------------------
# Writing the file


def write_atomic(path: Path, text: str) -> None:
    """Replace the file with `text` all at once (mlchat/atomic.py: the old file or the new one,
    never half of either; 0600; through a symlink), in an owner-only directory (0700). Through a
    symlink, the target's directory is never chmodded (it is the user's: `$HOME` for a link to
    ~/.mlchat.toml), but a key is never written where others could replace it."""
    from mlchat import atomic

    linked = False
    with suppress(OSError):
        if path.is_symlink():
            path, linked = path.resolve(), True
    directory = path.parent
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if linked:
            problem = _untrusted_entry(directory)
            if problem is not None:
                raise ConfigError(f"will not write {path}: {problem}", hint=_fix(problem))
        else:
            _private_dir(directory)
        atomic.write_atomic(path, text)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}", hint="the file was not changed"
        ) from None


def _private_dir(directory: Path) -> None:
    """mlchat's own directory is made owner-only; one owned by another user is refused."""
    if os.name == "nt":
        return
    st = directory.stat()
    if st.st_uid not in (os.getuid(), 0):
        problem = f"directory {directory} is owned by another user (uid {st.st_uid})"
        raise ConfigError(f"will not write into it: {problem}", hint=_fix(problem))
    if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.getuid():
        directory.chmod(DIR_MODE)


def set_in_file(path: Path, key: KeyPath, value: Any) -> dict[str, Any]:
    """Set one key in the file, keeping everything else as written; returns the new document.
    A file that does not parse is left untouched (ConfigError)."""
    text = read_text(path)
    parse_text(text, path)
    try:
        new = tomledit.set_value(text, key, value)
    except tomledit.TomlEditError as exc:
        raise ConfigError(f"{path}: {exc}", hint="the file was not changed") from None
    write_atomic(path, new)
    return tomllib.loads(new)


def unset_in_file(path: Path, key: KeyPath) -> bool:
    """Remove one key (or table) from the file, keeping everything else; False when absent."""
    text = read_text(path)
    parse_text(text, path)
    try:
        new, found = tomledit.unset_value(text, key)
    except tomledit.TomlEditError as exc:
        raise ConfigError(f"{path}: {exc}", hint="the file was not changed") from None
    if found:
        write_atomic(path, new)
    return found


def save_key(path: Path, key: str) -> None:
    set_in_file(path, ("api_key",), check_key(key))


def remove_key(path: Path) -> bool:
    return unset_in_file(path, ("api_key",))


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
        prices=price_table(checked.get("prices")),
        idle_timeout=float(idle),
        max_time=None if max_time is None else float(max_time),
        profile=profile.name if profile else None,
        key_ref=found.ref,
        key_label=found.label,
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
