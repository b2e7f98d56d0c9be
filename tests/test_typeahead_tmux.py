"""Keys typed while a reply streams never answer a question mlchat asks afterwards: `chat --tools`
in a real terminal (tmux), the real entry point against the emulator."""

from __future__ import annotations

import json
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
from tests.test_repl_tmux import ROOT, TOOLBAR, WRAPPER

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """`mlchat chat ARGS...` in a detached tmux session of 100 x 30."""

    def __init__(self, tmp_path: Path, emulator: Emulator, *args: str) -> None:
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
            PAGER="cat",  # [v]iew prints the whole call into the pane
        )
        self.env = env
        self.config = tmp_path / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\n")
        self.rc = tmp_path / "exit-status"
        self.tmux(
            "new-session", "-d", "-s", "chat", "-x", "100", "-y", "30",
            sys.executable, "-c", WRAPPER, str(self.rc),
            sys.executable, "-m", "mlchat", "chat", *args,
        )  # fmt: skip

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
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "chat")

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; the screen shows:\n{screen}")
            time.sleep(0.02)

    def prompt_after(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the input prompt is drawn again after `text`: only then is the terminal in
        raw mode. A Ctrl-D sent before that, while the line discipline is still canonical, is
        an end-of-file that no one reads, and is lost."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen and "\n>" in screen.rsplit(text, 1)[1] and TOOLBAR in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"no prompt after {text!r}; the screen shows:\n{screen}")
            time.sleep(0.02)

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


@pytest.fixture
def toolfile(tmp_path: Path) -> Path:
    (tmp_path / "mark.py").write_text(
        "import sys\nsys.stdin.read()\nopen('ran', 'a').write('x')\nprint('done')\n"
    )
    path = tmp_path / "tools.toml"
    path.write_text(
        f'[[tools]]\nname = "wipe"\ncommand = [{json.dumps(sys.executable)}, "mark.py"]\n'
    )
    return path


@pytest.fixture
def term(tmp_path: Path, emulator: Emulator, toolfile: Path) -> Iterator[Terminal]:
    t = Terminal(tmp_path, emulator, "--tools", str(toolfile))
    try:
        t.wait_for(TOOLBAR)
        yield t
    finally:
        t.close()


def test_keys_typed_during_a_reply_do_not_answer_the_approval(
    term: Terminal, emulator: Emulator, toolfile: Path
) -> None:
    """The critical case: "yes, and then..." typed while the reply streams; the reply ends in a
    tool call; only the "n" typed at the question counts, and the tool does not run."""
    parts = "\n\n".join(f"part{n}" for n in range(6))
    emulator.script(
        Reply.chat(
            parts,
            tool_calls=[{"id": "c1", "name": "wipe", "arguments": '{"path": "~"}'}],
            finish_reason="tool_calls",
            delay=0.25,
            role_chunk=False,
            comment=False,
        ),
        Reply.chat("as you wish"),
    )
    term.type("go")
    term.keys("Enter")
    term.wait_for("part0")
    term.type("yes, and then...")
    term.keys("Enter")
    term.wait_for("Run wipe? [y]es / [n]o / [a]lways / [v]iew all:")
    term.type("n")
    term.keys("Enter")
    screen = term.prompt_after("as you wish")
    # Without the discard, the line read was "yes, and then...\rn": a yes.
    assert not (toolfile.parent / "ran").exists()
    assert "mlchat: tool wipe failed: error: the user declined to run this tool call" in screen
    assert "mlchat: (keys typed before this question were ignored)" in screen
    messages = emulator.requests[1].json["messages"]
    assert "declined" in messages[-1]["content"]
    assert all("yes, and then" not in str(m.get("content")) for m in messages)
    term.keys("C-d")
    assert term.exit_status() == 0


def test_an_answer_typed_at_the_question_runs_the_tool(
    term: Terminal, emulator: Emulator, toolfile: Path
) -> None:
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[{"id": "c1", "name": "wipe", "arguments": '{"path": "~"}'}],
            finish_reason="tool_calls",
        ),
        Reply.chat("wiped"),
    )
    term.type("go")
    term.keys("Enter")
    screen = term.wait_for("Run wipe? [y]es / [n]o / [a]lways / [v]iew all:")
    assert 'mlchat: tool call: wipe {"path": "~"}' in screen
    assert "ignored" not in screen
    term.type("y")
    term.keys("Enter")
    term.prompt_after("wiped")
    assert (toolfile.parent / "ran").read_text() == "x"
    term.keys("C-d")
    assert term.exit_status() == 0


def test_view_shows_the_whole_call_in_the_pager(
    term: Terminal, emulator: Emulator, toolfile: Path
) -> None:
    args = json.dumps({"note": "A" * 3000, "cmd": "rm -rf ~/x"})
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[{"id": "c1", "name": "wipe", "arguments": args}],
            finish_reason="tool_calls",
        ),
        Reply.chat("not run"),
    )
    term.type("go")
    term.keys("Enter")
    screen = term.wait_for("Run wipe? [y]es / [n]o / [a]lways / [v]iew all:")
    assert '"cmd": "rm -rf ~/x"' in screen and "(+2,902 characters)" in screen
    term.type("v")
    term.keys("Enter")
    screen = term.wait_for('"note": "' + "A" * 3000 + '",')
    term.type("n")
    term.keys("Enter")
    term.prompt_after("not run")
    assert not (toolfile.parent / "ran").exists()
    term.keys("C-d")
    assert term.exit_status() == 0
