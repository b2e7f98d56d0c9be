"""Wiring shared by the commands: the Runtime from the context, settings, the client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlchat.errors import ConfigError
from mlchat.runtime import Runtime

if TYPE_CHECKING:
    # config (with params and types) is imported inside the functions: `--help` and completion
    # import this module and never resolve settings.
    from mlchat import config
    from mlchat.client import Client


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime().bind()
    return root.obj


def settings(rt: Runtime, flags: config.Flags) -> config.Settings:
    from mlchat import config

    path = config.config_path()
    file = config.load_file(path)
    resolved = config.resolve(flags, rt.env, file)
    if resolved.api_key:
        rt.secrets.add(resolved.api_key)
    if resolved.key_source == "file" and (mode := config.insecure_mode(path)) is not None:
        rt.warn(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return resolved


def require_key(s: config.Settings) -> str:
    from mlchat import config

    if not s.api_key:
        raise ConfigError(
            "no API key: set MODELSLAB_API_KEY or run `mlchat key set`",
            hint=f"get a key at {config.DASHBOARD_URL}",
        )
    return s.api_key


def client(rt: Runtime, s: config.Settings) -> Client:
    from mlchat.client import Client, RetryPolicy, Timeouts

    return Client(
        s.base_url,
        require_key(s),
        timeouts=Timeouts(read=s.timeout),
        retry=RetryPolicy(retries=s.retries),
        transport=rt.transport,
        debug=(lambda line: rt.note(rt.scrub(f"mlchat: debug: {line}"))) if rt.debug else None,
        status=lambda line: rt.note(f"mlchat: {line}"),
        sleep=rt.sleep,
        clock=rt.clock,
    )
