"""Roles: named bundles of a system prompt, model, dialect, sampling parameters, tools file,
JSON mode or schema, and a prompt template; one TOML file each, `roles/NAME.toml` in the config
directory, easy to write by hand and to share:

    # ~/.config/mlchat/roles/translate.toml
    description = "translate into another language"
    system = "You are a translator. Keep the formatting."
    template = "Translate into {lang}:\\n\\n{input}"
    temperature = 0.2
    [defaults]
    lang = "French"

In `system` and `template`, `{input}` stands for what the user gives (the argument and stdin,
assembled as for a plain `ask`), `{NAME}` for a value given with `-p NAME VALUE` (or the role's
`[defaults]`), and `{os}`, `{shell}`, `{cwd}` for the operating system, the login shell and the
name (not the path) of the working directory. Any other brace is literal text, so code in a
template needs no escaping. A template without `{input}` gets the input after a blank line.

A few roles are built in (`BUILTIN`); a file of the same name takes their place. A role file is
checked as a whole when it is read: a mistake is a ConfigError naming the file, the line and the
problem. Imports: config (paths, checks), params, errors. Nothing is read at import time.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlchat.errors import ConfigError, UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
AUTO = ("os", "shell", "cwd")  # filled from the process unless -p gives them
TEXT_FIELDS = ("description", "system", "template", "tools", "schema")

# The built-in roles, as the files that would replace them (`mlchat roles show NAME`). In TOML's
# multi-line strings a backslash at the end of a line joins it to the next.
BUILTIN: dict[str, str] = {
    "code": """\
description = "answer with code only"
system = \"\"\"You are a programming assistant. Answer with code only: no explanation before \\
or after it and no Markdown code fence. If something must be said, say it in a comment in \\
the code.\"\"\"
temperature = 0.2
""",
    "shell": """\
description = "one shell command for what is asked (used by the shell-command mode)"
system = \"\"\"You turn a request into one shell command for {os}, to be run by {shell} in a \\
directory named {cwd}. Answer with the command only: one line, no explanation, no Markdown, \\
no code fence, no leading $. If several steps are needed, join them with && or a pipe. If the \\
request cannot be done with one command, answer with one line starting with # that says \\
why.\"\"\"
temperature = 0.2
""",
    "explain": """\
