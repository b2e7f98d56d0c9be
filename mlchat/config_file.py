"""The config file on disk: reading and parsing it (never quoting its contents, which may hold
the key), validating it against `config_keys.OPTIONS`, refusing a file another user can write
(ssh's rule), and changing one key at a time, atomically (mlchat/atomic.py: temp file, fsync,
os.replace), owner-only (0600 in a 0700 directory), keeping everything else as written
(tomledit). Part of mlchat's configuration: `mlchat.config` re-exports every public name.
Imports: tomllib, tomledit, atomic, keysource, errors and config_keys.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from mlchat import tomledit
from mlchat.config_keys import OPTIONS, KeyPath, check_key, check_option
from mlchat.errors import ConfigError, UsageError

DIR_MODE = 0o700


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
    holds a key, a base URL or an MCP server: a planted base_url would receive the key, a planted
    key would send the conversations to someone else's account, a planted server would run."""
    held = [name for name in TRUSTED_KEYS if file.get(name)]
    tables = file.get("profiles")
    for name, table in tables.items() if isinstance(tables, dict) else ():
        if isinstance(table, dict):
            held += [f"profiles.{name}.{key}" for key in TRUSTED_KEYS if table.get(key)]
    # An MCP server is a command mlchat starts (or a URL it sends headers to), with an
    # environment that can be given the key and a `trust` that skips the approval question.
    servers = file.get("mcp")
    held += [f"mcp.{name}" for name in servers] if isinstance(servers, dict) else []
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
