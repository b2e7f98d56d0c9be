"""`!command` and `/run N` in `mlchat chat` in a real terminal (tmux): the output on screen, the
questions answered at the terminal, the prompt live again after. Skipped without tmux."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator import Emulator, Reply
from tests.tmux_term import Tmux, mlchat

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TOOLBAR = "minimax-minimax-m1 · openai · temperature 0.7"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def term(tmp_path: Path, emulator: Emulator, work: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path, mlchat("chat"), emulator=emulator, env={"SHELL": "/bin/sh"}, cwd=work)
    try:
        t.wait_for(TOOLBAR)
        yield t
    finally:
        t.close()


def last_user(emulator: Emulator) -> str:
    chats = [r for r in emulator.requests if r.path == "/chat/completions"]
    return str(chats[-1].json["messages"][-1]["content"])


def test_bang_output_and_the_question_on_screen(term: Tmux, emulator: Emulator) -> None:
    term.type("!echo visible-output; test -t 0 && echo stdin-is-the-terminal")
    term.keys("Enter")
    screen = term.wait_for("Add the command and its output to your next message? [y/N]")
    assert "visible-output\nstdin-is-the-terminal" in screen
    term.type("y")
    term.keys("Enter")
    term.wait_for("added: it goes with your next message")
    term.wait_for(TOOLBAR)
    term.type("what does it say?")
    term.keys("Enter")
    term.wait_for("what does it say?", timeout=10)
    term.wait_for(TOOLBAR)
    sent = last_user(emulator)
    assert sent.startswith("I ran this command (exit status 0):\n\n```sh\necho visible-output")
    assert sent.endswith("visible-output\nstdin-is-the-terminal\n```\n\nwhat does it say?")
    term.keys("C-d")
    assert term.exit_status() == 0


def test_run_asks_then_runs_the_block(term: Tmux, emulator: Emulator, work: Path) -> None:
    emulator.script(Reply.chat("Run this:\n\n```bash\ntouch made-in-tmux && echo made\n```\n"))
    term.type("make a file")
    term.keys("Enter")
    term.wait_for("Run this:")
    screen = term.wait_for(TOOLBAR)
    # The block's number, at the right end of its top line: what /run takes.
    [top] = [line for line in screen.splitlines() if line.rstrip().endswith("[1]")]
    assert len(top.rstrip()) == 99
    term.type("/run 1")
    term.keys("Enter")
    screen = term.wait_for("Run it? [y/N]")
    assert "code block 1 (bash):\n  touch made-in-tmux && echo made" in screen
    assert not (work / "made-in-tmux").exists()
    term.type("y")
    term.keys("Enter")
    term.wait_for("Add the command and its output")
    assert (work / "made-in-tmux").exists()
    term.type("n")
    term.keys("Enter")
    term.wait_for(TOOLBAR)
    term.keys("C-d")
    assert term.exit_status() == 0
    assert len([r for r in emulator.requests if r.path == "/chat/completions"]) == 1
