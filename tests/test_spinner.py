"""The sign of waiting: on a terminal, a spinner with the seconds elapsed on stderr until the first
content arrives, then erased; never in a pipe. Real `ask` on a pseudo-terminal against the
emulator, and the Spinner itself."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import time

from mlchat.ui.spinner import Spinner
from tests.emulator import Emulator, Reply
from tests.test_chat_signals_pty import read_until
from tests.test_e2e import child_env, mlchat


def test_ask_on_a_terminal_shows_a_spinner_until_the_reply_starts(emulator: Emulator) -> None:
    # The role-only first chunk, then 1.2 s of silence before the text.
    emulator.script(Reply.chat("here it is", delay=1.2, comment=False, usage_chunk=False))
    main, replica = pty.openpty()
    try:
        proc = subprocess.Popen(
            mlchat("ask", "--plain", "hi"),
            env=child_env(emulator, TERM="xterm"),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        seen = read_until(main, b"here it is")
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(main)
        os.close(replica)
    text = seen.decode()
    before = text[: text.index("here it is")]
    assert "waiting for the model · 1 s" in before
    assert before.endswith("\r\x1b[K") or before.rstrip("\r\n").endswith("\x1b[K")


def test_no_spinner_in_a_pipe(emulator: Emulator) -> None:
    emulator.script(Reply.chat("here it is", delay=0.4, comment=False, usage_chunk=False))
    proc = subprocess.run(
        mlchat("ask", "hi"),
        env=child_env(emulator, TERM="xterm"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0
    assert proc.stdout == b"here it is\n" and proc.stderr == b""


def test_the_spinner_draws_only_on_a_terminal_that_can_redraw() -> None:
    for env, tty in (({"TERM": "xterm"}, False), ({"TERM": "dumb"}, True), ({}, True)):
        out = io.StringIO()
        spinner = Spinner.for_terminal(out, env=env, tty=tty)
        spinner.start()
        spinner.stop()
        assert out.getvalue() == ""


def test_stopping_erases_the_line_and_is_idempotent() -> None:
    out = io.StringIO()
    ticks = iter(range(100))
    spinner = Spinner(out, clock=lambda: float(next(ticks)), interval=0.01)
    spinner.start()
    deadline = time.monotonic() + 10
    while "waiting" not in out.getvalue():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    spinner.stop()
    spinner.stop()
    drawn = out.getvalue()
    assert drawn.startswith("\r⠋ waiting for the model · ")
    assert drawn.endswith("\r\x1b[K") and drawn.count("\r\x1b[K") == 1


def test_a_note_while_the_spinner_shows_starts_on_a_clean_line() -> None:
    from mlchat.runtime import Runtime

    err = io.StringIO()
    rt = Runtime(env={}, stdin=io.BytesIO(b""), stdout=io.StringIO(), stderr=err)
    spinner = Spinner(err, interval=0.01)
    rt.transient = spinner
    spinner.start()
    deadline = time.monotonic() + 10
    while "waiting" not in err.getvalue():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    rt.note("mlchat: HTTP 500 — retrying in 0.4 s")
    spinner.stop()
    drawn = err.getvalue()
    before, _, _ = drawn.partition("mlchat: HTTP 500")
    assert before.endswith("\r\x1b[K")  # the spinner's line was erased first
