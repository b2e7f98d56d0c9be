"""`mlchat cmd` in a real terminal (tmux): the suggestion pre-filled in an editable line, edited,
run in the user's shell with its exit status passed on; describe, revise, copy; Ctrl-C cancels
and runs nothing. Skipped when tmux is not installed."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlchat.cli.common import db_path
from mlchat.repl.cmdline import KEYS
from mlchat.store import Store
from tests.emulator import Emulator, Reply
from tests.tmux_term import Tmux, mlchat

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TOOLBAR = KEYS[:40]
Start = Callable[..., Tmux]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def start(tmp_path: Path, emulator: Emulator, work: Path) -> Iterator[Start]:
    opened: list[Tmux] = []

    def open_cmd(*args: str) -> Tmux:
        term = Tmux(
            tmp_path, mlchat("cmd", *args), emulator=emulator, env={"SHELL": "/bin/sh"}, cwd=work
        )
        opened.append(term)
        return term

    yield open_cmd
    for term in opened:
        term.close()


def chat_messages(emulator: Emulator) -> list[list[dict[str, object]]]:
    return [r.json["messages"] for r in emulator.requests if r.path == "/chat/completions"]


def saved_messages() -> list[tuple[str, str]]:
    with Store.open(db_path()) as store:
        [summary] = store.conversations()
        return [(m.role, m.content) for m in store.load_conversation(summary.id).messages]


def test_the_line_is_prefilled_edited_and_run_with_its_status(
    start: Start, emulator: Emulator, work: Path
) -> None:
    emulator.script(Reply.chat("echo made > made.txt; exit 3", chunk_size=4))
    term = start("write a file")
    screen = term.wait_for(TOOLBAR)
    assert "$ echo made > made.txt; exit 3" in screen
    assert not (work / "made.txt").exists()  # shown, not run
    term.keys("BSpace")
    term.type("5")  # the line as edited is what runs
    term.keys("Enter")
    assert term.exit_status() == 5
    assert (work / "made.txt").read_text() == "made\n"
    assert "the command exited with status 5" in term.screen()
    # Saved: the exchange, then the command as run and its status.
    assert saved_messages() == [
        ("user", "write a file"),
        ("assistant", "echo made > made.txt; exit 3"),
        ("user", "I ran this command; its exit status was 5:\n\necho made > made.txt; exit 5"),
    ]


def test_the_command_has_the_terminal(start: Start, emulator: Emulator, work: Path) -> None:
    emulator.script(Reply.chat("test -t 0 && test -t 1 && test -t 2 && touch attached"))
    term = start("check")
    term.wait_for(TOOLBAR)
    term.keys("Enter")
    assert term.exit_status() == 0
    assert (work / "attached").exists()


def test_describe_then_back_to_the_line(start: Start, emulator: Emulator, work: Path) -> None:
    emulator.script(
        Reply.chat("touch left-behind"),
        Reply.chat("It **creates** an empty file named left-behind."),
    )
    term = start("make a file")
    term.wait_for(TOOLBAR)
    term.keys("M-d")
    screen = term.wait_for("It creates an empty file named left-behind.")
    assert "**" not in screen  # rendered
    lines = [line for line in term.wait_for(TOOLBAR).splitlines() if line.strip()]
    assert lines[-3:-1] == ["It creates an empty file named left-behind.", "$ touch left-behind"]
    describe = chat_messages(emulator)[1][-1]
    assert "explain what this command does" in str(describe["content"])
    assert "touch left-behind" in str(describe["content"])
    term.keys("C-c")
    assert term.exit_status() == 130
    term.wait_for("mlchat: cancelled; nothing was run")
    assert not (work / "left-behind").exists()


def test_revise_asks_for_a_new_command(start: Start, emulator: Emulator) -> None:
    emulator.script(Reply.chat("ls"), Reply.chat("ls -la --sort=size"))
    term = start("list files")
    term.wait_for(TOOLBAR)
    term.keys("M-r")
    term.wait_for("revise:")
    term.type("biggest first, hidden ones too")
    term.keys("Enter")
    term.wait_for("$ ls -la --sort=size")
    revision = str(chat_messages(emulator)[1][-1]["content"])
    assert "The command is now:\n\nls\n" in revision
    assert "biggest first, hidden ones too" in revision
    term.keys("Enter")
    assert term.exit_status() == 0


def test_copy_puts_the_line_on_the_clipboard(start: Start, emulator: Emulator) -> None:
    emulator.script(Reply.chat("df -h"))
    term = start("disk space")
    term.wait_for(TOOLBAR)
    term.type(" /tmp")
    term.keys("Escape", "c")  # Esc then the letter, for a terminal without a Meta key
    term.wait_for("copied the command via tmux's paste buffer")
    assert term.clipboard() == "df -h /tmp"
    term.wait_for(TOOLBAR)
    term.keys("C-c")
    assert term.exit_status() == 130
    assert len(chat_messages(emulator)) == 1  # nothing more was asked


def test_ctrl_c_cancels_and_runs_nothing(start: Start, emulator: Emulator, work: Path) -> None:
    emulator.script(Reply.chat("touch left-behind"))
    term = start("make a file")
    term.wait_for(TOOLBAR)
    term.keys("C-c")
    assert term.exit_status() == 130
    assert "cancelled; nothing was run" in term.screen()
    assert not (work / "left-behind").exists()
    assert saved_messages() == [("user", "make a file"), ("assistant", "touch left-behind")]


def test_ctrl_c_reaches_the_running_command_and_its_status_is_passed_on(
    start: Start, emulator: Emulator
) -> None:
    emulator.script(Reply.chat("echo started; sleep 30"))
    term = start("wait")
    term.wait_for(TOOLBAR)
    term.keys("Enter")
    term.wait_for("\nstarted")
    term.keys("C-c")
    assert term.exit_status() == 130  # sh killed by SIGINT: 128 + 2
