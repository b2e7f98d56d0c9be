"""Shell commands the user asked for: the command a model suggests made safe to show and edit
(`clean`), the user's shell (`shell_argv`), running a command with the terminal attached
(`run_attached`, for `mlchat cmd`) or with its output shown and kept (`run_captured`, for `!` and
`/run N` in chat), and the loop of `mlchat cmd` on a terminal (`CommandMode`): the suggestion in
an editable line, describe, revise, copy, run.

Nothing here runs a command the user did not see in full and confirm: `CommandMode` runs only
what the editor returns after Enter, and the editor shows the whole text. A suggestion is
cleaned before it is shown: control and format characters (ESC, CR, zero-width and
bidirectional marks) are removed, so what is seen is what runs. The child gets the user's
environment without the API key. Imports errors, fences, runtime, session, text, turn; the
editor (prompt_toolkit) is handed in.
"""

from __future__ import annotations

import codecs
import os
import shutil
import signal
import subprocess
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from mlchat.runtime import Runtime

if TYPE_CHECKING:
    from mlchat.client import Client
    from mlchat.session import Conversation, TurnLog
    from mlchat.types import Message

KEY_ENV = "MODELSLAB_API_KEY"
OUTPUT_LIMIT = 16_000  # characters of a command's output added to a message (the end is kept)

Action = Literal["run", "describe", "revise", "copy"]

DESCRIBE = (
    "Do not answer with a command this time. In two to four short sentences, explain what this "
    "command does, and say if anything about it is risky or irreversible:\n\n{command}"
)
REVISE = (
    "The command is now:\n\n{command}\n\nChange it: {change}\n\nAnswer with the new command "
    "only, as before."
)


