"""The interactive chat loop: reading input, slash commands, and one streamed reply per turn.

The home of prompt_toolkit, which is imported only inside `PromptReader`: a piped chat
(`printf 'q1\\nq2\\n' | mlchat chat`) reads through `PlainReader` and never pays for it, and
`--help` never imports this module at all. Imports session, ui, params, providers, types
and errors; never typer, httpx or rich (replies are drawn by mlchat/ui/).

Input arrives through the `LineReader` seam (prompt_toolkit on a terminal, plain lines on a
pipe). Turns are recorded through a `TurnLog`; `/save` and `/load` go through a `SessionStore`;
model ids for completion and prices for the toolbar are injected callables, so the conversation
store and the model cache plug in without this module knowing them.
"""

from __future__ import annotations

import contextlib
import difflib
import shlex
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from mlchat import params as P
from mlchat.clipboard import code_blocks, copy_to_clipboard
from mlchat.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    MlchatError,
    UsageError,
)
from mlchat.history import HistoryFile
from mlchat.prices import usd
from mlchat.providers import get_provider
from mlchat.runtime import Runtime
from mlchat.session import Conversation, NullLog, Reply, TurnLog
from mlchat.text import first_line
from mlchat.toolloop import ToolSession, run_rounds
from mlchat.types import ChatRequest, StreamEvent, Usage
from mlchat.ui.errors import report
from mlchat.ui.render import ReasoningMode, Renderer, make_renderer
from mlchat.ui.toolcalls import show_call, show_result

if TYPE_CHECKING:
    from prompt_toolkit.history import History

    from mlchat.client import Client

Candidate = tuple[str, int, str]
"""(text to insert, start position relative to the cursor, one-line description)."""


# -- the seams --------------------------------------------------------------------------------


class LineReader(Protocol):
    """Where the REPL's input comes from.

    `read` returns one message or command (possibly many lines), or None at the end of input
    (Ctrl-D, EOF). It raises KeyboardInterrupt when the user abandons the line (Ctrl-C).
    `default` pre-fills the input, for /edit. `interactive` is False when nobody is typing
    (stdin is a pipe or a file): Ctrl-C then ends the session instead of returning to a prompt.
    """

    interactive: bool

    def read(self, default: str = "") -> str | None: ...

    def replying(self) -> AbstractContextManager[None]:
        """Held while a reply streams: what the reader needs to keep keys typed ahead."""
        ...


class SessionStore(Protocol):
    """Named conversations for /save and /load (the conversation store implements it)."""

    def save_as(self, convo: Conversation, name: str) -> None: ...

    def find(self, ref: str) -> Conversation: ...


def _no_models() -> list[str]:
    return []


def _no_cost(model: str, usage: Usage) -> float | None:
    return None


# -- the plain reader -------------------------------------------------------------------------


