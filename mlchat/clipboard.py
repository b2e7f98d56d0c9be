"""Copying text to the clipboard (`/copy`): OSC 52 written to the terminal, and a local clipboard
tool when one exists (wl-copy, xclip, xsel, pbcopy); inside tmux, its paste buffer and the
passthrough form of OSC 52. Also the contents of a reply's fenced code
blocks (mlchat/fences.py). Imports the standard library and mlchat.runtime.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
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


def tmux_passthrough(sequence: str) -> str:
    """`sequence` wrapped for tmux to hand to the terminal outside it (`allow-passthrough on`):
    under its default `set-clipboard external`, tmux drops an application's own OSC 52."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


@dataclass
class Copied:
    """Where a copy went. `places` were confirmed (a tool exited 0); `sent` says the escape
    sequence was written to the terminal, which may or may not honour it."""

    places: list[str] = field(default_factory=list)
    sent: bool = False

    def __bool__(self) -> bool:
        return bool(self.places) or self.sent

    def routes(self) -> list[str]:
        """Each place, the terminal last and as no more than sent."""
        return self.places + (["the terminal's clipboard (sent as OSC 52)"] if self.sent else [])

    def summary(self) -> str:
        """What was done, and no more than is known: `to tmux's paste buffer; also sent to the
        terminal's clipboard`."""
        if not self.places:
            return "to the terminal's clipboard (OSC 52)"
        done = "to " + " and ".join(self.places)
        return done + ("; also sent to the terminal's clipboard" if self.sent else "")


def _run(command: list[str], text: str, env: Mapping[str, str]) -> bool:
    try:
        # The tool's own output goes nowhere: xclip forks a child that keeps serving the
        # selection, and a pipe it inherited would make us wait for it.
        done = subprocess.run(
            command,
            input=text.encode(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def copy_to_tmux(text: str, env: Mapping[str, str]) -> bool:
    """Inside tmux: its paste buffer (`-w` also hands it to the outer terminal's clipboard, on
    tmux 3.2 and later; older ones refuse the flag and get the buffer alone)."""
    exe = shutil.which("tmux", path=env.get("PATH", os.defpath))
    if exe is None:
        return False
    return _run([exe, "load-buffer", "-w", "-"], text, env) or _run(
        [exe, "load-buffer", "-"], text, env
    )


def copy_to_clipboard(rt: Runtime, text: str) -> Copied:
    """Copy through every route available, and say which."""
    copied = Copied()
    in_tmux = bool(rt.env.get("TMUX"))
    terminal = rt.out if rt.stdout_tty else rt.err if rt.stderr_tty else None
    if terminal is not None:
        sequence = osc52(text)
        if in_tmux:
            sequence += tmux_passthrough(sequence)
        with contextlib.suppress(OSError, ValueError):
            terminal.write(sequence)
            terminal.flush()
            copied.sent = True
    if in_tmux and copy_to_tmux(text, rt.env):
        copied.places.append("tmux's paste buffer")
    command = clipboard_command(rt.env)
    if command is not None and _run(command, text, rt.env):
        copied.places.append(f"the clipboard ({Path(command[0]).name})")
    return copied


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text, in order (mlchat/fences.py:
    a CommonMark parse). A block left open (an interrupted reply) still counts."""
    from mlchat.fences import fences

    return [fence.code for fence in fences(text)]
