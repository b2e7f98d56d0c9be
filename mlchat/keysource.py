"""Where the API key comes from: the config file, a named variable, a command, or the keyring.

One table (the top level of config.toml, or one `[profiles.NAME]`) names at most one source:

    api_key = "..."                       the key itself, in the owner-only file
    api_key_env = "VAR"                   the environment variable VAR
    api_key_cmd = "pass show modelslab"   a command; the first line of its stdout is the key
    api_key_keyring = true                the system keyring (the optional `keyring` package)

`api_key_cmd` runs without a shell: a string is split like a shell would (shlex) and run as that
argv; a list of several strings is the argv itself; a list of ONE string is run by `sh -c`, for
users who want a pipe. The command and the keyring cost time (gpg, a desktop prompt), so they are
not consulted when the settings are resolved, only when a command is about to send a request
(`KeyRef.get`), and at most once per process. A failing command is a ConfigError (exit 3) that
carries the last line of its stderr; the key itself never appears in a message.

We run the command ourselves rather than through a secrets library: what users have is `pass`,
`op read`, `security find-generic-password`, `secret-tool lookup`, and any of them is one argv.

Imports: the standard library and errors; `keyring` only inside `_keyring()`, when it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlchat.errors import ConfigError, UsageError

KEY_ENV = "MODELSLAB_API_KEY"
SERVICE = "mlchat"  # the keyring's service name; the account is "default" or the profile's name
DEFAULT_ACCOUNT = "default"
FIELDS = ("api_key", "api_key_env", "api_key_cmd", "api_key_keyring")
CMD_TIMEOUT = 120.0  # seconds: long enough to type a passphrase at a pinentry
MAX_OUTPUT = 64 * 1024

KeySource = Literal["flag", "env", "file", "var", "cmd", "keyring"]

# What each command or keyring entry gave, so that each runs at most once per process.
_FETCHED: dict[tuple[str, ...], str] = {}


# ---------------------------------------------------------------------------------------------
# Checking the fields


def check_field(name: str, value: Any) -> Any:
    """`value` for one of the source fields other than `api_key` (config checks that one),
    normalised, or UsageError naming the field."""
    if name == "api_key_env":
        if not isinstance(value, str) or not value.strip() or "=" in value or " " in value.strip():
            raise UsageError("api_key_env must be the name of an environment variable")
        return value.strip()
    if name == "api_key_cmd":
        argv, _ = command(value)
        if not argv:
            raise UsageError('api_key_cmd must be a command, e.g. "pass show modelslab"')
        return value
    if name == "api_key_keyring":
        if not isinstance(value, bool):
            raise UsageError("api_key_keyring must be true or false")
        return value
    raise UsageError(f"unknown key '{name}'")  # pragma: no cover - callers pass FIELDS only


def command(value: Any) -> tuple[tuple[str, ...], bool]:
    """(argv, via a shell) for an `api_key_cmd` value, or UsageError."""
    import shlex

    if isinstance(value, str):
        try:
            return tuple(shlex.split(value)), False
        except ValueError as exc:
            raise UsageError(f"api_key_cmd: {exc}") from None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if len(value) == 1:
            if not value[0].strip():
                return (), True
            return ("/bin/sh", "-c", value[0]), True
        return tuple(value), False
    raise UsageError("api_key_cmd must be a string or a list of strings")


def sources_in(table: Mapping[str, Any]) -> list[str]:
    """The source fields a table sets (an empty `api_key` or a false keyring does not count)."""
    found = []
    for name in FIELDS:
        value = table.get(name)
        if value is None or value is False or (isinstance(value, str) and not value.strip()):
            continue
        found.append(name)
    return found


def check_one(table: Mapping[str, Any], where: str) -> None:
    """ConfigError when a table names more than one source: which one wins would be a guess."""
    found = sources_in(table)
    if len(found) > 1:
        raise ConfigError(
            f"{where} sets {' and '.join(found)}: choose one source for the API key",
            hint="remove all but one of them",
        )


# ---------------------------------------------------------------------------------------------
# Finding the key


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A source consulted only when the key is needed: a command or the keyring."""

    kind: Literal["cmd", "keyring"]
    argv: tuple[str, ...] = ()
    shell: bool = False
    account: str = DEFAULT_ACCOUNT

    def describe(self) -> str:
        if self.kind == "keyring":
            return f"system keyring ({SERVICE}/{self.account})"
        import shlex

        shown = self.argv[2] if self.shell else shlex.join(self.argv)
        return f"command ({shown})"

    def get(self, env: Mapping[str, str], *, stdin_tty: bool = False) -> str:
        """The key; the command or the keyring is asked once per process."""
        cache_key = (self.kind, self.account, *self.argv)
        if cache_key not in _FETCHED:
            if self.kind == "keyring":
                raw = keyring_get(self.account)
            else:
                raw = run_command(self.argv, env, stdin_tty=stdin_tty)
            _FETCHED[cache_key] = _checked(raw, self.describe())
        return _FETCHED[cache_key]


@dataclass(frozen=True, slots=True)
class Found:
    key: str | None  # known now: a flag, a variable, the file
    source: KeySource | None
    ref: KeyRef | None = None  # known later: a command, the keyring
    label: str = ""  # where it comes from, for `key status` and --debug


