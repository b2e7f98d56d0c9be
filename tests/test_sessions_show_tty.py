"""`sessions show` on a terminal: replies rendered as Markdown as a live reply is, reasoning
labelled and set apart, and a conversation taller than the screen shown through the pager
($PAGER, `less -R` by default) on a real pseudo-terminal; piped, it stays plain text."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import time
from pathlib import Path

from mlchat.cli.common import db_path
from mlchat.session import Conversation
from mlchat.store import Store
from mlchat.turnlog import StoreLog
from tests.conftest import invoke
from tests.test_cli_sessions import turn
from tests.test_e2e import child_env, mlchat

ANSWER = "Use **borrowing**:\n\n```rust\nfn main() {}\n```\n\n- one\n- two\n"


def saved(answers: int = 1) -> str:
    with Store.open(db_path()) as store:
        log = StoreLog(store, lambda _text: None)
        convo = Conversation(model="m")
        for i in range(answers):
            turn(log, convo, f"question {i}", ANSWER, reasoning="first think\nthen answer")
        store.rename(convo.id or "", "rusty")
    assert convo.id is not None
    return convo.id


def test_on_a_terminal_replies_are_rendered_and_reasoning_set_apart() -> None:
    saved()
    env = {"FORCE_COLOR": "1", "COLUMNS": "80", "LINES": "500", "TERM": "xterm-256color"}
    r = invoke(["sessions", "show", "rusty"], stdout_tty=True, env=env)
    assert r.code == 0, r.err
    assert "**borrowing**" not in r.out and "```" not in r.out  # rendered, not the source
    assert "\x1b[1m" in r.out and "borrowing" in r.out
    seen = re.sub(r"\x1b\[[0-9;]*m", "", r.out)
    assert "fn main() {}" in seen and "• one" in seen
    assert "reasoning" in seen and "  │ first think" in seen and "  │ then answer" in seen
    piped = invoke(["sessions", "show", "rusty"])
    assert "\x1b" not in piped.out and "**borrowing**" in piped.out  # plain text, as stored


def test_stored_control_characters_are_never_obeyed() -> None:
    with Store.open(db_path()) as store:
        convo = Conversation(model="m")
        turn(StoreLog(store, lambda _t: None), convo, "hi", "evil \x1b]52;c;aGk=\x07 and \x1b[2J")
        store.rename(convo.id or "", "evil")
    r = invoke(["sessions", "show", "evil"], stdout_tty=True, env={"LINES": "500"})
    assert "\x1b]52" not in r.out and "\x1b[2J" not in r.out


def run_in_pty(args: list[str], env: dict[str, str], rows: int) -> bytes:
    main, replica = pty.openpty()
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 80, 0, 0))
    try:
        proc = subprocess.Popen(
            mlchat(*args), env=env, stdin=replica, stdout=replica, stderr=replica
        )
        os.close(replica)
        seen = b""
        deadline = time.monotonic() + 30
        while True:
            try:
                piece = os.read(main, 65536)
            except OSError:
                break
            if not piece:
                break
            seen += piece
            assert time.monotonic() < deadline
        proc.wait(timeout=30)
    finally:
        os.close(main)
    return seen


def test_a_long_conversation_goes_through_the_pager(tmp_path: Path) -> None:
    saved(answers=6)
    pager = tmp_path / "pager.sh"
    got = tmp_path / "paged"
    pager.write_text(
        f'#!/bin/sh\nprintf "%s %s" "$LESS" "$MODELSLAB_API_KEY" > {got}.env\ncat > {got}\n'
    )
    pager.chmod(0o755)
    xdg = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
    env = child_env(None, **xdg, PAGER=str(pager), TERM="xterm-256color", MODELSLAB_API_KEY="k-1")
    for size in ("LINES", "COLUMNS", "LESS"):  # the pty's own size decides
        env.pop(size, None)
    shown = run_in_pty(["sessions", "show", "rusty"], env, rows=20)
    paged = got.read_text()
    assert "question 5" in paged and "\x1b[" in paged  # rendered, then paged
    assert "  │ first think" in re.sub(r"\x1b\[[0-9;]*m", "", paged)
    assert got.with_suffix(".env").read_text() == "FRX "  # LESS as git sets it; no API key
    assert b"question 5" not in shown  # what went to the pager was not printed as well
    got.unlink()
    short = run_in_pty(["sessions", "show", "rusty"], env, rows=500)
    assert not got.exists()  # it fits: no pager
    assert b"question 5" in short
