"""The real entry point in a subprocess, against the emulator over real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEY
from tests.emulator import Emulator, Reply

ROOT = Path(__file__).resolve().parent.parent


def child_env(emulator: Emulator | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELSLAB_", "MLCHAT_")) and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    env["PYTHONPATH"] = str(ROOT)
    if emulator is not None:
        env["MODELSLAB_BASE_URL"] = emulator.base_url
        env["MODELSLAB_API_KEY"] = FAKE_KEY
    env.update(extra)
    return env


def mlchat(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlchat", *args]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_ask_streams_over_real_sockets(emulator: Emulator, api: str) -> None:
    emulator.script(Reply.chat("héllo wörld, 世界 🎉 done", chunk_size=2, split_bytes=7))
    proc = subprocess.run(
        mlchat("ask", "--api", api, "hi"),
        env=child_env(emulator),
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "héllo wörld, 世界 🎉 done\n"
    assert proc.stderr == b""
    assert emulator.requests[0].path == (
        "/v1/messages" if api == "anthropic" else "/chat/completions"
    )


def test_piped_stdin_through_the_real_entry_point(emulator: Emulator) -> None:
    proc = subprocess.run(
        mlchat("ask", "summarise"),
        env=child_env(emulator),
        input=b"notes\n",
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"echo: notes\n\nsummarise\n"


def test_error_is_one_line_without_traceback(emulator: Emulator) -> None:
    emulator.script(Reply.error(401, {"status": "error", "message": "Invalid API key"}))
    proc = subprocess.run(
        mlchat("ask", "hi"), env=child_env(emulator), input=b"", capture_output=True, timeout=30
    )
    assert proc.returncode == 3
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert err.startswith("mlchat: error: HTTP 401: Invalid API key\n")
    assert "Traceback" not in err and FAKE_KEY not in err


def test_head_closes_the_pipe_quietly(emulator: Emulator) -> None:
    lines = "".join(f"line {i}\n" for i in range(400))
    emulator.script(Reply.chat(lines, chunk_size=7, delay=0.001))
    proc = subprocess.run(
        ["sh", "-c", f"{sys.executable} -m mlchat ask hi </dev/null | head -1"],
        env=child_env(emulator),
        capture_output=True,
        timeout=30,
    )
    assert proc.stdout == b"line 0\n"
    assert proc.stderr == b"", proc.stderr


def test_sigint_mid_stream_keeps_partial_and_exits_130(emulator: Emulator) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    emulator.script(Reply.chat(words, chunk_size=3, delay=0.05))
    proc = subprocess.Popen(
        mlchat("ask", "hi"),
        env=child_env(emulator),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = proc.stdout.read(3)
    assert first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    text = (first + out).decode()
    assert text.startswith("w0") and text.endswith("\n")
    assert len(text) < len(words)
    assert "Traceback" not in err.decode()
    assert "interrupted" in err.decode()


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (
            ["ask", "-t", "abc", "hi"],
            "Invalid value for '--temperature' / '-t'",
            "mlchat ask --help",
        ),
        (["ask", "--bogus", "hi"], "No such option: --bogus", "mlchat ask --help"),
        (["sessions", "nosuch"], "No such command 'nosuch'.", "mlchat sessions --help"),
        (["sessions", "rename"], "Missing argument", "mlchat sessions rename --help"),
        # an option missing its value: the hint names the command it was given to
        (["ask", "hi", "--model"], "Option '--model' requires an argument.", "mlchat ask --help"),
        (["hi there", "-t"], "Option '-t' requires an argument.", "mlchat ask --help"),
        (["sessions", "list", "-n"], "requires an argument", "mlchat sessions list --help"),
        # a misspelt option: the closest one, not every near one in alphabetical order
        (["ask", "--sesion", "x", "hi"], "--sesion (did you mean --session?)", "mlchat ask --help"),
        (
            ["sessions", "list", "--jsn"],
            "--jsn (did you mean --json?)",
            "mlchat sessions list --help",
        ),
    ],
)
def test_command_line_mistakes_are_one_line_errors(
    args: list[str], message: str, hint: str
) -> None:
    proc = subprocess.run(
        mlchat(*args), env=child_env(), input=b"", capture_output=True, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("mlchat: error: ") and message in lines[0]
    assert lines[1] == f"hint: see `{hint}`"


def test_no_arguments_shows_help_without_an_error_line() -> None:
    proc = subprocess.run(mlchat(), env=child_env(), input=b"", capture_output=True, timeout=30)
    assert proc.returncode == 2
    assert b"Usage: mlchat" in proc.stdout + proc.stderr
    assert b"mlchat: error" not in proc.stderr


def test_every_command_through_the_real_entry_point(emulator: Emulator, tmp_path: Path) -> None:
    """One pass over the command tree as a user's shell runs it: each command answers, stdout
    carries only its product, and nothing prints a traceback."""
    env = child_env(
        emulator,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )

    def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(mlchat(*args), env=env, input=stdin, capture_output=True, timeout=30)
        assert b"Traceback" not in proc.stderr, proc.stderr
        return proc

    assert run("models").stdout.decode().splitlines()[2] == "minimax-minimax-m1"
    assert run("tokens", "-m", "minimax", "count these words").stdout == b"6\n"
    assert run("chat", stdin=b"hello\n/exit\n").stdout == b"echo: hello\n"
    listed = run("sessions", "list").stdout.decode().splitlines()
    assert len(listed) == 1 and listed[0].split("\t")[-1] == "hello"
    assert run("sessions", "search", "hello").returncode == 0
    assert run("config", "path").stdout.decode().strip().endswith("mlchat/config.toml")
    status = run("key", "status")
    assert status.returncode == 0 and FAKE_KEY not in (status.stdout + status.stderr).decode()
