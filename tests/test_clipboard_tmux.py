"""`/copy` inside a real tmux with its default `set-clipboard external`, under which tmux drops
an application's own OSC 52: the text reaches tmux's paste buffer, and the message says only
what is known."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

CHILD = """
import sys
from mlchat.clipboard import copy_to_clipboard
from mlchat.runtime import Runtime
copied = copy_to_clipboard(Runtime().bind(), "copied from mlchat: $HOME `x`")
open(sys.argv[1], "w").write(copied.summary())
"""


@pytest.fixture
def socket(tmp_path: Path) -> Iterator[str]:
    name = f"mlchat-clip-{tmp_path.name}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, check=False)


def test_copy_reaches_tmuxs_buffer_under_set_clipboard_external(
    tmp_path: Path, socket: str
) -> None:
    done = tmp_path / "done"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    command = (
        f"cd {shlex.quote(str(ROOT))} && PYTHONPATH=. {shlex.quote(sys.executable)} "
        f"{shlex.quote(str(script))} {shlex.quote(str(done))}; sleep 30"
    )
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", command], check=True)
    deadline = time.monotonic() + 20
    while not done.exists() or not done.read_text():
        assert time.monotonic() < deadline, "the copy did not finish"
        time.sleep(0.05)
    option = subprocess.run(
        [*tmux, "show-options", "-g", "set-clipboard"], capture_output=True, text=True, check=True
    )
    assert option.stdout.split() == ["set-clipboard", "external"]
    buffer = subprocess.run([*tmux, "show-buffer"], capture_output=True, text=True, check=True)
    assert buffer.stdout == "copied from mlchat: $HOME `x`"
    assert done.read_text() == "to tmux's paste buffer; also sent to the terminal's clipboard"
