"""`mlchat shell-integration bash|zsh|fish`: each snippet in its real shell under tmux. Alt-E
turns the typed line into the generated command without running it, Enter then runs it, and a
failure leaves the line as it was. Skipped for a shell (or tmux) that is not installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlchat.integration import SNIPPETS
from tests.conftest import invoke
from tests.emulator import Emulator, Reply
from tests.tmux_term import ROOT, Tmux

PROMPT = "ready>"
Open = Callable[[str], Tmux]


def needs(*programs: str) -> pytest.MarkDecorator:
    missing = [p for p in programs if shutil.which(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed")


SHELLS = [
    pytest.param("bash", marks=needs("bash", "tmux")),
    pytest.param("zsh", marks=needs("zsh", "tmux")),
    pytest.param("fish", marks=needs("fish", "tmux")),
]


def shell_argv(shell: str, home: Path) -> list[str]:
    """The shell, interactive, with no user configuration but the snippet, and a known prompt."""
    if shell == "bash":
        rc = home / "bashrc"
        rc.write_text(f'PS1="{PROMPT} "\neval "$(mlchat shell-integration bash)"\n')
        return ["bash", "--noprofile", "--rcfile", str(rc), "-i"]
    if shell == "zsh":
        (home / ".zshrc").write_text(
            f'PROMPT="{PROMPT} "\neval "$(mlchat shell-integration zsh)"\n'
        )
        return ["zsh", "-i"]
    init = (
        f"function fish_prompt; echo -n '{PROMPT} '; end; set -g fish_greeting; "
        "set -g fish_autosuggestion_enabled 0; mlchat shell-integration fish | source"
    )
    return ["fish", "--no-config", "-i", "-C", init]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "shellhome"
    home.mkdir()
    bin_dir = home / "bin"
    bin_dir.mkdir()
    # `mlchat` on PATH, as an installed one would be: this checkout's.
    wrapper = bin_dir / "mlchat"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlchat "$@"\n')
    wrapper.chmod(0o755)
    return home


@pytest.fixture
def open_shell(tmp_path: Path, emulator: Emulator, home: Path) -> Iterator[Open]:
    opened: list[Tmux] = []

    def start(shell: str) -> Tmux:
        path = f"{home / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        env = {"PATH": path, "ZDOTDIR": str(home), "PYTHONPATH": str(ROOT), "TERM": "xterm"}
        term = Tmux(tmp_path, shell_argv(shell, home), emulator=emulator, env=env, cwd=home)
        opened.append(term)
        term.wait_for(PROMPT)
        return term

    yield start
    for term in opened:
        term.close()


def prompt_line(term: Tmux) -> str:
    lines = [line for line in term.screen().splitlines() if line.startswith(PROMPT)]
    return lines[-1] if lines else ""


def wait_line(term: Tmux, text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while prompt_line(term) != f"{PROMPT} {text}":
        if time.monotonic() > deadline:
            raise AssertionError(f"the line is not {text!r}; the screen shows:\n{term.screen()}")
        time.sleep(0.05)


@pytest.mark.parametrize("shell", SHELLS)
def test_alt_e_replaces_the_line_and_runs_nothing(
    shell: str, open_shell: Open, emulator: Emulator, home: Path
) -> None:
    emulator.script(Reply.chat("touch made-by-alt-e"))
    term = open_shell(shell)
    term.type("make a file called made-by-alt-e")
    wait_line(term, "make a file called made-by-alt-e")
    term.keys("M-e")
    wait_line(term, "touch made-by-alt-e")
    [request] = [r for r in emulator.requests if r.path == "/chat/completions"]
    assert request.json["messages"][-1]["content"] == "make a file called made-by-alt-e"
    time.sleep(0.3)
    assert not (home / "made-by-alt-e").exists()  # replaced, not run
    term.keys("Enter")  # the new line is the shell's own: Enter runs it
    deadline = time.monotonic() + 10
    while not (home / "made-by-alt-e").exists():
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.05)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failure_keeps_the_line(shell: str, open_shell: Open, emulator: Emulator) -> None:
    emulator.script(Reply.chat("# that cannot be done with one command"))
    term = open_shell(shell)
    term.type("do the impossible")
    wait_line(term, "do the impossible")
    term.keys("M-e")
    term.wait_for("mlchat: error: no command: that cannot be done with one command")
    wait_line(term, "do the impossible")


@pytest.mark.parametrize(
    ("shell", "check"),
    [
        pytest.param("bash", ["bash", "-n"], marks=needs("bash")),
        pytest.param("zsh", ["zsh", "-n"], marks=needs("zsh")),
        pytest.param("fish", ["fish", "--no-execute"], marks=needs("fish")),
    ],
)
def test_the_printed_snippet_parses(shell: str, check: list[str]) -> None:
    r = invoke(["shell-integration", shell])
    assert (r.code, r.out) == (0, SNIPPETS[shell])
    done = subprocess.run(check, input=r.out, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr


def test_an_unknown_shell_is_a_usage_error() -> None:
    r = invoke(["shell-integration", "tcsh"])
    assert (r.code, r.out) == (2, "")
    assert r.err == "mlchat: error: no integration for 'tcsh': choose bash, zsh or fish\n"
