"""Unix manners on the real entry point, in a subprocess: signals mid-reply, a closed pipe, a full
disk. Plus the signal seam itself, in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlchat import signals
from tests.emulator import Emulator, Reply
from tests.test_e2e import child_env, mlchat

WORDS = " ".join(f"w{i}" for i in range(300))


def _start(
    emulator: Emulator, *args: str, words: str = WORDS, **popen: Any
) -> subprocess.Popen[bytes]:
    emulator.script(Reply.chat(words, chunk_size=3, delay=0.02))
    return subprocess.Popen(
        mlchat("ask", *args, "hi"),
        env=child_env(emulator),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def _read_some(proc: subprocess.Popen[bytes], n: int = 12) -> bytes:
    """Wait until the reply is well under way (several deltas, not just the first)."""
    assert proc.stdout is not None
    got = b""
    while len(got) < n:
        piece = os.read(proc.stdout.fileno(), 64)
        assert piece, "the reply ended before the signal could be sent"
        got += piece
    return got


@pytest.mark.parametrize(
    ("signum", "code", "message"),
    [
        (signal.SIGINT, 130, "mlchat: interrupted"),
        (signal.SIGTERM, 143, "mlchat: interrupted by SIGTERM"),
        (signal.SIGHUP, 129, "mlchat: interrupted by SIGHUP"),
    ],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_signal_mid_reply_keeps_partial_output(
    emulator: Emulator, signum: int, code: int, message: str
) -> None:
    proc = _start(emulator)
    first = _read_some(proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == code
    text = (first + out).decode()
    assert text.startswith("w0 w1 w2") and text.endswith("\n")
    assert WORDS.startswith(text.rstrip("\n")) and len(text) < len(WORDS)
    errors = err.decode()
    assert "Traceback" not in errors and "Exception ignored" not in errors
    assert errors.splitlines()[-1] == message
    assert "mlchat: warning: the reply above is incomplete" in errors
    # stderr is a pipe: no line to end, so no stray blank line
    assert "" not in errors.splitlines(), errors


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_through_a_pipe_to_the_terminal_starts_a_fresh_line(
    emulator: Emulator, signum: int
) -> None:
    """`mlchat ask ... | cat` on a terminal: the partial reply reaches the screen through cat
    without a newline, so after Ctrl-C or SIGTERM the warning starts a line of its own, with
    no blank line after it."""
    import pty

    emulator.script(Reply.chat(WORDS, chunk_size=3, delay=0.02))
    main, replica = pty.openpty()
    try:
        command = f"{sys.executable} -m mlchat ask hi </dev/null | cat"
        proc = subprocess.Popen(
            ["bash", "-c", command],
            env=child_env(emulator),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        os.close(replica)
        seen = b""
        while b"w5 " not in seen:
            seen += os.read(main, 4096)
        # Ctrl-C reaches the whole foreground group (cat too); SIGTERM goes to mlchat alone
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            child = subprocess.run(
                ["pgrep", "-P", str(proc.pid), "-f", "mlchat ask"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            os.kill(int(child[0]) if child else proc.pid, signum)
        proc.wait(timeout=15)
        while True:
            try:
                piece = os.read(main, 4096)
            except OSError:
                break
            if not piece:
                break
            seen += piece
    finally:
        os.close(main)
    screen = seen.decode().replace("\r\n", "\n")
    lines = screen.split("\n")
    warning = [i for i, line in enumerate(lines) if "mlchat: warning" in line]
    assert warning, screen
    assert lines[warning[0]] == "mlchat: warning: the reply above is incomplete", screen
    if signum == signal.SIGINT:  # (after SIGTERM, cat may print the reply's newline late)
        assert "" not in lines[warning[0] : -1], screen  # no blank line after it
    expected = (
        "mlchat: interrupted by SIGTERM" if signum == signal.SIGTERM else "mlchat: interrupted"
    )
    assert expected in lines, screen


def test_sigterm_with_json_prints_the_partial_document(emulator: Emulator) -> None:
    proc = _start(emulator, "--json")
    # --json prints at the end: wait until the server has sent a good part of the reply.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not emulator.requests:
        time.sleep(0.01)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143
    doc = json.loads(out)
    assert doc["incomplete"] is True
    assert doc["error"] == {"message": "interrupted by SIGTERM", "exit_code": 143}
    assert doc["text"].startswith("w0 w1")
    assert "Traceback" not in err.decode()


def test_sighup_ignored_by_the_parent_stays_ignored(emulator: Emulator) -> None:
    # `nohup mlchat ask ... &` must survive the terminal closing.
    words = WORDS[:60]
    ignore = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)  # noqa: E731
    proc = _start(emulator, words=words, preexec_fn=ignore)
    first = _read_some(proc)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert (first + out).decode() == words + "\n"


def test_head_ends_quietly_with_141(emulator: Emulator) -> None:
    lines = "".join(f"line {i}\n" for i in range(400))
    emulator.script(Reply.chat(lines, chunk_size=7, delay=0.001))
    proc = subprocess.run(
        [
            "bash",
            "-c",
            f"set -o pipefail; {sys.executable} -m mlchat ask hi </dev/null | head -1",
        ],
        env=child_env(emulator),
        capture_output=True,
        timeout=30,
    )
    assert proc.stdout == b"line 0\n"
    assert proc.stderr == b""
    assert proc.returncode == 141


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize(
    ("extra", "unbuffered"), [([], ""), (["--json"], "1")], ids=["buffered", "unbuffered-json"]
)
def test_dev_full_is_one_error_line(emulator: Emulator, extra: list[str], unbuffered: str) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            mlchat("ask", *extra, "hi"),
            env=child_env(emulator, PYTHONUNBUFFERED=unbuffered),
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=30,
        )
    assert proc.returncode == 1
    assert (
        proc.stderr.decode() == "mlchat: error: cannot write to stdout: No space left on device\n"
    )


# -- the seam, in-process ------------------------------------------------------------------------


def test_interrupts_turn_sigterm_into_terminated() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(signals.Terminated) as caught, signals.interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # Python runs the handler between bytecodes
            pass
    assert caught.value.exit_code == 143 and caught.value.name == "SIGTERM"
    assert isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) == before
    assert signals.exit_code(KeyboardInterrupt()) == 130
    assert signals.describe(caught.value) == "interrupted by SIGTERM"


def test_interrupts_leave_an_ignored_signal_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals.interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)  # ignored: nothing happens
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
    finally:
        signal.signal(signal.SIGHUP, previous)
