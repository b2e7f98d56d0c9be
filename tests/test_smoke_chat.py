"""Smoke findings about a piped chat: binary stdin is refused, as `ask` refuses it, instead of
sending each of its "lines" as a paid message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator


def test_binary_stdin_is_refused_before_anything_is_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    data = tmp_path / "program"
    data.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00\n" + bytes(range(256)) * 20)
    env = {**os.environ, "MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    with data.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "mlchat", "chat"],
            env=env,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("mlchat: error: stdin looks binary (it contains NUL bytes)")
    assert proc.stdout == ""
    assert emulator.requests == []


def test_a_binary_line_later_in_the_pipe_stops_the_chat(emulator: Emulator) -> None:
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    r = invoke(["chat"], stdin=b"hello\nab\x00cd\nnever sent\n", env=env)
    assert r.code == 2
    assert "line 2 contains NUL bytes" in r.err
    assert r.out == "echo: hello\n"
    assert len(emulator.requests) == 1
