"""Profiles: `[profiles.NAME]` tables in config.toml, one per service or way of working.

    [profiles.local]
    base_url = "http://127.0.0.1:8080/v1"
    model = "qwen2.5-7b-instruct"
    api_key = "none"

One is chosen by `--profile NAME` > MLCHAT_PROFILE > `profile = "NAME"` in the file; the name
`default` stands for the top level of the file (no profile). The chosen profile's values take the
place of the top level's, so the precedence of every setting is flag > environment > profile >
top level > default, with two exceptions that keep one service's data away from another's:

- a profile that names a key source (`api_key`, `api_key_env`, `api_key_cmd`,
  `api_key_keyring`) uses that one only: neither MODELSLAB_API_KEY nor the top level's key is
  ever sent to its server;
- the top level's `aliases` and `prices` apply to a profile only when it talks to the same base
  URL; the model cache is kept per profile (models.cache_path).

Imports: config (its checks), keysource, errors. Pure: no files, no terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlchat import keysource
from mlchat.errors import ConfigError, UsageError

PROFILE_ENV = "MLCHAT_PROFILE"
DEFAULT = "default"
# Settings of the whole file, not of one service.
WHOLE_FILE = ("profiles", "profile", "log")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    table: Mapping[str, Any]

    @property
    def has_key(self) -> bool:
        return bool(keysource.sources_in(self.table))


def check_name(name: Any, what: str = "a profile name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise UsageError(f"{what} must be a word of letters, digits, '.', '_' or '-', got '{name}'")
    return name.strip()


def check_profiles(path: tuple[str, ...], value: Any) -> Any:
    """`value` for `profiles`, `profiles.NAME` or `profiles.NAME.KEY`, checked with the same
    rules as the top level (config.check_option), or UsageError naming the key."""
    from mlchat import config

    if len(path) == 1:
        if not isinstance(value, dict):
            raise UsageError("profiles must be a table of [profiles.NAME] tables")
        return {name: check_profiles(("profiles", name), v) for name, v in value.items()}
    name = check_name(path[1])
    if name == DEFAULT:
        raise UsageError("'default' is the top level of the file; choose another profile name")
    if len(path) == 2:
        if not isinstance(value, dict):
            raise UsageError(f"profiles.{name} must be a table")
        checked = {k: check_profiles(("profiles", name, k), v) for k, v in value.items()}
        found = keysource.sources_in(checked)
        if len(found) > 1:
            raise UsageError(f"profiles.{name} sets {' and '.join(found)}: choose one key source")
        return checked
    key = path[2]
    if key in WHOLE_FILE or key not in config.OPTIONS:
        close = config.suggest(key, [k for k in config.OPTIONS if k not in WHOLE_FILE])
        raise UsageError(
            f"profiles.{name} has no setting '{key}'"
            + (f" (did you mean {close}?)" if close else "")
        )
    try:
        return config.check_option(path[2:], value)
    except UsageError as exc:
        raise UsageError(f"profiles.{name}: {exc.message}") from None


def names(file: Mapping[str, Any]) -> list[str]:
    table = file.get("profiles")
    return sorted(table) if isinstance(table, dict) else []


def choose(flag: str | None, env: Mapping[str, str], file: Mapping[str, Any]) -> Profile | None:
    """The active profile, or None for the top level of the file."""
    if flag is not None and flag.strip():
        name, what = flag.strip(), "--profile"
    elif env.get(PROFILE_ENV, "").strip():
        name, what = env[PROFILE_ENV].strip(), PROFILE_ENV
    elif isinstance(file.get("profile"), str) and file["profile"].strip():
        name, what = file["profile"].strip(), "profile in the config file"
    else:
        return None
    if name == DEFAULT:
        return None
    table = file.get("profiles")
    if not isinstance(table, dict) or not isinstance(table.get(name), dict):
        known = names(file)
        error = ConfigError if what.startswith("profile ") else UsageError
        raise error(
            f"{what}: no profile named '{name}'",
            hint=("profiles: " + ", ".join([DEFAULT, *known]))
            if known
            else "define one in the config file as a [profiles.NAME] table",
        )
    return Profile(name, table[name])


def overlay(file: Mapping[str, Any], profile: Profile) -> dict[str, Any]:
    """The file as the profile sees it: its values in place of the top level's (see the module
    for the key, aliases and prices)."""
    merged = dict(file)
    if profile.has_key:
        for name in keysource.FIELDS:
            merged.pop(name, None)
    own_url = profile.table.get("base_url")
    if isinstance(own_url, str) and _norm(own_url) != _norm(file.get("base_url")):
        for name in ("aliases", "prices"):
            merged.pop(name, None)
    merged.update(profile.table)
    return merged


def _norm(url: Any) -> str:
    from mlchat.config import DEFAULT_BASE_URL

    text = url if isinstance(url, str) and url.strip() else DEFAULT_BASE_URL
    return text.strip().rstrip("/")
