"""A question on a real pseudo-terminal reads only what is typed after it is shown: keys already
waiting in the terminal (typed ahead) are discarded first. `sessions rm` through the real
entry point, with "y" typed before mlchat even started."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time

from tests.conftest import invoke
from tests.emulator import Emulator
from tests.test_e2e import child_env, mlchat


def read_until(fd: int, text: bytes, timeout: float = 15.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, f"{text!r} did not appear in {seen!r}"
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
    return seen


def test_a_y_typed_ahead_does_not_confirm_a_delete(env: dict[str, str], emulator: Emulator) -> None:
    assert invoke(["ask", "keep me"], env=env).code == 0
    listed = invoke(["sessions", "list", "--json"], env=env)
    cid = json.loads(listed.out)[0]["id"]
    main, replica = pty.openpty()
    try:
        os.write(main, b"y\n")  # typed before the question exists
        proc = subprocess.Popen(
            mlchat("sessions", "rm", cid),
            env=child_env(
                emulator, **{k: v for k, v in os.environ.items() if k.startswith("XDG_")}
            ),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        os.close(replica)
        seen = read_until(main, b"[y/N] ")
        os.write(main, b"n\n")
        assert proc.wait(timeout=15) == 0
        seen += read_until(main, b"nothing deleted")
    finally:
        os.close(main)
    assert b"Delete this conversation? [y/N] " in seen
    assert invoke(["sessions", "show", cid], env=env).code == 0  # still there


def test_a_key_typed_ahead_is_not_taken_for_the_key() -> None:
    """`key set` on a terminal: a line waiting before the hidden prompt is shown (a paste that
    went to the wrong window, say) is discarded; the key is what is typed at the prompt. Both
    our discard and getpass's own TCSAFLUSH do this: the test holds whichever reader is used."""
    main, replica = pty.openpty()
    try:
        os.write(main, b"ml-typed-AHEAD-0000000000000000\n")
        proc = subprocess.Popen(
            mlchat("key", "set"),
            env=child_env(None, **{k: v for k, v in os.environ.items() if k.startswith("XDG_")}),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        os.close(replica)
        seen = read_until(main, b"API key (input hidden): ")
        os.write(main, b"ml-typed-AT-the-PROMPT-111111111111\n")
        assert proc.wait(timeout=15) == 0, seen
    finally:
        os.close(main)
    status = invoke(["key", "status"])
    assert status.code == 0, status.err
    assert "…1111" in status.out, status.out
