"""`mlchat config edit`: the config file in $VISUAL or $EDITOR, checked before it replaces the file.

As visudo does: the editor works on a copy (owner-only, next to the file), the copy is parsed and
validated after the editor exits, and an edit that does not parse or fails validation is reported
with an offer to open it again; the file is replaced (atomically, mlchat/atomic.py) only by a
valid edit, and never when another process changed it meanwhile. An edit that is not kept stays
in its copy, named, so nothing typed is lost. Needs a terminal: without one it is one line and
exit 2 (`config set` is the scripting form). Imports: config, errors, runtime; os, shlex,
subprocess and tempfile inside the function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlchat.errors import ConfigError, MlchatError, UsageError
from mlchat.runtime import Runtime

# What a new file starts as; saving it unchanged creates nothing.
SKELETON = """\
# mlchat settings (TOML). Keys: `mlchat config --help`; for example:
# model = "meta-llama-3-8B-instruct"
# temperature = 0.7
"""

ASK = "What now? (e)dit again, (q)uit and leave the file as it was [e]: "


def editor_argv(env: Any) -> list[str]:
    """$VISUAL, else $EDITOR, else vi, split as a shell would split words (run without a shell,
    as git does with a plain command)."""
    import shlex

    editor = env.get("VISUAL", "").strip() or env.get("EDITOR", "").strip() or "vi"
    try:
        argv = shlex.split(editor)
    except ValueError:
        raise UsageError(f"cannot read the editor command '{editor}'") from None
    if not argv:
        raise UsageError(f"cannot read the editor command '{editor}'")
    return argv


def edit(rt: Runtime) -> None:
    """Run the edit loop on the config file; returns when it is saved or unchanged."""
    from mlchat import config

    if not rt.stdin_tty:
        raise UsageError(
            "config edit needs a terminal to run the editor in",
            hint="in a script, use `mlchat config set KEY VALUE`",
        )
    path = config.config_path()
    before = config.read_text(path)  # may not parse: fixing such a file is what this is for
    argv = editor_argv(rt.env)
    copy = _make_copy(path, before or SKELETON)
    kept = f"your edit is in {copy}"
    while True:
        _run_editor(argv, copy, kept)
        after = _read_copy(copy)
        if after == (before or SKELETON):
            copy.unlink(missing_ok=True)
            rt.note(f"mlchat: {path} unchanged")
            return
        problem = _problem(after, path, rt)
        if problem is None:
            break
        rt.note(f"mlchat: {problem}")
        if not _again(rt):
            raise ConfigError(f"{path} was not changed", hint=kept)
    if config.read_text(path) != before:
        raise ConfigError(
            f"{path} was changed by another program while you edited it; it was not replaced",
            hint=f"{kept}: compare the two, then run `mlchat config edit` again",
        )
    old_mode = config.insecure_mode(path)
    config.write_atomic(path, after)
    copy.unlink(missing_ok=True)
    from mlchat.cli import common

    common.wrote(rt, path, old_mode)
    for name in config.unknown_keys(config.parse_text(after, path)):
        close = config.suggest(name)
        rt.warn(f"unknown key '{name}' is ignored" + (f" (did you mean {close}?)" if close else ""))
    rt.note(f"mlchat: saved {path}")


def _make_copy(path: Path, text: str) -> Path:
    """The copy the editor works on: in the file's directory (the key never goes to /tmp), 0600,
    named .toml so that editors colour it."""
    import os
    import tempfile

    from mlchat import config

    directory = path.parent
    try:
        directory.mkdir(mode=config.DIR_MODE, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".config.", suffix=".edit.toml", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot make a copy to edit in {directory}: {exc.strerror}") from None
    return Path(name)


def _run_editor(argv: list[str], copy: Path, kept: str) -> None:
    import subprocess

    try:
        done = subprocess.run([*argv, str(copy)], check=False)
    except OSError as exc:
        copy.unlink(missing_ok=True)
        raise UsageError(
            f"cannot run the editor '{argv[0]}': {exc.strerror}",
            hint="set VISUAL or EDITOR to your editor's command",
        ) from None
    if done.returncode != 0:
        raise UsageError(
            f"the editor exited with status {done.returncode}; the config file was not changed",
            hint=kept,
        )


def _read_copy(copy: Path) -> str:
    try:
        return copy.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"the edited copy {copy} is gone; the file was not changed") from None
    except UnicodeDecodeError:
        return "\ufffd"  # not UTF-8: reported as a parse failure below, never shown
    except OSError as exc:
        raise ConfigError(f"cannot read {copy}: {exc.strerror}") from None


def _problem(text: str, path: Path, rt: Runtime) -> str | None:
    """Why the edited text cannot replace the file (its position, never its contents), or None."""
    from mlchat import config

    if text == "\ufffd":
        return "your edit is not UTF-8 text"
    try:
        file = config.parse_text(text, Path("your edit"))
    except ConfigError as exc:
        return exc.message
    for table in (file, *_profiles(file)):
        key = table.get("api_key")
        if isinstance(key, str) and key.strip():
            rt.secrets.add(key.strip())  # no message below may show it
    try:
        config.resolve(config.Flags(), {}, file, path=Path("your edit"))
    except MlchatError as exc:
        return exc.message
    return None


def _profiles(file: dict[str, Any]) -> list[dict[str, Any]]:
    tables = file.get("profiles")
    if not isinstance(tables, dict):
        return []
    return [table for table in tables.values() if isinstance(table, dict)]


def _again(rt: Runtime) -> bool:
    while True:
        try:
            answer = rt.ask(ASK).strip().lower()
        except EOFError:
            rt.note("")
            return False
        if answer in ("", "e", "edit"):
            return True
        if answer in ("q", "quit", "x"):
            return False
