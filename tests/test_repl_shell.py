"""`!command` and `/run N` in chat, read from a pipe: the command runs in the user's shell, its
output shown; the question whether it goes with the next message is answered by the next line;
/run runs only a shell block, shown first, on a yes. The terminal side: test_repl_shell_tmux.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlchat.shellmode import Ran
from tests.conftest import invoke
from tests.emulator import Emulator, Reply

ASK_ADD = "Add the command and its output to your next message? [y/N]"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def shell_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "SHELL": "/bin/sh", "PATH": os.environ.get("PATH", os.defpath)}


def chat(lines: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    r = invoke(["chat"], stdin=("\n".join(lines) + "\n").encode(), env=env)
    return r.code, r.out, r.err


def user_messages(emulator: Emulator) -> list[str]:
    return [
        str(r.json["messages"][-1]["content"])
        for r in emulator.requests
        if r.path == "/chat/completions"
    ]


def test_bang_runs_at_once_and_a_yes_adds_it_to_the_next_message(
    shell_env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    code, out, err = chat(["!printf 'one\\ntwo\\n'; exit 3", "y", "what failed?"], shell_env)
    assert code == 0, err
    assert out.startswith("one\ntwo\n")
    assert "mlchat: exit status 3" in err and ASK_ADD in err
    note = Ran("printf 'one\\ntwo\\n'; exit 3", 3, "one\ntwo\n").note()
    assert user_messages(emulator) == [f"{note}\n\nwhat failed?"]
    assert "I ran this command (exit status 3)" in note


def test_a_no_keeps_the_next_message_as_typed(
    shell_env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    code, out, err = chat(["!echo quiet", "n", "hello"], shell_env)
    assert code == 0, err
    assert out.startswith("quiet\n")
    assert user_messages(emulator) == ["hello"]


def test_the_command_does_not_read_the_chats_input(
    shell_env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    code, _, err = chat(["!cat", "n", "still here"], shell_env)
    assert code == 0, err
    assert user_messages(emulator) == ["still here"]


def test_the_command_runs_in_the_working_directory_without_the_key(
    shell_env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    code, out, err = chat(['!pwd; echo "key=${MODELSLAB_API_KEY:-none}"', "n"], shell_env)
    assert code == 0, err
    assert out == f"{here}\nkey=none\n"


def test_double_bang_sends_a_leading_bang(shell_env: dict[str, str], emulator: Emulator) -> None:
    code, _, err = chat(["!!important: read this"], shell_env)
    assert code == 0, err
    assert user_messages(emulator) == ["!important: read this"]


def test_a_bare_bang_is_a_usage_error(shell_env: dict[str, str], emulator: Emulator) -> None:
    code, _, err = chat(["!"], shell_env)
    assert code == 2
    assert "mlchat: error: !COMMAND runs COMMAND in your shell" in err
    assert emulator.requests == []


REPLY = (
    "Try:\n\n```python\nprint('no')\n```\n\nthen:\n\n```bash\ntouch ran-by-run\necho done\n```\n"
    "\n```sh\necho hidden\u200b\n```\n"
)


def test_run_shows_the_block_and_runs_it_on_a_yes(
    shell_env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    emulator.script(Reply.chat(REPLY))
    code, out, err = chat(["make a file", "/run 2", "y", "n"], shell_env)
    assert code == 0, err
    assert "code block 2 (bash):\n  touch ran-by-run\n  echo done\nRun it? [y/N]" in err
    assert (here / "ran-by-run").exists()
    assert out.endswith("done\n")


def test_run_runs_nothing_on_a_no_or_no_answer(
    shell_env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    emulator.script(Reply.chat(REPLY))
    code, _, err = chat(["make a file", "/run 2", "n", "/run 2"], shell_env)
    assert code == 0, err
    assert err.count("mlchat: not run") == 2  # the second question met the end of the input
    assert not (here / "ran-by-run").exists()


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("1", "code block 1 is a python block: /run runs shell blocks only"),
        ("3", "code block 3 holds control or invisible characters: it is not run"),
        ("4", "/run N: N must be 1 to 3 (the reply has 3 code blocks)"),
        ("x", "/run N: N must be 1 to 3 (the reply has 3 code blocks)"),
    ],
)
def test_run_refuses_what_it_must_not_run(
    shell_env: dict[str, str], emulator: Emulator, here: Path, arg: str, message: str
) -> None:
    emulator.script(Reply.chat(REPLY))
    code, _, err = chat(["make a file", f"/run {arg}", "y"], shell_env)
    assert code == 2  # a piped chat exits with its last failure; "y" was sent as a message
    assert f"mlchat: error: {message}" in err
    assert "Run it?" not in err
    assert list(here.iterdir()) == []


def test_run_before_any_reply(shell_env: dict[str, str], emulator: Emulator) -> None:
    code, _, err = chat(["/run 1"], shell_env)
    assert code == 2
    assert "mlchat: error: nothing to run: no reply yet" in err