class PlainReader:
    """One message per line from a stream (a pipe, a file): no prompt, no editing, no escapes.
    Blank lines are skipped; slash commands work as on a terminal."""

    def __init__(self, stream: IO[bytes] | IO[str], *, interactive: bool = False) -> None:
        self._stream = stream
        self.interactive = interactive

    def read(self, default: str = "") -> str | None:
        while True:
            raw: bytes | str = self._stream.readline()
            if not raw:
                return None
            line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            line = line.rstrip("\r\n")
            if line.strip():
                return line

    def replying(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


def _history_adapter(file: HistoryFile) -> History:
    """A prompt_toolkit History over `file`. The Buffer asks for the history at every prompt;
    answering from the file each time brings in what other REPLs have typed since."""
    from collections.abc import AsyncGenerator, Iterable

    from prompt_toolkit.history import History

    class SharedHistory(History):
        async def load(self) -> AsyncGenerator[str, None]:
            self._loaded_strings = file.entries()[::-1]
            self._loaded = True
            for item in self._loaded_strings:
                yield item

        def load_history_strings(self) -> Iterable[str]:
            return reversed(file.entries())

        def store_string(self, string: str) -> None:
            file.append(string)

    return SharedHistory()


# -- the prompt_toolkit reader ----------------------------------------------------------------


class PromptReader:
    """A prompt_toolkit line editor. Enter sends; Alt-Enter (Esc Enter) and Ctrl-J insert a
    newline; a bracketed paste arrives whole; Ctrl-X Ctrl-E opens $VISUAL/$EDITOR and puts the
    result back in the input (it is not sent until Enter, so a slip of the editor never sends a
    half-written message); Ctrl-R searches the history; Right or Ctrl-E accepts the suggestion;
    Ctrl-C abandons the line; Ctrl-D on an empty line ends the chat.

    `input` and `output` default to the terminal; tests pass a pipe input and DummyOutput.
    """

    interactive = True

    def __init__(
        self,
        *,
        history: HistoryFile | None,
        toolbar: Callable[[], str],
        complete: Callable[[str], list[Candidate]],
        input: Any = None,
        output: Any = None,
    ) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.document import Document
        from prompt_toolkit.filters import has_focus
        from prompt_toolkit.history import InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.output import create_output
        from prompt_toolkit.styles import Style

        class SlashCompleter(Completer):
            def get_completions(
                self, document: Document, complete_event: Any
            ) -> Iterator[Completion]:
                for text, start, meta in complete(document.text_before_cursor):
                    yield Completion(text, start_position=start, display_meta=meta)

        kb = KeyBindings()
        in_input = has_focus("DEFAULT_BUFFER")

        @kb.add("enter", filter=in_input)
        def _send(event: KeyPressEvent) -> None:
            event.current_buffer.validate_and_handle()

        @kb.add("escape", "enter", filter=in_input)
        @kb.add("c-j", filter=in_input)
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.newline(copy_margin=False)

        @kb.add("c-x", "c-e", filter=in_input)
        def _editor(event: KeyPressEvent) -> None:
            event.current_buffer.open_in_editor(validate_and_handle=False)

        # The terminal to quiet while replies stream (none when tests pass a pipe input).
        self._fd: int | None = None
        self._out: IO[str] | None = None
        if input is None:
            import sys

            with contextlib.suppress(AttributeError, ValueError, OSError):
                if sys.stdin.isatty():
                    self._fd = sys.stdin.fileno()
                    self._out = next((s for s in (sys.stdout, sys.stderr) if s.isatty()), None)
        self._session: PromptSession[str] = PromptSession(
            message=[("class:prompt", "> ")],
            multiline=True,  # Enter is rebound above; this keeps pasted newlines and the layout
            prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
            history=_history_adapter(history) if history is not None else InMemoryHistory(),
            auto_suggest=AutoSuggestFromHistory(),
            completer=SlashCompleter(),
            complete_while_typing=True,
            bottom_toolbar=lambda: [("class:bottom-toolbar", " " + toolbar() + " ")],
            key_bindings=kb,
            tempfile_suffix=".md",
            enable_suspend=True,
            mouse_support=False,  # the terminal's own selection and scrollback keep working
            style=Style.from_dict({"prompt": "bold"}),
            input=input,
            # With stdout redirected (`mlchat chat > log.md`) the prompt still uses the terminal.
            output=output if output is not None else create_output(always_prefer_tty=True),
        )

    def read(self, default: str = "") -> str | None:
        try:
            return self._session.prompt(default=default)
        except EOFError:
            return None

    def replying(self) -> AbstractContextManager[None]:
        return (
            typeahead_kept(self._fd, self._out)
            if self._fd is not None
            else contextlib.nullcontext()
        )


@contextlib.contextmanager
def typeahead_kept(fd: int, out: IO[str] | None) -> Iterator[None]:
    """While a reply streams, keep what the user types for the next prompt, as typed.

    Between prompts the terminal is in cooked mode: typed-ahead keys would be echoed into the
    reply, and Enter would arrive as Ctrl-J (ICRNL), which inserts a newline instead of
    sending. So echo, line editing and CR translation are off (ISIG stays: Ctrl-C still
    interrupts), and bracketed paste stays on, so a paste made now is still one message. The
    settings change with TCSANOW: TCSAFLUSH would throw the typed-ahead keys away.
    """
    try:
        import termios
    except ImportError:  # not a POSIX system
        yield
        return
    try:
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)  # a second copy, to change
    except (termios.error, OSError, ValueError):  # not a terminal
        yield
        return
    iflag: int = quiet[0]
    lflag: int = quiet[3]
    quiet[0] = iflag & ~(termios.ICRNL | termios.INLCR | termios.IGNCR)
    quiet[3] = lflag & ~(termios.ECHO | termios.ICANON)
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        if out is not None:
            out.write("\x1b[?2004h")
            out.flush()
    except (OSError, termios.error):
        pass
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError, termios.error):
            if out is not None:
                out.write("\x1b[?2004l")
                out.flush()
            termios.tcsetattr(fd, termios.TCSANOW, saved)


