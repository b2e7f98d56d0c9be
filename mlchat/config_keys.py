"""The config keys: one table, `OPTIONS`, naming every key of the file with its type, default,
environment variable and meaning, and the checks of every value (the file when it is read, every
`mlchat config set`, and the flags and variables `config.resolve` reads), so the same mistake
gets the same message wherever it is made. The sampling parameters' types and ranges come from
`params`, shared with the command-line flags. Also the parsing of keys and values typed after
`mlchat config set`. Part of mlchat's configuration: `mlchat.config` re-exports every public
name. Imports: tomllib, params, tomledit, errors, keysource (types only), types.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlchat import params as P
from mlchat import tomledit
from mlchat.errors import UsageError
from mlchat.keysource import KeySource
from mlchat.types import DIALECTS, Params

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

KeyPath = tuple[str, ...]


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
        raise UsageError(
            f"{what} contains {problem} (at position {at}); a key is one word of letters, digits "
            "and punctuation",
            hint="was more than the key pasted or piped in?" if problem == "a space" else None,
        )
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
        "share",
        "bool",
        "table",
        "source",
        "profile",
    ]
    help: str
    default: Any = None
    env: str | None = None


EDIT_MODES = ("emacs", "vi")  # prompt_toolkit's two key sets for the chat's line editor

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
    "edit_mode": Option("choice", "line editing keys in chat: emacs or vi", "emacs"),
    "compact_at": Option("share", "chat: /compact on its own past this share of the window"),
    "attach_max_files": Option("count", "most files one message may attach (-f, @)", 1000),
    "attach_max_bytes": Option(
        "count", "most bytes of attached text per message, and per image", 20_000_000
    ),
    "aliases": Option("table", 'short name = "model id", accepted by -m'),
    "prices": Option("table", "per model id: input and output, USD per 1M tokens (>= 0)"),
    "models": Option("table", "per model id: context = its context window in tokens (>= 1)"),
    "api_key_env": Option("source", "read the key from this environment variable instead"),
    "api_key_cmd": Option("source", "run this command; its first line of output is the key"),
    "api_key_keyring": Option("bool", "true: the key is in the system keyring (key set --keyring)"),
    "profile": Option("profile", "the profile used when none is given", env="MLCHAT_PROFILE"),
    "profiles": Option("table", "[profiles.NAME] tables: base_url, api, model, key source, ..."),
    "mcp": Option("table", "MCP tool servers: [mcp.NAME] tables, used with --mcp NAME"),
}
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")
MODEL_FIELDS = ("context",)


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
    if name == "models":
        return _check_models(path, value)
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
    if opt.kind == "share":
        share = _to_number(value, name, "a share of the context window, such as 0.8")
        if not 0 < share <= 1:
            raise UsageError(
                f"{name} must be a share of the context window, 0 < x <= 1, got {value}"
            )
        return share
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
    if opt.kind == "choice" and name == "edit_mode":
        if value not in EDIT_MODES:
            raise UsageError(f"edit_mode must be emacs or vi, got '{value}'")
        return value
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


def _check_models(path: KeyPath, value: Any) -> Any:
    if len(path) == 1:
        if not isinstance(value, dict):
            raise UsageError('models must be a table of [models."ID"] tables')
        return {model: _check_models(("models", model), v) for model, v in value.items()}
    model = check_model(path[1], "a [models] entry's model id")
    where = f"models.{tomledit.format_key((model,))}"
    if len(path) == 2:
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a table, e.g. context = 1000000")
        return {f: _check_models((*path, f), v) for f, v in value.items()}
    if len(path) != 3 or path[2] not in MODEL_FIELDS:
        field_name = path[2] if len(path) > 2 else ""
        raise UsageError(
            f"{where} has no field '{field_name}'; a model has {', '.join(MODEL_FIELDS)}"
        )
    number = check_count(value, f"{where}.context")
    if number < 1:
        raise UsageError(f"{where}.context must be a number of tokens >= 1, got {value}")
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
    if head == "models":
        for f in MODEL_FIELDS:
            if rest.endswith("." + f):
                return ("models", _unquote(rest[: -len(f) - 1]), f)
        return ("models", _unquote(rest))
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
        examples = {"aliases": "aliases.NAME MODEL", "models": "models.MODEL.context 131072"}
        example = examples.get(name, "prices.MODEL.input 0.4")
        raise UsageError(f"{name} is a table: set one entry, e.g. `mlchat config set {example}`")
    if name == "prices" and len(path) == 2:
        raise UsageError(
            f"{_dotted(path)} is not a price: set prices.MODEL.input or prices.MODEL.output, "
            "one at a time"
        )
    if name == "models" and len(path) == 2:
        raise UsageError(f"{_dotted(path)} is not a value: set models.MODEL.context")
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