def find(
    flag: str | None,
    env: Mapping[str, str],
    table: Mapping[str, Any],
    *,
    env_first: bool = True,
    account: str = DEFAULT_ACCOUNT,
    where: str = "config file",
) -> Found:
    """The key's source: a flag > MODELSLAB_API_KEY (unless `env_first` is false: a profile
    with a source of its own never gets the ModelsLab key sent to its server) > the table's."""
    if isinstance(flag, str) and flag.strip():
        return Found(flag.strip(), "flag", label="command line")
    env_key = env.get(KEY_ENV, "")
    if env_first and env_key.strip():
        return Found(env_key.strip(), "env", label=f"environment ({KEY_ENV})")
    var = table.get("api_key_env")
    if isinstance(var, str) and var.strip():
        value = env.get(var.strip(), "")
        label = f"environment ({var.strip()}, from api_key_env in {where})"
        return Found(value.strip() or None, "var" if value.strip() else None, label=label)
    cmd = table.get("api_key_cmd")
    if cmd is not None:
        argv, shell = command(cmd)
        ref = KeyRef("cmd", argv, shell)
        return Found(None, "cmd", ref, f"{ref.describe()}, from api_key_cmd in {where}")
    if table.get("api_key_keyring") is True:
        ref = KeyRef("keyring", account=account)
        return Found(None, "keyring", ref, f"{ref.describe()}, from api_key_keyring in {where}")
    file_key = table.get("api_key")
    if isinstance(file_key, str) and file_key.strip():
        return Found(file_key.strip(), "file", label=where)
    return Found(None, None)


def _checked(raw: str, what: str) -> str:
    from mlchat.config import check_key

    try:
        return check_key(raw, f"the key from the {what}")
    except UsageError as exc:
        raise ConfigError(exc.message) from None


# ---------------------------------------------------------------------------------------------
# The command


def run_command(argv: tuple[str, ...], env: Mapping[str, str], *, stdin_tty: bool = False) -> str:
    """The first line of the command's stdout, or ConfigError with the last line of its stderr.
    The command gets our environment without the API key, and our terminal only when stdin is
    one (a passphrase prompt); a pipe carrying the user's prompt is never handed to it."""
    import subprocess

    child_env = {k: v for k, v in env.items() if k != KEY_ENV}
    name = argv[0] if argv else "?"
    try:
        done = subprocess.run(
            list(argv),
            stdin=None if stdin_tty else subprocess.DEVNULL,
            capture_output=True,
            env=child_env,
            timeout=CMD_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"api_key_cmd: command not found: {_clean(name)}", hint=_CMD_HINT
        ) from None
    except PermissionError:
        raise ConfigError(f"api_key_cmd: cannot run {_clean(name)}: permission denied") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"api_key_cmd did not finish within {CMD_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise ConfigError(f"api_key_cmd: cannot run {_clean(name)}: {exc.strerror}") from None
    if done.returncode != 0:
        last = _last_line(done.stderr)
        status = (
            f"was killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"failed (exit {done.returncode})"
        )
        raise ConfigError(f"api_key_cmd {status}" + (f": {last}" if last else ""), hint=_CMD_HINT)
    out = done.stdout[:MAX_OUTPUT]
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("api_key_cmd printed something that is not UTF-8 text") from None
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    if not first:
        raise ConfigError("api_key_cmd printed nothing on its first line of stdout", hint=_CMD_HINT)
    return first


_CMD_HINT = "check api_key_cmd in the config file (`mlchat key status` shows the source)"


def _last_line(raw: bytes) -> str:
    lines = [ln for ln in raw.decode("utf-8", "replace").splitlines() if ln.strip()]
    return _clean(lines[-1].strip())[:300] if lines else ""


def _clean(text: str) -> str:
    from mlchat.text import escape_controls

    return escape_controls(text).replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# The keyring


def _keyring() -> Any:
    try:
        import keyring
    except ImportError:
        raise ConfigError(
            "api_key_keyring needs the keyring package",
            hint="install it: pip install 'mlchat[keyring]'",
        ) from None
    return keyring


def keyring_get(account: str) -> str:
    kr = _keyring()
    try:
        value = kr.get_password(SERVICE, account)
    except Exception as exc:  # any backend: D-Bus, macOS Keychain, a locked wallet
        raise ConfigError(f"the system keyring failed: {_clean(str(exc))[:300]}") from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"no key in the system keyring for {SERVICE}/{account}",
            hint="store one with `mlchat key set --keyring`",
        )
    return value


def keyring_set(account: str, key: str) -> None:
    kr = _keyring()
    try:
        kr.set_password(SERVICE, account, key)
    except Exception as exc:
        raise ConfigError(f"the system keyring failed: {_clean(str(exc))[:300]}") from None
    _FETCHED.pop(("keyring", account), None)


def keyring_delete(account: str) -> bool:
    kr = _keyring()
    try:
        kr.delete_password(SERVICE, account)
    except Exception as exc:
        if type(exc).__name__ == "PasswordDeleteError":
            return False
        raise ConfigError(f"the system keyring failed: {_clean(str(exc))[:300]}") from None
    _FETCHED.pop(("keyring", account), None)
    return True