# -- the loop ---------------------------------------------------------------------------------


class _Leave(Exception):
    """/exit and /quit."""


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
        model_ids: Callable[[], list[str]] = _no_models,
        cost: Callable[[str, Usage], float | None] = _no_cost,
        tools: ToolSession | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.rt = rt
        self.tools = tools
        self.aliases: Mapping[str, str] = aliases or {}
        self.client = client
        self.convo = convo
        self.plain = plain
        self.reasoning: ReasoningMode = reasoning
        self.stream = stream
        self.log: TurnLog = log if log is not None else NullLog()
        self.store = store
        self.model_ids = model_ids
        self.cost = cost
        self.tokens = 0
        self.spent: float | None = None
        self.exit_code = EXIT_OK
        self._interactive = True
        self._reader: LineReader | None = None
        self._prefill = ""
        self._edit_from: int | None = None
        self._stop = False  # Ctrl-C stopped a reply read from a pipe: end the session

    # -- the loop ---------------------------------------------------------------------------

    def run(self, reader: LineReader) -> int:
        """Read and answer until the input ends or /exit. Returns the exit code: 0, or for a
        chat read from a pipe, the code of the last failure (so scripts can tell)."""
        self._interactive = reader.interactive
        self._reader = reader
        self._warn_unsupported()
        if reader.interactive:
            self.rt.note(
                f"mlchat · {self.convo.model} · /help lists commands · Ctrl-D or /exit leaves"
            )
        while True:
            prefill, self._prefill = self._prefill, ""
            editing, self._edit_from = self._edit_from, None
            try:
                text = reader.read(prefill)
            except KeyboardInterrupt:
                if not reader.interactive:
                    return self._interrupted()
                continue  # the line is abandoned (and a pending /edit with it)
            if text is None:
                return self.exit_code
            try:
                self.handle(text, editing)
            except _Leave:
                return self.exit_code
            except KeyboardInterrupt:
                # Ctrl-C outside a reply (e.g. during /tokens): back to the prompt.
                if not reader.interactive:
                    return self._interrupted()
            if self._stop:
                return self._interrupted()

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
        if text.startswith("//"):
            text = text[1:]  # `//etc/hosts is...` sends a message that starts with a slash
        if editing is not None and editing <= len(self.convo.messages):
            self.convo.truncate(editing)
            self.log.truncate(self.convo)
        self.send(text)

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
            self._fail(error)

    # -- one turn ---------------------------------------------------------------------------

    def send(self, text: str | None) -> None:
        """Send `text` as the next user message, or with None resend the last one (/retry).
        With tools, rounds of tool calls run until the model answers (toolloop)."""
        convo = self.convo
        if text is not None:
            convo.add_user(text)
            self.log.user(convo, convo.messages[-1])
        provider = get_provider(convo.dialect)
        convo.tools = self.tools.specs() if self.tools is not None else ()
        renderers: list[Renderer] = []
        replies: list[Reply] = []

        @contextlib.contextmanager
        def open_stream(req: ChatRequest) -> Iterator[Iterator[StreamEvent]]:
            # Only while a reply streams: typed-ahead keys are kept, and tool approvals (between
            # rounds) read from a normal terminal.
            replying = self._reader.replying() if self._reader else contextlib.nullcontext()
            with replying, self.client.chat(provider, req) as events:
                yield events

        def sink(reply: Reply) -> Callable[[StreamEvent], None]:
            replies.append(reply)
            renderer = make_renderer(
                out=self.rt.out,
                err=self.rt.err,
                env=self.rt.env,
                stdout_tty=bool(self.rt.stdout_tty),
                stderr_tty=bool(self.rt.stderr_tty),
                plain=self.plain,
                reasoning=self.reasoning,
                clock=self.rt.clock,
            )
            renderers[:] = [renderer]

            def feed(ev: StreamEvent) -> None:
                renderer.feed(ev)
                self.log.progress(convo, reply)

            return feed

        def finish() -> None:
            # Whatever happened, the renderer ends its line and clears any live region.
            with contextlib.suppress(KeyboardInterrupt):
                for renderer in renderers:
                    renderer.finish()
            renderers.clear()

        interrupted = False
        error: MlchatError | None = None
        try:
            run_rounds(
                open_stream,
                convo,
                stream=self.stream,
                sink=sink,
                finish=finish,
                tools=self.tools,
                on_call=lambda call: show_call(self.rt, call),
                on_result=lambda result: show_result(self.rt, result),
                log=self.log,
                scrub=self.rt.scrub,
            )
        except KeyboardInterrupt:
            interrupted = True
        except MlchatError as exc:
            error = exc
        for reply in replies:
            self._count(reply.usage)
        last = replies[-1] if replies else None
        if interrupted:
            if last is not None and last.has_content:
                self.rt.note("(interrupted: the partial reply stays in the conversation)")
            else:
                self.rt.note("(interrupted before any reply: /retry sends your message again)")
            if not self._interactive:
                self._stop = True
        elif error is not None:
            kept = "your message is kept: /retry sends it again"
            hint = f"{error.hint}; {kept}" if error.hint else kept
            self._fail(error, hint=hint)
        if self.rt.stdout_tty:
            self.rt.out.write("\n")  # a blank line between the reply and the next prompt
            self.rt.out.flush()

    def _count(self, usage: Usage | None) -> None:
        if usage is None:
            return
        self.tokens += usage.total_tokens or 0
        try:
            price = self.cost(self.convo.model, usage)
        except Exception:  # a broken price table must not end the chat
            price = None
        if price is not None:
            self.spent = (self.spent or 0.0) + price

    def _fail(self, error: MlchatError, hint: str | None = None) -> None:
        report(self.rt.err, self.rt.scrub, error, hint)
        self.exit_code = error.exit_code if not self._interactive else EXIT_OK

    def _warn_unsupported(self) -> None:
        provider = get_provider(self.convo.dialect)
        for name in provider.unsupported_params(self.convo.params):
            self.rt.warn(f"{name} is not part of the {self.convo.dialect} dialect and is not sent")

    def _show(self, text: str) -> None:
        """What the user asked to see (/params, /history...) goes to stdout, like a reply."""
        self.rt.out.write(text if text.endswith("\n") else text + "\n")
        self.rt.out.flush()

    # -- the toolbar and completion ---------------------------------------------------------

    def toolbar(self) -> str:
        c = self.convo
        parts = [c.model, c.dialect]
        if c.params.temperature is not None:
            parts.append(f"temperature {c.params.temperature:g}")
        parts.append(f"{self.tokens:,} tokens")
        if self.spent is not None:
            parts.append(usd(self.spent))
        return " · ".join(parts) + "  │  /help"

    def completions(self, text: str) -> list[Candidate]:
        """Completions for the input before the cursor: command names, then model ids after
        /model, parameter names after /set, command names after /help."""
        if not text.startswith("/") or "\n" in text:
            return []
        name, space, arg = text[1:].partition(" ")
        if not space:
            return [
                ("/" + n, -len(text), c.help)
                for n, c in COMMANDS.items()
                if n.startswith(name.lower())
            ]
        word = arg.lstrip()
        if " " in word:
            return []
        if name == "model":
            fragment = word.lower()
            return [(m, -len(word), "") for m in self._models() if fragment in m.lower()]
        if name == "set":
            return [(p, -len(word), s.help) for p, s in P.SPECS.items() if p.startswith(word)]
        if name == "help":
            return [(n, -len(word), c.help) for n, c in COMMANDS.items() if n.startswith(word)]
        return []

    def _models(self) -> list[str]:
        try:
            return list(self.model_ids())
        except Exception:  # a broken model cache must not end the chat
            return []

    # -- the slash commands -----------------------------------------------------------------

    def cmd_help(self, arg: str) -> None:
        if arg:
            cmd = COMMANDS.get(arg.lstrip("/").lower())
            if cmd is None:
                raise UsageError(f"no command /{arg.lstrip('/')}", hint="/help lists them")
            self._show(f"/{arg.lstrip('/').lower()} {cmd.args}".rstrip() + f"  {cmd.help}")
            return
        width = max(len(f"/{n} {c.args}".rstrip()) for n, c in COMMANDS.items())
        lines = [f"{f'/{n} {c.args}'.rstrip():<{width}}  {c.help}" for n, c in COMMANDS.items()]
        lines.append("")
        lines.append(KEYS_HELP)
        self._show("\n".join(lines))

    def cmd_model(self, arg: str) -> None:
        if not arg:
            self._show(self.convo.model)
            return
        from mlchat.models import resolve_model

        known = self._models()
        # The same rules as -m: exact id, alias, case, then a unique fragment (else an error
        # listing the candidates).
        model = resolve_model(arg, self.aliases, known)
        if known and model not in known:
            self.rt.warn(f"'{arg}' is not in the model list; using it as given")
        self.convo.model = model
        self.rt.note(f"model: {model}")

    def cmd_system(self, arg: str) -> None:
        if not arg:
            self._show(self.convo.system if self.convo.system else "(no system prompt)")
            return
        if arg == "--clear":
            self.convo.system = None
            self.rt.note("system prompt removed")
            return
        self.convo.system = arg
        self.rt.note("system prompt set")

    def cmd_set(self, arg: str) -> None:
        name, _, raw = arg.partition(" ")
        name = name.replace("-", "_").lower()
        raw = raw.strip()
        if not name or not raw:
            raise UsageError("usage: /set PARAM VALUE", hint="parameters: " + ", ".join(P.SPECS))
        value: Any
        if raw.lower() in ("none", "off", "unset"):
            if name not in P.SPECS:
                P.coerce(name, None)  # the one message for an unknown name
            value = () if name == "stop" else None
        elif name == "stop":
            try:
                value = P.coerce(name, shlex.split(raw))
            except ValueError:
                raise UsageError("stop: unbalanced quotes") from None
        else:
            value = P.coerce(name, raw)
        params = P.validate(replace(self.convo.params, **{name: value}), self.convo.dialect)
        self.convo.params = params
        shown = "(not sent)" if value is None or value == () else _format_param(value)
        self.rt.note(f"{name} = {shown}")
        provider = get_provider(self.convo.dialect)
        if name in provider.unsupported_params(params):
            self.rt.warn(f"{name} is not part of the {self.convo.dialect} dialect and is not sent")

    def cmd_params(self, arg: str) -> None:
        width = max(len(n) for n in P.SPECS)
        lines = []
        for name in P.SPECS:
            value = getattr(self.convo.params, name)
            shown = "(not sent)" if value is None or value == () else _format_param(value)
            lines.append(f"{name:<{width}}  {shown}")
        self._show("\n".join(lines))

    def cmd_clear(self, arg: str) -> None:
        self.convo.clear()
        self.log.truncate(self.convo)
        self.rt.note("new conversation (model, system prompt and parameters kept)")

    def cmd_retry(self, arg: str) -> None:
        before = len(self.convo.messages)
        if self.convo.rewind_to_last_user() is None:
            raise UsageError("nothing to retry: no message has been sent")
        if len(self.convo.messages) != before:
            self.log.truncate(self.convo)
        self.send(None)

    def cmd_undo(self, arg: str) -> None:
        dropped = self.convo.undo()
        if not dropped:
            raise UsageError("nothing to undo")
        self.log.truncate(self.convo)
        self.rt.note(f"removed: {first_line(dropped[0].content, 60)}")

    def cmd_edit(self, arg: str) -> None:
        index = self.convo.last_user_index()
        if index is None:
            raise UsageError("nothing to edit: no message has been sent")
        self._edit_from = index
        self._prefill = self.convo.messages[index].content
        if not self._interactive:
            self.rt.note("the next line replaces the last message and its reply")

    def cmd_copy(self, arg: str) -> None:
        last = next(
            (m for m in reversed(self.convo.messages) if m.role == "assistant" and m.content),
            None,
        )
        if last is None:
            raise UsageError("nothing to copy: no reply yet")
        text, what = last.content, "the last reply"
        if arg:
            blocks = code_blocks(last.content)
            if not arg.isdigit() or not 1 <= int(arg) <= len(blocks):
                count = f"{len(blocks)} code block" + ("" if len(blocks) == 1 else "s")
                raise UsageError(f"/copy N: N must be 1 to {len(blocks)} (the reply has {count})")
            text, what = blocks[int(arg) - 1], f"code block {arg}"
        used = copy_to_clipboard(self.rt, text)
        if not used:
            raise UsageError(
                "no way to reach the clipboard",
                hint="install wl-copy, xclip or xsel, or use a terminal that supports OSC 52",
            )
        self.rt.note(f"copied {what} ({len(text):,} characters) via {' and '.join(used)}")

    def cmd_tokens(self, arg: str) -> None:
        c = self.convo
        used = f"{self.tokens:,} tokens used this session"
        if not c.messages:
            self._show(f"the conversation is empty; {used}")
            return
        count = self.client.count_tokens(c.model, tuple(c.messages), c.system)
        self._show(f"{count:,} tokens in the conversation ({c.model}); {used}")

    def cmd_save(self, arg: str) -> None:
        if self.store is None:
            raise UsageError("saving is unavailable: no conversation store in this session")
        if not arg:
            raise UsageError("usage: /save NAME")
        self.store.save_as(self.convo, arg)
        self.rt.note(f"saved as {arg}")

    def cmd_load(self, arg: str) -> None:
        if self.store is None:
            raise UsageError("loading is unavailable: no conversation store in this session")
        if not arg:
            raise UsageError("usage: /load NAME")
        self.convo = self.store.find(arg)
        n = len(self.convo.messages)
        self.rt.note(f"loaded {arg}: {n} message{'s' if n != 1 else ''}, {self.convo.model}")
        self._warn_unsupported()

    def cmd_history(self, arg: str) -> None:
        c = self.convo
        lines = []
        if c.system:
            lines.append(f"system  {first_line(c.system, 70)}")
        names = {"user": "you", "assistant": "model", "tool": "tool", "system": "system"}
        for index, m in enumerate(c.messages, 1):
            text = m.content or ", ".join(f"{t.name}()" for t in m.tool_calls)
            mark = " (interrupted)" if m.interrupted else ""
            lines.append(f"{index:>3} {names[m.role]:<5} {first_line(text, 64)}{mark}")
        self._show("\n".join(lines) if lines else "(the conversation is empty)")

    def cmd_tools(self, arg: str) -> None:
        if self.tools is None or not self.tools.tools:
            self._show("no tools: start the chat with --tools FILE")
            return
        lines = []
        for name, tool in self.tools.tools.items():
            always = " (approved for this session)" if name in self.tools.always else ""
            lines.append(f"{name}{always}: {first_line(tool.spec.description or '-', 60)}")
            lines.append(f"    runs: {first_line(' '.join(tool.argv), 66)}")
        self._show("\n".join(lines))

    def cmd_exit(self, arg: str) -> None:
        raise _Leave


