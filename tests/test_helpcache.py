"""The help cache (mlchat/helpcache.py) replays exactly what Typer drew, only when nothing that
could change it has changed, and never stands in the way of Typer drawing it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from mlchat import helpcache
from tests.test_startup_imports import child_env

HELPS = [["--help"], ["ask", "--help"], ["sessions", "list", "-h"], ["key", "--help"]]


def run(args: list[str], cache: Path, **extra: str) -> tuple[str, set[str]]:
    """`python -X importtime -m mlchat ARGS`: its stdout and the modules it imported."""
    env = child_env(**{"XDG_CACHE_HOME": str(cache), "COLUMNS": "90", **extra})
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlchat", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return proc.stdout, modules


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_a_replayed_help_is_what_typer_drew(tmp_path: Path, args: list[str]) -> None:
    cache = tmp_path / "cache"
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")  # a cache directory that cannot exist: Typer draws every time
    uncached, _ = run(args, blocked)
    first, first_modules = run(args, cache)
    second, second_modules = run(args, cache)
    assert "typer" in first_modules  # drawn by Typer, and recorded
    assert "typer" not in second_modules and "mlchat.cli" not in second_modules  # replayed
    assert uncached == first == second
    assert "Usage: mlchat" in second
    assert len(list((cache / "mlchat" / "help").iterdir())) == 1


def test_another_width_or_environment_is_drawn_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    narrow, _ = run(["ask", "--help"], cache)
    wide, modules = run(["ask", "--help"], cache, COLUMNS="140")
    assert "typer" in modules and narrow != wide
    _, modules = run(["ask", "--help"], cache, NO_COLOR="1")
    assert "typer" in modules
    _, modules = run(["ask", "--help"], cache, COLUMNS="140")
    assert "typer" not in modules


def test_a_damaged_cache_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    good, _ = run(["--help"], cache)
    (stored,) = (cache / "mlchat" / "help").iterdir()
    data = stored.read_bytes()
    for damaged in (data[:-10], data.replace(b"mlchat-help-1", b"mlchat-help-9"), b"", b"\0" * 99):
        stored.write_bytes(damaged)
        again, modules = run(["--help"], cache)
        assert again == good and "typer" in modules
        assert stored.read_bytes() == data


def test_on_a_terminal_the_replay_is_byte_for_byte(tmp_path: Path) -> None:
    env = child_env(XDG_CACHE_HOME=str(tmp_path / "cache"), TERM="xterm-256color")

    def draw() -> bytes:
        pid, fd = pty.fork()
        if pid == 0:  # the child: mlchat on a terminal
            os.execve(sys.executable, [sys.executable, "-m", "mlchat", "ask", "--help"], env)
        out = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        os.waitpid(pid, 0)
        os.close(fd)
        return out

    first, second = draw(), draw()
    assert b"\x1b[" in first  # coloured: drawn for a terminal
    assert first == second
    assert len(list((tmp_path / "cache" / "mlchat" / "help").iterdir())) == 1


@pytest.mark.parametrize(
    "args",
    [["ask"], ["--debug", "--help"], ["ask", "-m", "x", "--help"], ["ask", "--help", "x"], []],
    ids=" ".join,
)
def test_only_plain_help_requests_are_cached(args: list[str]) -> None:
    assert helpcache.help_words(args) is None


def test_the_key_covers_the_code_and_leaves_secrets_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"TERM": "xterm", "MODELSLAB_API_KEY": "ml-one", "GITHUB_TOKEN": "a"}
    base = helpcache.key(["ask"], env)
    secrets = {"MODELSLAB_API_KEY": "ml-two", "GITHUB_TOKEN": "b"}
    assert helpcache.key(["ask"], {**env, **secrets}) == base
    assert helpcache.key(["ask"], {**env, "PWD": "/elsewhere"}) == base
    assert helpcache.key(["ask"], {**env, "TERM": "dumb"}) != base
    assert helpcache.key(["chat"], env) != base
    # A rich found first on sys.path is part of the key, file by file.
    fake = tmp_path / "rich"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with_fake = helpcache.key(["ask"], env)
    assert with_fake != base
    (fake / "console.py").write_text("")
    assert helpcache.key(["ask"], env) != with_fake