def clean(text: str) -> tuple[str, int]:
    """The command in a model's reply, and how many invisible characters were removed from it.

    A reply that ignored the instructions and used a code fence gives the fence's code; a
    leading `$ ` prompt is dropped from each line. Control characters other than newline and
    tab, and format characters (zero-width, bidirectional overrides: Unicode category Cf), are
    removed: the editor would show some of them as nothing at all."""
    from mlchat.fences import fences

    text = text.replace("\r\n", "\n").strip()
    blocks = fences(text)
    if blocks:
        text = blocks[0].code.strip()
    kept = "".join(
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    removed = len(text) - len(kept)
    lines = [line[2:] if line.startswith("$ ") else line for line in kept.split("\n")]
    return "\n".join(lines).strip(), removed


def shell_argv(env: Mapping[str, str], command: str) -> list[str]:
    """How to run `command`: `$SHELL -c` when $SHELL names a program that can be run, else sh."""
    shell = env.get("SHELL", "").strip()
    if not (shell and Path(shell).is_absolute() and os.access(shell, os.X_OK)):
        shell = shutil.which("sh", path=env.get("PATH", os.defpath)) or "/bin/sh"
    return [shell, "-c", command]


def child_env(env: Mapping[str, str], secrets: set[str]) -> dict[str, str]:
    """The user's environment for a command they run, without the API key: the key leaves
    mlchat only in request headers."""
    known = [s for s in secrets if len(s) >= 8]
    return {
        name: value
        for name, value in env.items()
        if name != KEY_ENV and not any(s in value for s in known)
    }


def status_of(returncode: int) -> int:
    """A shell's view of an exit status: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


@contextmanager
def _child_owns_ctrl_c() -> Iterator[None]:
    """While a command runs in the foreground, Ctrl-C is the command's: it reaches the child
    (same process group) and mlchat keeps waiting for its status. A handler that does nothing,
    not SIG_IGN, which the child would inherit."""
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_attached(rt: Runtime, command: str) -> int:
    """Run `command` in the user's shell with the terminal attached; its exit status."""
    argv = shell_argv(rt.env, command)
    try:
        with _child_owns_ctrl_c():
            done = subprocess.run(argv, env=child_env(rt.env, rt.secrets), check=False)
    except OSError as exc:
        from mlchat.errors import UsageError

        raise UsageError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    return status_of(done.returncode)


@dataclass(frozen=True, slots=True)
class Ran:
    command: str
    status: int
    output: str  # stdout and stderr together, as they arrived (decoded, undecodable replaced)

    def note(self) -> str:
        """The command and its output, for the next message (`!` and /run in chat)."""
        output = self.output
        cut = ""
        if len(output) > OUTPUT_LIMIT:
            output, cut = output[-OUTPUT_LIMIT:], f" (its last {OUTPUT_LIMIT:,} characters)"
        fence = "```"
        while fence in output or fence in self.command:
            fence += "`"
        body = output if output.endswith("\n") or not output else output + "\n"
        return (
            f"I ran this command (exit status {self.status}):\n\n{fence}sh\n{self.command}\n"
            f"{fence}\n\nIts output{cut}:\n\n{fence}\n{body}{fence}"
        )


def run_captured(rt: Runtime, command: str, *, stdin_tty: bool) -> Ran:
    """Run `command` in the user's shell, its output (stdout and stderr merged) shown on stdout
    as it arrives and kept. Its stdin is the terminal when a person is typing, else nothing (a
    piped chat's input is the chat's)."""
    from mlchat.text import StreamEscaper

    argv = shell_argv(rt.env, command)
    escape = StreamEscaper(active=bool(rt.stdout_tty))
    chunks: list[bytes] = []
    try:
        with _child_owns_ctrl_c():
            proc = subprocess.Popen(
                argv,
                stdin=None if stdin_tty else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=child_env(rt.env, rt.secrets),
            )
            assert proc.stdout is not None
            decoder = _decoder()
            with proc.stdout:
                while chunk := os.read(proc.stdout.fileno(), 65536):
                    chunks.append(chunk)
                    rt.out.write(escape(decoder.decode(chunk)))
                    rt.out.flush()
            rt.out.write(escape(decoder.decode(b"", final=True)) + escape.flush())
            rt.out.flush()
            returncode = proc.wait()
    except OSError as exc:
        from mlchat.errors import UsageError

        raise UsageError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    output = b"".join(chunks).decode("utf-8", errors="replace")
    if output and not output.endswith("\n"):
        rt.out.write("\n")
        rt.out.flush()
    return Ran(command, status_of(returncode), output)


def _decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


# ---------------------------------------------------------------------------------------------
# `mlchat cmd` on a terminal


class Editor(Protocol):
    """The editable line of `mlchat cmd` (repl/cmdline.py on a terminal).

    `edit` shows `command` pre-filled and returns what the user chose with the line as edited;
    it raises KeyboardInterrupt (Ctrl-C) or EOFError (Ctrl-D) to cancel. `follow_up` asks for
    the change a revision should make; None when the user gives none."""

    def edit(self, command: str) -> tuple[Action, str]: ...

    def follow_up(self) -> str | None: ...


class CommandMode:
    """One `mlchat cmd` conversation: each request a Turn in `convo` (saved through `log`)."""

    def __init__(
        self,
        rt: Runtime,
        client: Client,
        convo: Conversation,
        log: TurnLog,
        *,
        stream: bool = True,
        plain: bool = False,
        copy: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.rt = rt
        self.client = client
        self.convo = convo
        self.log = log
        self.stream = stream
        self.plain = plain
        self.copy = copy

    def request(self, text: str | Message, *, shown: bool = False) -> str:
        """Send `text`; the reply's text. Drawn on stderr when `shown` (a description), else
        not drawn (a command goes to the editor, or to stdout)."""
        from mlchat.turn import Turn

        waiting = not shown and bool(self.rt.stderr_tty)
        if waiting:
            self.rt.err.write(f"\x1b[2m… asking {_safe(self.convo.model)}\x1b[0m")
            self.rt.err.flush()
        turn = Turn(
            self.rt,
            self.client,
            self.convo,
            self.log,
            stream=self.stream,
            plain=self.plain,
            quiet=not shown,
            on_stderr=True,
        )
        try:
            turn.run(text)
        finally:
            if waiting:
                self.rt.err.write("\r\x1b[K")
                self.rt.err.flush()
        return turn.last.text if turn.last is not None else ""

    def suggestion(self, text: str | Message) -> str:
        """The command the model suggests for `text`, cleaned; NoCommand (exit 4) when the
        reply holds none."""
        from mlchat.errors import NoCommand

        command, removed = clean(self.request(text))
        if removed:
            self.rt.warn(
                f"{removed} invisible character{'s' * (removed != 1)} removed from the command"
            )
        if not command:
            raise NoCommand("the model gave no command")
        return command

    def print(self, command: str) -> None:
        """Without a terminal: the command alone on stdout; a reply that only says why there is
        no command goes to stderr, and is exit 4."""
        from mlchat.errors import NoCommand
        from mlchat.turn import stdout_writes

        if command.startswith("#"):
            raise NoCommand(f"no command: {command.lstrip('# ')}")
        with stdout_writes():
            self.rt.out.write(command + "\n")
            self.rt.out.flush()

    def interact(self, editor: Editor, first: str) -> int:
        """The loop on a terminal: the command in the editor until it is run (its status) or
        cancelled (130, nothing run)."""
        from mlchat.errors import EXIT_INTERRUPTED

        command = first
        while True:
            if command.startswith("#"):
                self.rt.note(f"mlchat: the model says: {command.lstrip('# ')}")
            try:
                action, command = editor.edit(command)
            except (KeyboardInterrupt, EOFError):
                self.rt.note("mlchat: cancelled; nothing was run")
                return EXIT_INTERRUPTED
            if action == "run":
                if not command.strip():
                    self.rt.note("mlchat: the line is empty; nothing was run")
                    return EXIT_INTERRUPTED
                return self.run(command)
            if action == "describe":
                self.request(DESCRIBE.format(command=command), shown=True)
            elif action == "revise":
                change = editor.follow_up()
                if change:
                    command = self.suggestion(REVISE.format(command=command, change=change))
            elif action == "copy":
                self._copy(command)

    def run(self, command: str) -> int:
        status = run_attached(self.rt, command)
        # Noted in the conversation: continuing it (`ask -c`) tells the model what happened.
        self.convo.add_user(f"I ran this command; its exit status was {status}:\n\n{command}")
        self.log.user(self.convo, self.convo.messages[-1])
        if status:
            self.rt.note(f"mlchat: the command exited with status {status}")
        return status

    def _copy(self, command: str) -> None:
        used = self.copy(command) if self.copy is not None else []
        if used:
            self.rt.note(f"mlchat: copied the command via {' and '.join(used)}")
        else:
            self.rt.warn("no way to reach the clipboard (install wl-copy, xclip or xsel)")


def _safe(text: str) -> str:
    from mlchat.text import escape_controls

    return escape_controls(text, keep="")
