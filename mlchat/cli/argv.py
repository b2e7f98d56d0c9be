"""The command line as users type it, made into the one Click parses: the shortcuts.

- `mlchat "question"` is `mlchat ask "question"` (llm's default command), and so is
  `mlchat -m fast "question"`; `echo text | mlchat` with no arguments asks too. A first word that
  names a command stays that command: `mlchat models` lists models, `mlchat ask models` asks.
- `--debug` is accepted after the command as well as before it.
- `-p NAME VALUE` (llm's two-value option, which Typer cannot declare) becomes one value,
  NAME and VALUE joined by `PARAM_SEP`, split again by cli/role_use.py.

Nothing after a `--` is touched: it is the prompt. `mlchat` with an empty pipe (`</dev/null`, a
script's closed stdin) still shows the help: `has_piped_input` waits for the first byte or the
end of the pipe and looks without reading anything. The standard library only.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlchat.runtime import Runtime

PARAM_SEP = "\x1f"  # the ASCII unit separator: never in a name typed on a command line
PARAM_FLAGS = ("-p", "--param")
DEFAULT_COMMAND = "ask"
# The root's own options (none takes a value, except --show-completion's optional shell).
ROOT_FLAGS = (
    "--debug",
    "--version",
    "-V",
    "--help",
    "-h",
    "--install-completion",
    "--show-completion",
)
PARAM_COMMANDS = ("ask", "chat", "tokens")


def rewrite(args: list[str], commands: Collection[str], *, stdin_piped: bool) -> list[str]:
    """`args` (without the program name) with the shortcuts applied (see the module)."""
    args = list(args)
    if not args:
        return [DEFAULT_COMMAND] if stdin_piped else args
    at = 0
    while at < len(args) and args[at] in ROOT_FLAGS:
        at += 1
    if at == len(args):
        return args  # `mlchat --help`, `mlchat --debug` alone (help, as before)
    if args[at] not in commands:
        if args[at] == "--":
            args[at] = DEFAULT_COMMAND  # `mlchat -- -x`: ask "-x"
            args.insert(at + 1, "--")
        else:
            args.insert(at, DEFAULT_COMMAND)
    command = args[at]
    head, rest = args[: at + 1], args[at + 1 :]
    moved: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            out += rest[i:]
            break
        if word == "--debug":
            moved.append(word)
        elif word in PARAM_FLAGS and command in PARAM_COMMANDS and i + 2 < len(rest):
            out += ["--param", rest[i + 1] + PARAM_SEP + rest[i + 2]]
            i += 3
            continue
        else:
            out.append(word)
        i += 1
    if moved and "--debug" not in head:
        head = ["--debug", *head]
    return head + out


def has_piped_input(rt: Runtime | None) -> bool:
    """Whether stdin is not a terminal and has something to read (without consuming it)."""
    import sys

    if rt is not None and rt.stdin_tty:
        return False
    stream: Any = rt.stdin if rt is not None and rt.stdin is not None else sys.stdin
    if hasattr(stream, "getbuffer"):  # an in-memory stream (tests)
        return bool(len(stream.getbuffer()) > stream.tell())
    try:
        fd = stream.fileno()
        if rt is None and os_isatty(fd):
            return False
        return _fd_has_data(fd)
    except (AttributeError, ValueError, OSError):
        return False


def os_isatty(fd: int) -> bool:
    import os

    return os.isatty(fd)


def _fd_has_data(fd: int) -> bool:
    import os
    import stat

    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return os.fstat(fd).st_size > os.lseek(fd, 0, os.SEEK_CUR)
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return False  # /dev/null and other devices: nothing to ask about
    import select

    select.select([fd], [], [])  # the first byte, or the end of the pipe
    try:
        import array
        import fcntl
        import termios

        count = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, count)
        return count[0] > 0
    except (ImportError, OSError):
        return True  # cannot tell: let `ask` read it (an empty pipe is then "no prompt")
