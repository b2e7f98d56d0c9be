"""The prompt_toolkit line editor (`PromptReader`): keys, history, completion, the toolbar, and
keeping what is typed while a reply streams. The only home of prompt_toolkit, imported inside the
functions: this module loads it only when a reader is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING, Any

from mlchat.history import HistoryFile

if TYPE_CHECKING:
    from prompt_toolkit.history import History

    from mlchat.repl.complete import Candidate


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
        vi: bool = False,
    ) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.document import Document
        from prompt_toolkit.filters import Condition, has_focus
        from prompt_toolkit.history import InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.layout.processors import TabsProcessor
        from prompt_toolkit.output import create_output
        from prompt_toolkit.styles import Style

        class SlashCompleter(Completer):
            def get_completions(
                self, document: Document, complete_event: Any
            ) -> Iterator[Completion]:
                for text, start, meta in complete(document.text_before_cursor):
                    # An entry that inserts nothing (a hint) still needs something to show.
                    shown = text or "(no model ids)"
                    yield Completion(text, start_position=start, display=shown, display_meta=meta)

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
            # Only slash commands complete: so only while typing one is room kept for the menu
            # (prompt_toolkit reserves 8 lines under the prompt whenever completion may pop up:
            # the blank lines that used to separate every message from the toolbar).
            complete_while_typing=Condition(lambda: self._session.default_buffer.text[:1] == "/"),
            # A pasted tab is drawn as spaces to the next tab stop, not as ^I (it stays a tab).
            input_processors=[TabsProcessor(tabstop=4, char1=" ", char2=" ")],
            bottom_toolbar=lambda: [("class:bottom-toolbar", " " + toolbar() + " ")],
            key_bindings=kb,
            tempfile_suffix=".md",
            enable_suspend=True,
            vi_mode=vi,  # `edit_mode = "vi"` in the config file
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
