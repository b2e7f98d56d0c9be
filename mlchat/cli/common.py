"""Wiring shared by the commands: the Runtime, settings, model names, the client."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import typer

from mlchat import config, models
from mlchat.errors import ConfigError
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


def resolve_model(rt: Runtime, s: config.Settings) -> config.Settings:
    """`s` with its model name turned into an id: exact id, alias, or unique fragment of an id in
    the cached model list (never the network). An ambiguous fragment raises UsageError (exit 2)
    before any request is made."""
    model = models.resolve_model(s.model, s.aliases, models.cached_ids(s.base_url))
    if model == s.model:
        return s
    if rt.debug:
        rt.note(f"mlchat: debug: model '{s.model}' is {model}")
    return replace(s, model=model)


def require_key(s: config.Settings) -> str:
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
