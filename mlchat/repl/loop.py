"""The chat loop (`Repl`): one conversation, its settings and what it has cost so far; reading
input, dispatching slash commands (commands.py), running `!command` lines (shellmode.py: the
command and its output can go with the next message), sending each message and drawing the
reply with its code blocks numbered. The context window (/compact, refusing what will not fit)
is in window.py, /continue in continuing.py, the toolbar in toolbar.py.

Input arrives through the `LineReader` seam (reader.py). Turns are recorded through a `TurnLog`;
`/save` and `/load` go through a `SessionStore`; model ids for completion and prices for the
toolbar are injected callables, so the conversation store and the model cache plug in without
this module knowing them. Imports session, ui, params, providers, types, errors and shellmode;
never typer, httpx, rich or prompt_toolkit.
"""

from __future__ import annotations

import contextlib
import difflib
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlchat.errors import EXIT_INTERRUPTED, EXIT_OK, MlchatError, OutputError, UsageError
from mlchat.providers import get_provider
from mlchat.repl import window
from mlchat.repl.commands import COMMANDS, Leave
from mlchat.repl.complete import Candidate, completions
from mlchat.repl.reader import LineReader, default_reader
from mlchat.runtime import Runtime
from mlchat.session import Conversation, NullLog, TurnLog
from mlchat.signals import Terminated
from mlchat.text import escape_controls, first_line
from mlchat.toolloop import ToolSession
from mlchat.turn import Turn
from mlchat.types import Message, Part, Usage
from mlchat.ui.errors import report
from mlchat.ui.render import ReasoningMode

if TYPE_CHECKING:
    from mlchat.client import Client
    from mlchat.roles import Role


class SessionStore(Protocol):
    """Named conversations for /save and /load (the conversation store implements it)."""

    def save_as(self, convo: Conversation, name: str) -> None: ...

    def find(self, ref: str) -> Conversation: ...


def _no_models() -> list[str]:
    return []


def _no_cost(model: str, usage: Usage) -> float | None:
    return None


def _no_window(model: str) -> int | None:
    return None


