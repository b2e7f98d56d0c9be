"""`mlchat cmd` without a terminal (the command printed alone, nothing run, checked with commands
that would leave a file behind), the request the built-in `shell` role makes, what is saved, and
the cleaning of a suggestion (mlchat/shellmode.py). The terminal side: tests/test_cmd_tmux.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlchat.cli.common import db_path
from mlchat.shellmode import Ran, child_env, clean, shell_argv, status_of
from mlchat.store import Store
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply
from tests.test_e2e import child_env as process_env
from tests.test_e2e import mlchat


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "photos-2024"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def chat_bodies(emulator: Emulator) -> list[dict[str, object]]:
    return [r.json for r in emulator.requests if r.path == "/chat/completions"]


def test_without_a_terminal_the_command_is_printed_and_not_run(
    env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    emulator.script(Reply.chat("touch left-behind", chunk_size=3))
    # Even with stdin and stderr on a terminal: stdout is a pipe, so nothing runs.
    r = invoke(["cmd", "make a file"], env=env, stdin_tty=True, stderr_tty=True)
    assert (r.code, r.out) == (0, "touch left-behind\n"), r.err
    assert not (here / "left-behind").exists()


def test_print_on_a_terminal_prints_and_runs_nothing(
    env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    emulator.script(Reply.chat("touch left-behind"))
    r = invoke(["cmd", "--print", "make a file"], env=env, stdin_tty=True, stdout_tty=True)
    assert (r.code, r.out) == (0, "touch left-behind\n"), r.err
    assert not (here / "left-behind").exists()


def test_the_real_entry_point_in_a_pipe_runs_nothing(emulator: Emulator, here: Path) -> None:
    emulator.script(Reply.chat("touch left-behind && echo ran"))
    proc = subprocess.run(
        mlchat("cmd", "make a file"),
        env=process_env(emulator, SHELL="/bin/sh"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        cwd=here,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"touch left-behind && echo ran\n"
    assert proc.stderr == b""
    assert not (here / "left-behind").exists()


def test_the_shell_role_names_the_os_the_shell_and_the_directory(
    env: dict[str, str], emulator: Emulator, here: Path
) -> None:
    import platform

    r = invoke(["cmd", "count lines in *.py"], env={**env, "SHELL": "/usr/local/bin/fish"})
    assert r.code == 0, r.err
    [body] = chat_bodies(emulator)
    messages = body["messages"]
    assert isinstance(messages, list)
    system, user = messages
    assert system["role"] == "system"
    assert "fish" in system["content"] and "photos-2024" in system["content"]
    assert (platform.system() or "Unix") in system["content"]
    assert str(here) not in system["content"]  # the name, never the path
    assert user == {"role": "user", "content": "count lines in *.py"}
    assert body["temperature"] == 0.2  # the role's


def test_options_as_ask(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["cmd", "-t", "0.9", "-m", "qwen-qwen3", "-s", "be brief", "ls"], env=env)
    assert r.code == 0, r.err
    [body] = chat_bodies(emulator)
    assert (body["temperature"], body["model"]) == (0.9, "qwen-qwen3")
    assert body["messages"][0] == {"role": "system", "content": "be brief"}  # type: ignore[index]


def test_piped_stdin_comes_before_the_argument(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["cmd", "delete these"], env=env, stdin=b"a.tmp\nb.tmp\n")
    assert r.code == 0, r.err
    [body] = chat_bodies(emulator)
    assert body["messages"][-1]["content"] == "a.tmp\nb.tmp\n\ndelete these"  # type: ignore[index]


def test_the_exchange_is_saved_with_the_role(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("du -sh *"))
    assert invoke(["cmd", "sizes"], env=env).code == 0
    with Store.open(db_path()) as store:
        [summary] = store.conversations()
        convo = store.load_conversation(summary.id)
    assert [(m.role, m.content) for m in convo.messages] == [
        ("user", "sizes"),
        ("assistant", "du -sh *"),
    ]
    assert convo.role == "shell"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("# that needs root on another machine", "no command: that needs root on another machine"),
        ("   \n", "the model gave no command"),
    ],
)
def test_no_command_is_exit_4_with_one_line(
    env: dict[str, str], emulator: Emulator, reply: str, message: str
) -> None:
    emulator.script(Reply.chat(reply))
    r = invoke(["cmd", "do something impossible"], env=env)
    assert (r.code, r.out) == (4, "")
    assert r.err == f"mlchat: error: {message}\n"


def test_no_key_is_exit_3_before_any_request(emulator: Emulator) -> None:
    r = invoke(["cmd", "ls"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("reply", "command", "removed"),
    [
        ("ls -la\n", "ls -la", 0),
        ("$ ls -la", "ls -la", 0),
        ("Here:\n\n```bash\n$ find . -size +100M\n```\n", "find . -size +100M", 0),
        # What the editor would not show (or would let rewrite the line) never reaches it.
        ("echo safe\x1b[2K\rrm -rf ~", "echo safe[2Krm -rf ~", 2),
        ("echo \u202eexe.sh\u202c", "echo exe.sh", 2),
        ("printf 'a\\tb' \\\n  | cut -f1", "printf 'a\\tb' \\\n  | cut -f1", 0),
    ],
)
def test_clean(reply: str, command: str, removed: int) -> None:
    assert clean(reply) == (command, removed)


def test_a_hidden_character_is_reported(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("echo hi\u200b"))
    r = invoke(["cmd", "greet"], env=env)
    assert (r.code, r.out) == (0, "echo hi\n")
    assert "1 invisible character removed" in r.err


def test_the_shell_and_its_environment(tmp_path: Path) -> None:
    assert shell_argv({"SHELL": "/bin/sh"}, "ls") == ["/bin/sh", "-c", "ls"]
    # An unset, relative or missing $SHELL falls back to sh.
    for shell in ("", "bash", str(tmp_path / "nope")):
        argv = shell_argv({"SHELL": shell, "PATH": "/usr/bin:/bin"}, "ls")
        assert Path(argv[0]).name == "sh" and argv[1:] == ["-c", "ls"]
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "AUTH": f"Bearer {FAKE_KEY}", "HOME": "/h"}
    assert child_env(env, {FAKE_KEY}) == {"HOME": "/h"}
    assert (status_of(3), status_of(-15)) == (3, 143)


def test_a_noted_run_quotes_the_command_and_its_output() -> None:
    note = Ran("cat notes.md", 0, "```py\nx\n```\n").note()
    assert note.startswith("I ran this command (exit status 0):\n\n````sh\ncat notes.md\n````")
    assert note.endswith("````\n```py\nx\n```\n````")
    long = Ran("yes", 141, "y\n" * 20_000).note()
    assert "its last 16,000 characters" in long and len(long) < 16_300


def test_no_prompt_is_a_usage_error_before_any_request(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = invoke(["cmd"], env=env, stdin_tty=True, stdout_tty=True)
    assert (r.code, r.out) == (2, "")
    assert r.err.startswith("mlchat: error: no prompt: say what the command should do")
    assert 'mlchat cmd "find files' in r.err
    assert emulator.requests == []
