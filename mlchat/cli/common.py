"""Wiring shared by the commands: the Runtime from the context, settings, the client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlchat import config
from mlchat.errors import ConfigError, UsageError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.client import Client


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


IDLE_ENV = "MLCHAT_IDLE_TIMEOUT"
DEFAULT_IDLE = 300.0


def idle_timeout(rt: Runtime, s: config.Settings) -> float:
    """The longest a stream may send keep-alives without content: MLCHAT_IDLE_TIMEOUT, else
    `idle_timeout` in the config file, else 300 s or the read timeout if that is longer (a
    stream of pings is at least as alive as a silent one)."""
    for value, from_env in ((rt.env.get(IDLE_ENV), True), (s.file.get("idle_timeout"), False)):
        if value is None or value == "":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if number > 0:
            return number
        if from_env:
            raise UsageError(f"{IDLE_ENV} must be a positive number of seconds, got '{value}'")
        raise ConfigError(
            f"idle_timeout in {config.config_path()} must be a positive number of seconds, "
            f"got '{value}'"
        )
    return max(DEFAULT_IDLE, s.timeout)


def client(rt: Runtime, s: config.Settings) -> Client:
    from mlchat.client import Client, RetryPolicy, Timeouts

    return Client(
        s.base_url,
        require_key(s),
        timeouts=Timeouts(read=s.timeout, idle=idle_timeout(rt, s)),
        retry=RetryPolicy(retries=s.retries),
        transport=rt.transport,
        debug=(lambda line: rt.note(rt.scrub(f"mlchat: debug: {line}"))) if rt.debug else None,
        status=lambda line: rt.note(rt.scrub(f"mlchat: {line}")),
        sleep=rt.sleep,
        clock=rt.clock,
    )
