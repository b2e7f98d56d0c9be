"""`mlchat chat` in a real terminal: tmux runs the real entry point against the emulator.

Each test gets its own tmux server (a private socket, no user config) and polls the screen with
a deadline instead of sleeping. Skipped when tmux is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEY
from tests.emulator import Emulator, Reply

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = """
import signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
code = subprocess.call(
    sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
)
open(sys.argv[1], "w").write(str(code))
"""
TOOLBAR = "minimax-minimax-m1 · openai · temperature 0.7"


class Terminal:
    """`mlchat chat` in a detached tmux session of 100 x 30."""

    def __init__(self, tmp_path: Path, emulator: Emulator) -> None:
        self.socket = f"mlchat-test-{uuid.uuid4().hex[:12]}"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MODELSLAB_", "MLCHAT_", "TMUX")) and k != "NO_COLOR"
        }
        env.update(
            PYTHONPATH=str(ROOT),
            MODELSLAB_API_KEY=FAKE_KEY,
            MODELSLAB_BASE_URL=emulator.base_url,
            LC_ALL="C.UTF-8",
        )
        self.env = env
        # No user configuration; the screen stays readable after mlchat exits.
        self.config = tmp_path / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\n")
        # tmux 3.3 sometimes leaves an exited pane unreaped (a zombie, with no status), so a
        # small wrapper records the exit status; it ignores Ctrl-C, which is for mlchat.
        self.rc = tmp_path / "exit-status"
        self.tmux(
            "new-session", "-d", "-s", "chat", "-x", "100", "-y", "30",
            sys.executable, "-c", WRAPPER, str(self.rc), sys.executable, "-m", "mlchat", "chat",
        )  # fmt: skip
        self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "chat")

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; the screen shows:\n{screen}")
            time.sleep(0.02)

    def prompt(self) -> str:
        """Wait for a live prompt: its toolbar is drawn only while a prompt reads input, and
        keys sent before it (while the terminal is in cooked mode) could be lost, as Ctrl-D."""
        return self.wait_for(TOOLBAR)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "chat", "-l", text)

    def keys(self, *names: str) -> None:
        self.tmux("send-keys", "-t", "chat", *names)

    def exit_status(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while not (self.rc.exists() and self.rc.read_text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"mlchat did not exit; the screen shows:\n{self.screen()}")
            time.sleep(0.02)
        return int(self.rc.read_text())

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True
        )
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)


@pytest.fixture
def term(tmp_path: Path, emulator: Emulator) -> Iterator[Terminal]:
    t = Terminal(tmp_path, emulator)
    try:
        t.prompt()
        yield t
    finally:
        t.close()


def chat_requests(emulator: Emulator) -> list[list[dict[str, object]]]:
    return [r.json["messages"] for r in emulator.requests if r.path == "/chat/completions"]


def test_a_streamed_reply_appears_and_ctrl_d_exits(term: Terminal, emulator: Emulator) -> None:
    emulator.script(Reply.chat("The reply streams in, word by word.", delay=0.02))
    term.type("hello there")
    term.keys("Enter")
    term.wait_for("The reply streams in, word by word.")
    screen = term.prompt()
    assert "> hello there" in screen
    assert "tokens" in screen.splitlines()[-1]  # the toolbar, at the bottom
    term.keys("C-d")
    assert term.exit_status() == 0


def test_ctrl_c_mid_stream_returns_to_a_live_prompt(term: Terminal, emulator: Emulator) -> None:
    # 40 paragraphs a second apart: the whole reply would take 40 s. Each paragraph is on the
    # screen once the next one starts, whatever the renderer's buffering.
    words = "\n\n".join(f"word{n}" for n in range(40))
    emulator.script(Reply.chat(words, delay=1.0, role_chunk=False, comment=False))
    term.type("go")
    term.keys("Enter")
    term.wait_for("word0")
    started = time.monotonic()
    term.keys("C-c")
    term.wait_for("(interrupted: the partial reply stays in the conversation)", timeout=5)
    term.prompt()
    assert time.monotonic() - started < 5  # far sooner than the 38 s left of the reply
    assert term.tmux("display-message", "-p", "-t", "chat", "#{cursor_flag}").strip() == "1"
    # The prompt is live: the next message goes out and carries the partial reply.
    term.type("and then?")
    term.keys("Enter")
    term.wait_for("echo: and then?")
    term.prompt()
    first, second = chat_requests(emulator)
    assert first == [{"role": "user", "content": "go"}]
    assert second[0] == {"role": "user", "content": "go"}
    assert second[1]["role"] == "assistant"
    partial = str(second[1]["content"])
    assert partial.startswith("word0") and "word39" not in partial
    assert second[2] == {"role": "user", "content": "and then?"}
    term.keys("C-d")
    assert term.exit_status() == 0


def test_a_multi_line_paste_is_one_message(term: Terminal, emulator: Emulator) -> None:
    term.tmux("set-buffer", "-b", "clip", "first line\nsecond line\nthird line")
    term.tmux("paste-buffer", "-p", "-b", "clip", "-t", "chat")
    screen = term.wait_for("third line")
    assert emulator.requests == []  # the pasted newlines did not send anything
    assert "second line" in screen
    term.keys("Enter")
    term.wait_for("echo: first line")
    term.prompt()
    assert chat_requests(emulator) == [
        [{"role": "user", "content": "first line\nsecond line\nthird line"}]
    ]
    term.type("/exit")
    term.keys("Enter")
    assert term.exit_status() == 0


def test_keys_typed_during_a_reply_wait_for_the_next_prompt(
    term: Terminal, emulator: Emulator
) -> None:
    parts = "\n\n".join(f"part{n}" for n in range(8))
    emulator.script(Reply.chat(parts, delay=0.25, role_chunk=False, comment=False))
    term.type("go")
    term.keys("Enter")
    term.wait_for("part0")
    # Typed and pasted while the reply streams: not echoed into it, and Enter still sends
    # (in cooked mode it would arrive as Ctrl-J, a newline); the paste stays one message.
    term.type("typed ahead ")
    term.tmux("set-buffer", "-b", "clip", "pasted\nlines")
    term.tmux("paste-buffer", "-p", "-b", "clip", "-t", "chat")
    term.keys("Enter")
    term.wait_for("echo: typed ahead")
    screen = term.prompt()
    reply_lines = screen[screen.index("part0") : screen.index("part7")]
    assert "typed" not in reply_lines and "pasted" not in reply_lines
    assert chat_requests(emulator)[1][-1] == {
        "role": "user",
        "content": "typed ahead pasted\nlines",
    }
    term.keys("C-d")
    assert term.exit_status() == 0


def test_no_blank_lines_under_the_prompt_and_a_pasted_tab_is_spaces(
    term: Terminal, emulator: Emulator
) -> None:
    """Room for the completion menu is kept only while a slash command is typed (the only
    thing that completes), so a message sits right above the toolbar; a pasted tab is drawn as
    spaces, not ^I, and is sent as the tab it is."""
    # A reply longer than the screen: the next prompt is at the bottom, above the toolbar.
    emulator.script(Reply.chat("\n\n".join(f"paragraph {i}" for i in range(30))))
    term.type("a long one")
    term.keys("Enter")
    term.wait_for("paragraph 29")
    time.sleep(0.3)
    screen = term.prompt().splitlines()
    at = max(i for i, line in enumerate(screen) if line.rstrip() == ">")
    below = next(i for i, line in enumerate(screen) if TOOLBAR in line)
    assert below - at <= 2, "\n".join(screen)  # was: eight lines kept for a menu
    term.tmux("set-buffer", "-b", "tab", "left\tright")
    term.tmux("paste-buffer", "-b", "tab", "-t", "chat", "-p")
    shown = term.wait_for("left")
    assert "^I" not in shown and "left    right" in shown.replace("\t", "    ")
    term.keys("C-u")
    term.type("/mo")  # a slash command still completes, with its menu
    term.wait_for("/model")
    term.keys("Escape", "C-u")
    term.tmux("paste-buffer", "-b", "tab", "-t", "chat", "-p")
    term.keys("Enter")
    term.wait_for("echo: left")
    assert chat_requests(emulator)[-1][-1]["content"] == "left\tright"
    assert "^I" not in term.screen()


def test_edit_mode_vi_from_the_config_file(tmp_path: Path, emulator: Emulator) -> None:
    """`edit_mode = "vi"`: prompt_toolkit's vi keys (Esc, 0, i) edit the message."""
    from mlchat import config

    config.config_path().parent.mkdir(parents=True, exist_ok=True)
    config.config_path().write_text('edit_mode = "vi"\n')
    t = Terminal(tmp_path, emulator)
    try:
        t.prompt()
        t.type("hello")
        t.keys("Escape")
        time.sleep(0.3)  # prompt_toolkit tells a lone Esc from an Alt- key by a short wait
        t.type("0")
        t.type("iX")
        t.wait_for("> Xhello")
        t.keys("Enter")
        t.wait_for("echo: Xhello")
        assert chat_requests(emulator)[-1][-1]["content"] == "Xhello"
    finally:
        t.close()
