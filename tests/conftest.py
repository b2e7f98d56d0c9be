"""Shared fixtures. Every test runs with platformdirs pointed at its own tmp_path and without the
developer's MODELSLAB_* / MLCHAT_* variables, so no test sees a real key or real files."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlchat.cli import app
from mlchat.runtime import Runtime
from tests.emulator import Emulator

FAKE_KEY = "ml-test-SECRET-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def umask() -> Iterator[None]:
    """022 whatever the machine's: config files written by a test with a group-writable umask
    (002) would be refused, rightly, as files another user can write."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("MODELSLAB_", "MLCHAT_")) or name in ("NO_COLOR", "FORCE_COLOR"):
            monkeypatch.delenv(name, raising=False)
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        path = tmp_path / "xdg" / var.lower()
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@dataclass
class Run:
    code: int
    out: str
    err: str
    rt: Runtime


def invoke(
    args: list[str],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    stdin_tty: bool = False,
    stdout_tty: bool = False,
    stderr_tty: bool = False,
    rt: Runtime | None = None,
) -> Run:
    """Run the CLI in-process with an injected Runtime; stdout and stderr are captured apart."""
    out, err = io.StringIO(), io.StringIO()
    base_env = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
    runtime = rt or Runtime(
        env={**base_env, **(env or {})},
        stdin=io.BytesIO(stdin or b""),
        stdout=out,
        stderr=err,
        stdin_tty=stdin_tty,
        stdout_tty=stdout_tty,
        stderr_tty=stderr_tty,
        sleep=lambda _s: None,
    )
    result = CliRunner().invoke(app, args, obj=runtime)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(
        result.exit_code,
        out.getvalue() + result.stdout,
        err.getvalue() + result.stderr,
        runtime,
    )


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    """Environment pointing mlchat at the emulator with a fake key."""
    return {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
