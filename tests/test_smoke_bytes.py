"""Smoke findings about bytes that are not UTF-8 in the command line and in file names: one
line and exit 2 for an argument, U+FFFD in a file's label; never an internal error (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator


@pytest.mark.parametrize(
    "args",
    [
        [b"ask", b"\xff\xfe hi"],
        [b"ask", b"-s", b"\xff", b"hi"],
        [b"tokens", b"caf\xe9"],
        [b"sessions", b"show", b"\xff"],
        [b"config", b"set", b"model", b"\xff"],
    ],
)
def test_an_argument_that_is_not_utf8_is_a_usage_error(
    emulator: Emulator, args: list[bytes]
) -> None:
    env = {**os.environ, "MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    proc = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"mlchat", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.startswith("mlchat: error: an argument is not valid UTF-8: ")
    assert "<U+DC" in err and "Traceback" not in err
    assert proc.stdout == b""
    assert emulator.requests == []


def test_a_file_whose_name_is_not_utf8_is_attached_under_a_readable_label(
    emulator: Emulator, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")
    (folder / name).write_text("the menu\n")
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    for source in (str(folder / name), str(folder)):
        emulator.reset()
        r = invoke(["ask", "-f", source, "what is on it?"], env=env)
        assert r.code == 0, r.err
        sent = emulator.requests[0].json["messages"][-1]["content"]
        text = sent if isinstance(sent, str) else "".join(p.get("text", "") for p in sent)
        assert "caf\ufffd.txt" in text and "the menu" in text
        assert r.out.startswith("echo: ")


def test_a_stdout_that_is_not_utf8_gets_question_marks_not_an_internal_error(
    emulator: Emulator,
) -> None:
    env = {
        **os.environ,
        "MODELSLAB_API_KEY": FAKE_KEY,
        "MODELSLAB_BASE_URL": emulator.base_url,
        "PYTHONIOENCODING": "ascii",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mlchat", "ask", "h\u00e9llo w\u00f6rld"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"echo: h?llo w?rld\n"
