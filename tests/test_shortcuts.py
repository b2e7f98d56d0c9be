"""The shortcuts of cli/argv.py: `mlchat "question"`, `echo text | mlchat`, a first word that
names a command stays one, `--debug` after the command, `-p NAME VALUE`; and `ask --session`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlchat.cli.argv import PARAM_SEP, rewrite
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator

COMMANDS = {"ask", "chat", "models", "tokens", "key", "sessions", "roles", "profiles", "config"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("args", "piped", "expected"),
    [
        (["what is a monad?"], False, ["ask", "what is a monad?"]),
        ([], True, ["ask"]),
        ([], False, []),
        (["--help"], True, ["--help"]),
        (["models"], False, ["models"]),
        (["ask", "models"], False, ["ask", "models"]),
        (["-m", "fast", "q"], False, ["ask", "-m", "fast", "q"]),
        (["--debug", "q"], False, ["--debug", "ask", "q"]),
        (["ask", "--debug", "q"], False, ["--debug", "ask", "q"]),
        (["models", "--debug"], False, ["--debug", "models"]),
        (["ask", "--", "--debug"], False, ["ask", "--", "--debug"]),
        (["--", "-x"], False, ["ask", "--", "-x"]),
        (
            ["ask", "-p", "lang", "Welsh", "q"],
            False,
            ["ask", "--param", f"lang{PARAM_SEP}Welsh", "q"],
        ),
        (["models", "-p", "a", "b"], False, ["models", "-p", "a", "b"]),
        (["ask", "-p", "lang"], False, ["ask", "-p", "lang"]),
    ],
)
def test_rewrite(args: list[str], piped: bool, expected: list[str]) -> None:
    assert rewrite(args, COMMANDS, stdin_piped=piped) == expected


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    return {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}


def user_text(emulator: Emulator) -> str:
    return str(emulator.requests[-1].json["messages"][-1]["content"])


def test_a_bare_question_is_ask(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["what is a monad?"], env=env)
    assert r.code == 0, r.err
    assert r.out == "echo: what is a monad?\n"


def test_piped_text_without_a_command_asks(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke([], stdin=b"summarise this\n", env=env)
    assert r.code == 0, r.err
    assert user_text(emulator) == "summarise this"


def test_a_command_word_stays_a_command(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "models"], env=env)
    assert r.code == 0 and user_text(emulator) == "models"
    r = invoke(["models", "--json"], env=env)
    assert r.code == 0 and isinstance(json.loads(r.out), list)


def test_debug_after_the_command(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--debug", "hi"], env=env)
    assert r.code == 0, r.err
    assert "mlchat: debug:" in r.err and FAKE_KEY not in r.err
    assert r.out == "echo: hi\n"


def test_a_terminal_with_no_arguments_still_gets_help() -> None:
    r = invoke([], stdin_tty=True)
    assert "Usage" in r.out + r.err


def test_ask_session_adds_a_turn_to_that_conversation(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert invoke(["ask", "first"], env=env).code == 0
    listed = json.loads(invoke(["sessions", "list", "--json"]).out)
    first_id = listed[0]["id"]
    assert invoke(["sessions", "rename", first_id, "notes"]).code == 0
    assert invoke(["ask", "another conversation"], env=env).code == 0
    r = invoke(["ask", "--session", "notes", "second"], env=env)
    assert r.code == 0, r.err
    contents = [m["content"] for m in emulator.requests[-1].json["messages"]]
    assert contents[0] == "first" and contents[-1] == "second"
    r = invoke(["ask", "--session", "nope", "x"], env=env)
    assert r.code == 2
    r = invoke(["ask", "-c", "--session", "notes", "x"], env=env)
    assert r.code == 2 and "not both" in r.err


def test_the_real_entry_point_takes_a_bare_question(emulator: Emulator, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELSLAB_", "MLCHAT_"))}
    env.update(MODELSLAB_API_KEY=FAKE_KEY, MODELSLAB_BASE_URL=emulator.base_url)
    done = subprocess.run(
        [sys.executable, "-m", "mlchat", "hello there", "--debug"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo: hello there\n" and "debug" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "mlchat"],
        cwd=ROOT,
        env=env,
        input="from a pipe\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo: from a pipe\n"


def test_an_empty_pipe_with_no_arguments_gets_help_not_a_question(emulator: Emulator) -> None:
    r = invoke([], stdin=b"")
    assert "Usage" in r.out + r.err and "no prompt" not in r.err
    done = subprocess.run(
        [sys.executable, "-m", "mlchat"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Usage: mlchat" in done.stdout + done.stderr and "error" not in done.stderr
    assert emulator.requests == []
