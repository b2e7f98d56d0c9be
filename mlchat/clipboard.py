"""Copying text to the clipboard (`/copy`): OSC 52 written to the terminal, and a local clipboard
tool when one exists (wl-copy, xclip, xsel, pbcopy). Also the contents of a reply's fenced code
blocks (mlchat/fences.py). Imports the standard library and mlchat.runtime.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlchat.runtime import Runtime

# (tool, arguments, the variable that says its display is there)
CLIPBOARD_TOOLS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("wl-copy", (), "WAYLAND_DISPLAY"),
    ("xclip", ("-selection", "clipboard"), "DISPLAY"),
    ("xsel", ("--clipboard", "--input"), "DISPLAY"),
    ("pbcopy", (), None),
)


def clipboard_command(env: Mapping[str, str]) -> list[str] | None:
    path = env.get("PATH", os.defpath)
    for name, args, needs in CLIPBOARD_TOOLS:
        if needs is not None and not env.get(needs):
            continue
        exe = shutil.which(name, path=path)
        if exe is not None:
            return [exe, *args]
    return None


def osc52(text: str) -> str:
    """The escape sequence that asks the terminal to put `text` on the clipboard; it works
    over ssh, where no local tool can reach the user's clipboard."""
    return "\x1b]52;c;" + base64.b64encode(text.encode()).decode("ascii") + "\x07"


def copy_to_clipboard(rt: Runtime, text: str) -> list[str]:
    """Copy through every route available; return the names of those that worked."""
    used: list[str] = []
    terminal = rt.out if rt.stdout_tty else rt.err if rt.stderr_tty else None
    if terminal is not None:
        with contextlib.suppress(OSError, ValueError):
            terminal.write(osc52(text))
            terminal.flush()
            used.append("OSC 52")
    command = clipboard_command(rt.env)
    if command is not None:
        try:
            # The tool's own output goes nowhere: xclip forks a child that keeps serving the
            # selection, and a pipe it inherited would make us wait for it.
            done = subprocess.run(
                command,
                input=text.encode(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(rt.env),
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            if done.returncode == 0:
                used.append(Path(command[0]).name)
    return used


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text, in order (mlchat/fences.py:
    a CommonMark parse). A block left open (an interrupted reply) still counts."""
    from mlchat.fences import fences

    return [fence.code for fence in fences(text)]
