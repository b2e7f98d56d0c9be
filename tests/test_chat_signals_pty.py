"""`mlchat chat` on a real pseudo-terminal, ended by SIGTERM or SIGHUP in the middle of a reply:
the exit status says which signal, the partial reply is saved, and the terminal is left as it was
found (echo and line editing on, bracketed paste off)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import termios
import time

import pytest

from mlchat.cli.common import open_store
from tests.emulator import Emulator, Reply
from tests.test_e2e import child_env, mlchat

WORDS = " ".join(f"w{i}" for i in range(400))


def read_until(fd: int, text: bytes, seen: bytes = b"", timeout: float = 15.0) -> bytes:
    """Everything read from `fd` until `text` has appeared in it (after `seen`)."""
    got = b""
    deadline = time.monotonic() + timeout
    while text not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} did not appear in {seen + got!r}"
        if select.select([fd], [], [], min(left, 0.2))[0]:
            got += os.read(fd, 4096)
    return got


@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")],
    ids=["SIGTERM", "SIGHUP"],
)
def test_a_signal_mid_reply_saves_it_restores_the_terminal_and_exits(
    emulator: Emulator, signum: int, code: int, name: str
) -> None:
    emulator.script(Reply.chat(WORDS, chunk_size=3, delay=0.02))
    main, replica = pty.openpty()
    before = termios.tcgetattr(replica)
    try:
        proc = subprocess.Popen(
            mlchat("chat", "--plain"),
            # No cursor-position request: a pty without a terminal emulator never answers it.
            env=child_env(emulator, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1"),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        seen = read_until(main, b">")  # the prompt is up
        os.write(main, b"tell me\r")
        seen += read_until(main, b"w12 ", seen)  # well into the reply
        proc.send_signal(signum)
        assert proc.wait(timeout=15) == code
        seen += read_until(main, f"interrupted by {name}".encode(), seen)
        after = termios.tcgetattr(replica)
    finally:
        os.close(main)
        os.close(replica)
    text = seen.decode(errors="replace")
    assert "Traceback" not in text
    assert after[3] & (termios.ECHO | termios.ICANON) == before[3] & (termios.ECHO | termios.ICANON)
    assert after[3] & termios.ECHO and after[3] & termios.ICANON
    assert text.rfind("\x1b[?2004l") > text.rfind("\x1b[?2004h")  # bracketed paste off
    store = open_store(create=False)
    assert store is not None
    summary = store.conversations()[0]
    _, records = store.record(summary.id)
    assert [r.role for r in records] == ["user", "assistant"]
    assert records[0].content == "tell me"
    partial = records[1]
    assert partial.status == "interrupted"
    assert partial.content.startswith("w0 w1 w2") and WORDS.startswith(partial.content)
    assert len(partial.content) < len(WORDS)


def test_sigterm_at_the_prompt_restores_the_terminal_and_exits_143(emulator: Emulator) -> None:
    main, replica = pty.openpty()
    try:
        proc = subprocess.Popen(
            mlchat("chat", "--plain"),
            env=child_env(emulator, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1"),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        seen = read_until(main, b">")
        os.write(main, b"half a thou")  # typed, not sent
        seen += read_until(main, b"thou", seen)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 143
        seen += read_until(main, b"interrupted by SIGTERM", seen)
        after = termios.tcgetattr(replica)
    finally:
        os.close(main)
        os.close(replica)
    text = seen.decode(errors="replace")
    assert "Traceback" not in text
    assert after[3] & termios.ECHO and after[3] & termios.ICANON
    assert text.rfind("\x1b[?2004l") > text.rfind("\x1b[?2004h")
    assert emulator.requests == []