def _format_param(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(repr(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class Command:
    run: Callable[[Repl, str], None]
    args: str
    help: str


# The one table of slash commands: it drives dispatch, /help and completion.
COMMANDS: dict[str, Command] = {
    "help": Command(Repl.cmd_help, "[COMMAND]", "list the commands and keys"),
    "model": Command(Repl.cmd_model, "[ID]", "show the model, or switch to ID (Tab completes)"),
    "system": Command(Repl.cmd_system, "[TEXT|--clear]", "show, set or remove the system prompt"),
    "set": Command(Repl.cmd_set, "PARAM VALUE", "set a sampling parameter (VALUE none: not sent)"),
    "params": Command(Repl.cmd_params, "", "show the sampling parameters"),
    "clear": Command(Repl.cmd_clear, "", "start a new conversation (settings stay)"),
    "retry": Command(Repl.cmd_retry, "", "regenerate the last reply"),
    "undo": Command(Repl.cmd_undo, "", "drop the last exchange"),
    "edit": Command(Repl.cmd_edit, "", "edit the last message; sending it replaces the exchange"),
    "copy": Command(Repl.cmd_copy, "[N]", "copy the last reply, or its Nth code block"),
    "tokens": Command(Repl.cmd_tokens, "", "count the conversation's tokens exactly"),
    "save": Command(Repl.cmd_save, "NAME", "save the conversation as NAME"),
    "load": Command(Repl.cmd_load, "NAME", "load the conversation saved as NAME"),
    "history": Command(Repl.cmd_history, "", "show the conversation so far, briefly"),
    "tools": Command(Repl.cmd_tools, "", "list the tools the model may call (--tools FILE)"),
    "exit": Command(Repl.cmd_exit, "", "leave the chat (Ctrl-D does too)"),
    "quit": Command(Repl.cmd_exit, "", "leave the chat"),
}

KEYS_HELP = """\
Keys: Enter sends · Alt-Enter or Ctrl-J: new line · Ctrl-X Ctrl-E: edit in $EDITOR
      Tab: complete · Ctrl-R: search the history · Right: accept the suggestion
      Ctrl-C: stop the reply, or clear the line · Ctrl-D: leave"""


def default_reader(rt: Runtime, repl: Repl, history: Path | None) -> LineReader:
    """prompt_toolkit when a person is at a terminal; plain lines otherwise."""
    if rt.stdin_tty and (rt.stdout_tty or rt.stderr_tty):
        return PromptReader(
            history=HistoryFile(history, warn=rt.warn) if history is not None else None,
            toolbar=repl.toolbar,
            complete=repl.completions,
        )
    assert rt.stdin is not None
    return PlainReader(rt.stdin, interactive=bool(rt.stdin_tty))


def run(
    rt: Runtime,
    client: Client,
    convo: Conversation,
    *,
    reader: LineReader | None = None,
    plain: bool = False,
    reasoning: ReasoningMode = "auto",
    stream: bool = True,
    log: TurnLog | None = None,
    store: SessionStore | None = None,
    model_ids: Callable[[], list[str]] = _no_models,
    cost: Callable[[str, Usage], float | None] = _no_cost,
    history: Path | None = None,
    tools: ToolSession | None = None,
    aliases: Mapping[str, str] | None = None,
) -> int:
    """Hold a chat until the input ends; returns the exit code."""
    repl = Repl(
        rt,
        client,
        convo,
        plain=plain,
        reasoning=reasoning,
        stream=stream,
        log=log,
        store=store,
        model_ids=model_ids,
        cost=cost,
        tools=tools,
        aliases=aliases,
    )
    return repl.run(reader if reader is not None else default_reader(rt, repl, history))
