"""The editable line of `mlchat cmd` (`CommandLine`): the suggested command pre-filled and
highlighted as shell; Enter runs the line as edited, Alt-D describes it, Alt-R revises it,
Alt-C copies it, Ctrl-C (or Ctrl-D) cancels. A home of prompt_toolkit, imported inside the
functions: this module loads it only when a line is made.

The keys are Alt chords because every plain key edits the line. Esc then the letter works too
(a terminal without a Meta key sends that). The toolbar lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

    from mlchat.shellmode import Action

KEYS = "Enter: run · Alt-D: describe · Alt-R: revise · Alt-C: copy · Ctrl-C: cancel"


class CommandLine:
    """`input` and `output` default to the terminal; tests pass a pipe input and DummyOutput."""

    def __init__(self, *, input: Any = None, output: Any = None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
        from prompt_toolkit.lexers import PygmentsLexer
        from prompt_toolkit.output import create_output
        from prompt_toolkit.styles import Style

        kb = KeyBindings()

        def choose(action: Action) -> Any:
            def handler(event: KeyPressEvent) -> None:
                event.app.exit(result=(action, event.current_buffer.text))

            return handler

        kb.add("enter")(choose("run"))
        for key, action in (("d", "describe"), ("r", "revise"), ("c", "copy")):
            kb.add("escape", key)(choose(action))  # type: ignore[arg-type]
            kb.add("escape", key.upper())(choose(action))  # type: ignore[arg-type]

        @kb.add("escape", "enter")
        @kb.add("c-j")
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.newline(copy_margin=False)

        self._input = input
        self._output = output if output is not None else create_output(always_prefer_tty=True)
        self._line: PromptSession[tuple[Action, str]] = PromptSession(
            message=[("class:prompt", "$ ")],
            multiline=True,  # Enter is bound above; a multi-line command stays one
            lexer=PygmentsLexer.from_filename("command.sh", sync_from_start=True),
            bottom_toolbar=lambda: [("class:bottom-toolbar", " " + KEYS + " ")],
            key_bindings=kb,
            mouse_support=False,
            style=Style.from_dict({"prompt": "bold"}),
            input=input,
            output=self._output,
        )
        self._ask: PromptSession[str] | None = None

    def edit(self, command: str) -> tuple[Action, str]:
        return self._line.prompt(default=command)

    def follow_up(self) -> str | None:
        """The change a revision should make, typed on a line of its own; None for none."""
        from prompt_toolkit import PromptSession

        if self._ask is None:
            self._ask = PromptSession(
                message=[("class:prompt", "revise: ")],
                bottom_toolbar=" Enter: ask for a new command · Ctrl-C: back to the command ",
                input=self._input,
                output=self._output,
            )
        try:
            text = self._ask.prompt()
        except (KeyboardInterrupt, EOFError):
            return None
        return text.strip() or None
