"""A real terminal for any mlchat command (or shell): a detached tmux session on a private
socket with no user configuration, its screen polled with a deadline, its exit status recorded
by a small wrapper. Used by the tests of `mlchat cmd`, `!` and `/run` in chat, and the shell
integration snippets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.conftest import FAKE_KEY
from tests.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = """
import signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
code = subprocess.call(
    sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
)
open(sys.argv[1], "w").write(str(code))
"""


def mlchat(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlchat", *args]


class Tmux:
    """`argv` in a tmux session of 100 x 30, in `cwd`, with `env` over a clean environment."""

    def __init__(
        self,
        tmp_path: Path,
        argv: Sequence[str],
        *,
        emulator: Emulator | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.socket = f"mlchat-test-{uuid.uuid4().hex[:12]}"
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MODELSLAB_", "MLCHAT_", "TMUX")) and k != "NO_COLOR"
        }
        base.update(PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8")
        if emulator is not None:
            base.update(MODELSLAB_API_KEY=FAKE_KEY, MODELSLAB_BASE_URL=emulator.base_url)
        base.update(env or {})
        self.env = base
        self.config = tmp_path / f"tmux-{self.socket}.conf"
        # The screen stays readable after the program exits; OSC 52 from the program lands in
        # a tmux paste buffer, so a copy can be checked.
        self.config.write_text("set -g remain-on-exit on\nset -g set-clipboard on\n")
        self.rc = tmp_path / f"exit-status-{self.socket}"
        self.tmux(
            "new-session", "-d", "-s", "t", "-x", "100", "-y", "30",
            "-c", str(cwd or tmp_path),
            sys.executable, "-c", WRAPPER, str(self.rc), *argv,
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
        return self.tmux("capture-pane", "-p", "-J", "-t", "t")

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; the screen shows:\n{screen}")
            time.sleep(0.02)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)

    def keys(self, *names: str) -> None:
        self.tmux("send-keys", "-t", "t", *names)

    def exit_status(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while not (self.rc.exists() and self.rc.read_text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no exit; the screen shows:\n{self.screen()}")
            time.sleep(0.02)
        return int(self.rc.read_text())

    def clipboard(self) -> str:
        return self.tmux("show-buffer")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True
        )
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)