class Repl:
    """The chat: one conversation, its settings, and what it has cost so far."""

    def __init__(
        self,
        rt: Runtime,
        client: Client,
        convo: Conversation,
        *,
        plain: bool = False,
        reasoning: ReasoningMode = "auto",
        stream: bool = True,
        log: TurnLog | None = None,
        store: SessionStore | None = None,
        start_log: Callable[[], TurnLog] | None = None,
        model_ids: Callable[[], list[str]] = _no_models,
        cost: Callable[[str, Usage], float | None] = _no_cost,
        usage_line: Callable[[str, Usage | None], str] | None = None,
        fetch_models: Callable[[], None] | None = None,
        tools: ToolSession | None = None,
        aliases: Mapping[str, str] | None = None,
        role: Role | None = None,
        role_values: Mapping[str, str] | None = None,
        window: Callable[[str], int | None] = _no_window,
        attach: Callable[[Sequence[str]], list[Part]] | None = None,
        queued: Sequence[Part] = (),
        compact_at: float | None = None,
    ) -> None:
        self.rt = rt
        # `compact_at` in the config: /compact runs on its own past that share of the window.
        self.compact_at = compact_at
        # Reads the sources of `@path`, /file and `chat -f` (files, folders, globs, images,
        # URLs) into parts; `queued` is what goes with the next message (/file, chat -f).
        self._attach = attach
        self.queued: list[Part] = list(queued)
        # The role whose template wraps each message (/role switches it), and its -p values.
        self.role = role
        self.role_values: Mapping[str, str] = role_values or {}
        self.tools = tools
        self.aliases: Mapping[str, str] = aliases or {}
        self.client = client
        self.convo = convo
        self.plain = plain
        self.reasoning: ReasoningMode = reasoning
        self.stream = stream
        self.log: TurnLog = log if log is not None else NullLog()
        self.store = store
        self.start_log = start_log  # a log that saves every turn, for /save under --no-log
        self.model_ids = model_ids
        self.cost = cost
        self.usage_line = usage_line  # --usage: one line on stderr after each reply
        # Fetches and caches the model list, once, in the background, when /model <Tab> finds
        # none cached; its thread, and what went wrong.
        self.fetch_models = fetch_models
        self._fetcher: threading.Thread | None = None
        self._fetch_failed = ""
        self.tokens = 0
        # The context window of a model (config, model list, shipped table), and the size of
        # the conversation by the last reply's usage (its input and output).
        self.window = window
        self.context_tokens: int | None = None
        self.spent: float | None = None
        self.exit_code = EXIT_OK
        self.interactive = True
        self.reader: LineReader | None = None
        self.prefill = ""
        self.edit_from: int | None = None
        # Commands run with `!` or /run, with their output, that go with the next message.
        self.pending: list[str] = []
        self.stop = False  # Ctrl-C stopped a reply read from a pipe: end the session

    # -- the loop ---------------------------------------------------------------------------

    def run(self, reader: LineReader) -> int:
        """Read and answer until the input ends or /exit. Returns the exit code: 0, or for a
        chat read from a pipe, the code of the last failure (so scripts can tell)."""
        self.interactive = reader.interactive
        self.reader = reader
        self.warn_unsupported()
        if reader.interactive:
            self.rt.note(
                f"mlchat · {self.convo.model} · /help lists commands · Ctrl-D or /exit leaves"
            )
            self.note_resumed()
        while True:
            prefill, self.prefill = self.prefill, ""
            editing, self.edit_from = self.edit_from, None
            try:
                text = reader.read(prefill)
            except Terminated:
                raise  # SIGTERM, SIGHUP: the chat ends (the error boundary says so)
            except KeyboardInterrupt:
                if not reader.interactive:
                    return self._interrupted()
                continue  # the line is abandoned (and a pending /edit with it)
            if text is None:
                return self.exit_code
            try:
                self.handle(text, editing)
            except Leave:
                return self.exit_code
            except Terminated:
                raise
            except KeyboardInterrupt:
                # Ctrl-C outside a reply (e.g. during /tokens): back to the prompt.
                if not reader.interactive:
                    return self._interrupted()
            if self.stop:
                return self._interrupted()

    def start(self, history: Path | None, *, vi: bool = False) -> int:
        """Hold the chat on the terminal's line editor (a plain reader when piped), with the
        input history in `history`, until the input ends; returns the exit code."""
        return self.run(default_reader(self.rt, history, self.toolbar, self.completions, vi=vi))

    def note_resumed(self) -> None:
        """Say what a resumed chat (`-c`, `--session`, /load) goes on with: its name or id, its
        size, and the last exchange in brief."""
        c = self.convo
        if c.id is None or not c.messages:
            return
        n = len(c.messages)
        line = f"resumed {c.name or c.id}: {n} message{'s' if n != 1 else ''}"
        you = next((m for m in reversed(c.messages) if m.role == "user"), None)
        model = next((m for m in reversed(c.messages) if m.role == "assistant"), None)
        if you is not None:
            line += f" · you: {first_line(you.content, 50)}"
        if model is not None and model.content:
            line += f" · model: {first_line(model.content, 50)}"
        self.rt.note(line)

    def _interrupted(self) -> int:
        self.rt.note("mlchat: interrupted")
        return EXIT_INTERRUPTED

    def handle(self, text: str, editing: int | None = None) -> None:
        """One input: a slash command, or a message to send (replacing the exchange from
        `editing` on, after /edit)."""
        if not text.strip():
            return
        if text.startswith("/") and not text.startswith("//"):
            self.command(text)
            return
        if text.startswith("!") and not text.startswith("!!"):
            self.shell(text[1:].strip())
            return
        if text.startswith(("//", "!!")):
            text = text[1:]  # `//etc/hosts is...` sends a message that starts with a slash
        try:
            message = self.compose(text)
        except MlchatError as error:  # a bad @path: nothing is sent, the chat goes on
            self.fail(error)
            return
        if editing is not None and editing <= len(self.convo.messages):
            self.convo.truncate(editing)
            self.log.truncate(self.convo)
        self.send(message)

    def compose(self, text: str) -> str | Message:
        """The message for what the user typed: what /file queued, then each `@path` it
        mentions, then the text itself (in the role's template). Plain text when nothing is
        attached."""
        parts = list(self.queued)
        if "@" in text:
            from mlchat.repl.mentions import parse

            found = parse(text)
            text = found.text
            if found.sources:
                from mlchat.repl.files import attachments

                parts += attachments(self.read_sources(found.sources))
        if self.role is not None:
            text = self.role.prompt(text, self.role_values)
        if self.pending:
            text = "\n\n".join([*self.pending, text])
            self.pending = []
        if not parts:
            return text
        from mlchat.types import TextPart, user_message

        return user_message([*parts, TextPart(text)])

    def read_sources(self, sources: Sequence[str]) -> list[Part]:
        if self._attach is not None:
            return self._attach(sources)
        from mlchat.repl.files import read_sources

        return read_sources(sources, warn=self.rt.warn, note=self.rt.note)

    # -- shell commands ---------------------------------------------------------------------

    def shell(self, command: str) -> None:
        """`!command`: run it at once (the user typed it), its output shown; then ask whether
        the command and its output go with the next message."""
        from mlchat.shellmode import run_captured

        if not command:
            self.fail(UsageError("!COMMAND runs COMMAND in your shell", hint="e.g. !git status"))
            return
        ran = run_captured(self.rt, command, stdin_tty=self.interactive)
        if ran.status:
            self.rt.note(f"mlchat: exit status {ran.status}")
        if self.confirm("Add the command and its output to your next message? [y/N] "):
            self.pending.append(ran.note())
            self.rt.note("mlchat: added: it goes with your next message")

    def confirm(self, question: str) -> bool:
        """A yes or no from the user: typed at the terminal (keys typed before the question are
        ignored), or the next input line when the chat is read from a pipe. No answer is a no."""
        try:
            if self.interactive:
                answer = self.rt.ask(question)
            else:
                self.rt.note(question.rstrip())
                line = self.reader.read() if self.reader is not None else None
                if line is None:
                    return False
                answer = line
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def command(self, text: str) -> None:
        name, _, arg = text[1:].partition(" ")
        if "\n" in name:  # `/system` followed by Alt-Enter: the text starts on the next line
            name, _, rest = name.partition("\n")
            arg = rest + (" " + arg if arg else "")
        arg = arg.strip()
        cmd = COMMANDS.get(name.lower())
        try:
            if cmd is None:
                close = difflib.get_close_matches(name.lower(), COMMANDS, n=1)
                guess = f"did you mean /{close[0]}? " if close else ""
                raise UsageError(
                    f"unknown command /{name}",
                    hint=f"{guess}/help lists the commands; start a message with // to send "
                    "a leading slash",
                )
            cmd.run(self, arg)
        except MlchatError as error:
            self.fail(error)

    # -- one turn ---------------------------------------------------------------------------

    def send(self, text: str | Message | None) -> None:
        """Send `text` as the next user message, or with None resend the last one (/retry).
        With tools, rounds of tool calls run until the model answers (toolloop)."""
        if not window.fits(self, text):
            return
        if text is not None:
            self.queued.clear()  # what /file queued goes with this message, and only this one
        before = self.convo.messages[-1] if self.convo.messages else None
        if text is not None and before is not None and before.role == "user":
            # The last message got no reply (it failed, or was interrupted before any): it stays,
            # and goes with this one, so the model sees both.
            self.rt.note(
                f"(your previous message got no reply, so it is sent again with this one: "
                f"“{first_line(before.content, 40)}”)"
            )
        turn = self.new_turn(
            self.log,
            tools=self.tools,
            length_hint="/continue asks for the rest; /set max_tokens N raises the limit",
        )
        interrupted = False
        error: MlchatError | None = None
        signal: Terminated | None = None
        try:
            turn.run(text)
        except OutputError:
            raise  # stdout is gone: the chat cannot go on
        except Terminated as exc:
            interrupted, signal = True, exc
        except KeyboardInterrupt:
            interrupted = True
        except MlchatError as exc:
            error = exc
        for reply in turn.replies:
            self.count(reply.usage)
        if self.usage_line is not None and turn.replies and error is None:
            from mlchat.toolloop import total_usage

            self.rt.note(self.usage_line(self.convo.model, total_usage(turn.replies)))
        last = turn.last
        if signal is not None:
            if last is not None and last.has_content and self.saving:
                self.rt.note("(the partial reply is saved)")
            raise signal  # the chat ends: the error boundary exits with 128 + the signal
        if interrupted:
            if last is not None and last.finished and last.tool_calls:
                self.rt.note(
                    "(interrupted: the tool call was cancelled, and the conversation records "
                    "it as cancelled)"
                )
            elif last is not None and last.has_content:
                self.rt.note("(interrupted: the partial reply stays in the conversation)")
            else:
                self.rt.note("(interrupted before any reply: /retry sends your message again)")
            if not self.interactive:
                self.stop = True
        elif error is not None:
            kept = "your message is kept: /retry sends it again"
            hint = f"{error.hint}; {kept}" if error.hint else kept
            self.fail(error, hint=hint)
        elif last is not None and last.refused:
            self.rt.note("(the model refused to answer)")
        else:
            window.auto_compact(self)
        if self.rt.stdout_tty:
            self.rt.out.write("\n")  # a blank line between the reply and the next prompt
            self.rt.out.flush()

    def new_turn(self, log: TurnLog, *, tools: ToolSession | None, length_hint: str) -> Turn:
        """A turn in this chat's conversation, drawn with its settings and numbered code blocks.
        Only while its reply streams are typed-ahead keys kept, so tool approvals (between
        rounds) read from a normal terminal."""
        reader = self.reader
        return Turn(
            self.rt,
            self.client,
            self.convo,
            log,
            stream=self.stream,
            tools=tools,
            plain=self.plain,
            reasoning=self.reasoning,
            replying=reader.replying if reader is not None else contextlib.nullcontext,
            length_hint=length_hint,
            numbered=True,
        )

    @property
    def saving(self) -> bool:
        """Every turn is being saved (not --no-log, and a store is open)."""
        return not isinstance(self.log, NullLog)

    def count(self, usage: Usage | None) -> None:
        if usage is None:
            return
        if usage.total_tokens:
            self.context_tokens = usage.total_tokens
        self.tokens += usage.total_tokens or 0
        try:
            price = self.cost(self.convo.model, usage)
        except Exception:  # a broken price table must not end the chat
            price = None
        if price is not None:
            self.spent = (self.spent or 0.0) + price

    def fail(self, error: MlchatError, hint: str | None = None) -> None:
        report(self.rt.err, self.rt.scrub, error, hint)
        self.exit_code = error.exit_code if not self.interactive else EXIT_OK

    def warn_unsupported(self) -> None:
        provider = get_provider(self.convo.dialect)
        for name in provider.unsupported_params(self.convo.params):
            self.rt.warn(f"{name} is not part of the {self.convo.dialect} dialect and is not sent")

    def show(self, text: str) -> None:
        """What the user asked to see (/params, /history...) goes to stdout, like a reply,
        sanitised: it quotes the conversation (the model's words, tool names, a loaded file)."""
        text = escape_controls(text)
        self.rt.out.write(text if text.endswith("\n") else text + "\n")
        self.rt.out.flush()

    # -- the toolbar and completion ---------------------------------------------------------

    def toolbar(self, width: int | None = None) -> str:
        """The bottom toolbar (toolbar.py), in `width` columns or the terminal's."""
        from mlchat.repl.toolbar import toolbar

        return toolbar(self, width)

    def window_quietly(self) -> int | None:
        try:
            return self.window(self.convo.model)
        except Exception:  # the toolbar is drawn on every key: it must never fail
            return None

    def completions(self, text: str) -> list[Candidate]:
        """Completions for the input before the cursor (see complete.py)."""
        return completions(text, self.models, self.role_names, self.models_hint)

    def models_hint(self) -> str:
        """Why /model <Tab> offers nothing: the list is being fetched, or how to get it."""
        if self.fetch_models is not None and self._fetcher is None:
            self._fetcher = threading.Thread(target=self._fetch, daemon=True)
            self._fetcher.start()
        if self._fetcher is not None and self._fetcher.is_alive():
            return "fetching the model list: press Tab again in a moment"
        if self._fetch_failed:
            return f"no model list ({self._fetch_failed}): run `mlchat models`"
        return "no model list yet: run `mlchat models` (then Tab completes ids)"

    def _fetch(self) -> None:
        assert self.fetch_models is not None
        try:
            self.fetch_models()
        except MlchatError as exc:
            self._fetch_failed = first_line(exc.message, 80)
        except Exception as exc:  # a thread must not die loudly under the prompt
            self._fetch_failed = type(exc).__name__

    def role_names(self) -> list[str]:
        from mlchat import roles

        try:
            return list(roles.names())
        except Exception:  # an unreadable roles directory must not end the chat
            return []

    def models(self) -> list[str]:
        try:
            return list(self.model_ids())
        except Exception:  # a broken model cache must not end the chat
            return []