description = "explain code, a command or an error, step by step"
system = \"\"\"You explain what you are given (code, a shell command, an error message, a \\
configuration) to a developer: first what it does in one sentence, then how, step by step, \\
then anything surprising or risky. Be brief and concrete; use Markdown.\"\"\"
""",
}


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str = ""
    system: str | None = None
    template: str | None = None
    model: str | None = None
    api: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: str | None = None
    mcp: tuple[str, ...] = ()  # MCP servers of the config file ([mcp.NAME]) it uses, or "all"
    json_mode: bool = False
    schema: str | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)
    source: Literal["builtin", "file"] = "file"
    path: Path | None = None

    @property
    def needs_input(self) -> bool:
        """False for a template that is a whole prompt by itself (no `{input}`)."""
        return self.template is None or "{input}" in self.template

    def tools_path(self) -> Path | None:
        """The tools file: `~` expanded, a relative path taken from the roles directory."""
        if not self.tools:
            return None
        path = Path(os.path.expanduser(self.tools))  # noqa: PTH111 - `~nosuchuser` stays
        return path if path.is_absolute() else roles_dir() / path

    def placeholders(self) -> set[str]:
        found: set[str] = set()
        for text in (self.system, self.template):
            if text:
                found |= set(_PLACEHOLDER.findall(text))
        return found

    def values(self, given: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
        """The values for the placeholders: -p > [defaults] > the process (os, shell, cwd).
        A -p name the role does not use is a usage error (a typo would be lost in silence)."""
        used = self.placeholders()
        others = sorted(used - {"input"})
        for name in given:
            if name not in used:
                raise UsageError(
                    f"-p {name}: role '{self.name}' has no {{{name}}}",
                    hint=("it uses " + ", ".join(f"{{{n}}}" for n in others)) if others else None,
                )
        values = {**_auto(env), **self.defaults, **given}
        missing = sorted(used - set(values) - {"input"})
        if missing:
            raise UsageError(
                f"role '{self.name}' needs a value for {{{missing[0]}}}",
                hint=f"give it with -p {missing[0]} VALUE",
            )
        return values

    def system_prompt(self, values: Mapping[str, str]) -> str | None:
        return fill(self.system, values) if self.system else None

    def prompt(self, text: str, values: Mapping[str, str]) -> str:
        """The message sent for the user's `text`."""
        if self.template is None:
            return text
        if "{input}" in self.template:
            return fill(self.template, {**values, "input": text})
        body = fill(self.template, values)
        return f"{body}\n\n{text}" if text.strip() else body


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{name}` that has a value replaced, in one pass: a value that itself
    contains `{name}` (the user's input, a file) is never expanded again."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _auto(env: Mapping[str, str]) -> dict[str, str]:
    import os
    import platform

    system = platform.system() or "Unix"
    if system == "Darwin":
        system = "macOS"
    shell = Path(env.get("SHELL", "") or ("cmd.exe" if os.name == "nt" else "sh")).name
    try:
        cwd = Path.cwd().name or "/"
    except OSError:
        cwd = "?"
    return {"os": system, "shell": shell, "cwd": cwd}


# ---------------------------------------------------------------------------------------------
# Files


def roles_dir() -> Path:
    from mlchat import config

    return config.config_dir() / "roles"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"'{name}' is not a role name: letters, digits, '.', '_' and '-', up to 64"
        )
    return name


def path_of(name: str) -> Path:
    return roles_dir() / f"{check_name(name)}.toml"


def names() -> dict[str, Literal["builtin", "file", "overrides"]]:
    """Every role name, sorted, with where it comes from."""
    found: dict[str, Literal["builtin", "file", "overrides"]] = dict.fromkeys(BUILTIN, "builtin")
    try:
        entries = list(roles_dir().glob("*.toml"))
    except OSError:
        entries = []
    for entry in entries:
        if _NAME.fullmatch(entry.stem) and entry.is_file():
            found[entry.stem] = "overrides" if entry.stem in BUILTIN else "file"
    return dict(sorted(found.items()))


def load(name: str) -> Role:
    """The role NAME: its file, else the built-in, else UsageError listing the roles."""
    path = path_of(name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if name in BUILTIN:
            return parse(name, BUILTIN[name], None)
        known = ", ".join(names())
        raise UsageError(
            f"no role named '{name}'",
            hint=f"roles: {known}; create one with `mlchat roles edit {name}`",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    return parse(name, text, path)


def text_of(name: str) -> str:
    """The TOML text of a role: its file's, or the built-in's."""
    path = path_of(name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if name in BUILTIN:
            return BUILTIN[name]
        raise UsageError(f"no role named '{name}'") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def parse(name: str, text: str, path: Path | None, where: str | None = None) -> Role:
    """The role in `text`, checked, or ConfigError: `PATH:LINE: problem`."""
    where = where or (str(path) if path else f"built-in role {name}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r"line (\d+)", message)
        reason = message.split(" (at", 1)[0]
        raise ConfigError(
            f"{where}:{at.group(1) if at else '?'}: not valid TOML: {reason}"
        ) from None
    fields: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, value in data.items():
        try:
            _check(key, value, fields, params)
        except UsageError as exc:
            raise ConfigError(f"{where}:{_line_of(text, key)}: {exc.message}") from None
    if path is not None and (fields.get("tools") or fields.get("mcp")):
        from mlchat import config

        problem = config.untrusted(path)
        if problem is not None:
            raise ConfigError(
                f"bad owner or permissions on {path}: {problem}; refusing its tools",
                hint=f"run: chmod go-w {path}",
            )
    return Role(
        name=name,
        params=params,
        source="file" if path is not None else "builtin",
        path=path,
        **fields,
    )


def _check(key: str, value: Any, fields: dict[str, Any], params: dict[str, Any]) -> None:
    from mlchat import config
    from mlchat import params as P

    if key in TEXT_FIELDS:
        if not isinstance(value, str):
            raise UsageError(f"{key} must be a string")
        fields[key] = value
    elif key in ("model", "api"):
        fields[key] = config.check_option((key,), value)
    elif key in P.SPECS:
        coerced = config.check_option((key,), value)
        params[key] = tuple(coerced) if key == "stop" else coerced
    elif key == "mcp":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise UsageError('mcp must be a list of server names, e.g. ["time"] or ["all"]')
        fields[key] = tuple(value)
    elif key == "json_mode":
        if not isinstance(value, bool):
            raise UsageError("json_mode must be true or false")
        fields[key] = value
    elif key == "defaults":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise UsageError('defaults must be a table of name = "value"')
        fields[key] = dict(value)
    else:
        close = _suggest(key)
        raise UsageError(
            f"unknown key '{key}'" + (f" (did you mean {close}?)" if close else ""),
        )
    if fields.get("json_mode") and fields.get("schema"):
        raise UsageError("json_mode and schema exclude each other")


def _suggest(key: str) -> str | None:
    import difflib

    from mlchat import params as P

    known = [*TEXT_FIELDS, "model", "api", "mcp", "json_mode", "defaults", *P.SPECS]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _line_of(text: str, key: str) -> int | str:
    k = re.escape(key)
    pattern = rf'(?m)^[ \t]*(?:{k}|"{k}")[ \t]*=|^[ \t]*\[[ \t]*{k}[ \t]*\]'
    found = re.search(pattern, text)
    return text.count("\n", 0, found.start()) + 1 if found else "?"


def save(name: str, text: str) -> Path:
    """Write a role file (checked first) atomically; returns its path."""
    path = path_of(name)
    parse(name, text, None)
    from mlchat import atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic.write_atomic(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def dump(settings: Mapping[str, Any]) -> str:
    """A role file's text for `--save-role`: the given settings, in a stable order."""
    from mlchat import tomledit

    order = ["description", "system", "template", "model", "api"]
    keys = [k for k in order if k in settings] + sorted(k for k in settings if k not in order)
    lines = []
    for key in keys:
        value = settings[key]
        if isinstance(value, dict):
            continue
        lines.append(f"{key} = {tomledit.dumps_value(value)}")
    for key in keys:
        value = settings[key]
        if isinstance(value, dict) and value:
            lines.append(f"\n[{key}]")
            lines += [
                f"{tomledit.format_key((k,))} = {tomledit.dumps_value(v)}" for k, v in value.items()
            ]
    return "\n".join(lines) + "\n"
