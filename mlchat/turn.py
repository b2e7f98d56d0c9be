"""One exchange with the model, for `ask` and `chat` alike (`Turn`): the request, the user's
message saved as soon as it has left, the rounds of tool calls, a renderer per reply, the
checkpoints while it streams, and the rules for what an interruption leaves behind.

The rules, the same for every caller:

- The question is saved as soon as the request has left (Client.chat's `sent`: the store's
  work is done while the model thinks, not before the request), and in any case before the
  first event of the reply, or when the request fails or is interrupted: a request that never
  returns still leaves it. Each reply and tool result is saved as soon as it exists
  (toolloop.run_rounds), and while a reply streams it is checkpointed (TurnLog.progress), so
  kill -9 loses at most a second.
- Writes to stdout are guarded (`stdout_writes`): a stdout that refuses them (disk full, I/O
  error) is an OutputError, which ends the command; a closed pipe stays BrokenPipeError.
- Every renderer is finished, whatever ended the reply, and a second Ctrl-C while it finishes is
  swallowed: the cursor is shown again and the line ended before the first one is reported.
- An error or Ctrl-C propagates to the caller with the reply so far kept in the conversation
  (`replies` and `results` hold what arrived); the caller decides what it means: `ask` exits,
  the REPL says so and reads the next line.

What the caller prints around the turn (JSON, a structured document, usage, a blank line before
the next prompt) stays with the caller. Imports providers, toolloop, session, ui; no typer, no
prompt_toolkit, no httpx (the client is handed in).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any

from mlchat.errors import OutputError
from mlchat.providers import get_provider
from mlchat.runtime import Runtime
from mlchat.session import Conversation, Reply, TurnLog
from mlchat.toolloop import ToolSession, run_rounds
from mlchat.types import (
    ChatRequest,
    Message,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from mlchat.ui.render import NullRenderer, ReasoningMode, Renderer, make_renderer
from mlchat.ui.spinner import Spinner
from mlchat.ui.toolcalls import show_call, show_result, show_server_tool

if TYPE_CHECKING:
    from mlchat.client import Client
    from mlchat.tools import ToolResult


@contextmanager
def stdout_writes() -> Iterator[None]:
    """Mark writes to stdout, so that their failure is reported as such. A closed pipe (EPIPE)
    passes through untouched: it is the reader's choice, not an error."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            raise
        raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from None


class Turn:
    """One exchange in `convo`: `run(text)` sends `text` (a user message with attachments, or
    plain text; with None, the conversation as it stands: /retry) and returns when the model
    has answered without calling a tool.

    `quiet` draws nothing (`--json`, structured output: the caller prints one document at the
    end); `on_stderr` draws the reply on stderr instead of stdout (`ask -x`); `replying` is
    held while each reply streams (the REPL keeps typed-ahead keys then, and not while a tool
    call waits for approval)."""

    def __init__(
        self,
        rt: Runtime,
        client: Client,
        convo: Conversation,
        log: TurnLog,
        *,
        stream: bool = True,
        tools: ToolSession | None = None,
        plain: bool = False,
        reasoning: ReasoningMode = "auto",
        quiet: bool = False,
        request_options: Mapping[str, Any] | None = None,
        extra_tools: tuple[ToolSpec, ...] = (),
        replying: Callable[[], AbstractContextManager[None]] = nullcontext,
        on_stderr: bool = False,
        length_hint: str | None = None,
        numbered: bool = False,
    ) -> None:
        self.rt = rt
        self.client = client
        self.convo = convo
        self.log = log
        self.stream = stream
        self.tools = tools
        self.plain = plain
        self.reasoning: ReasoningMode = reasoning
        self.quiet = quiet
        self.request_options = dict(request_options or {})
        self.extra_tools = extra_tools
        self.replying = replying
        self.on_stderr = on_stderr  # the reply is drawn on stderr (`ask -x`: stdout gets the code)
        # What to do about a reply cut off by the length limit (said after the warning).
        self.length_hint = length_hint
        self.numbered = numbered  # code blocks show their numbers (the chat's /copy N, /run N)
        self.replies: list[Reply] = []  # every round's reply, kept even when a later one fails
        self.results: list[ToolResult] = []
        self._renderers: list[Renderer] = []
        self._spinner = Spinner(None)

    def run(self, text: str | Message | None) -> None:
        convo = self.convo
        unsaved: list[Message] = []
        if text is not None:
            convo.add_user(text)
            unsaved.append(convo.messages[-1])

        def save_question() -> None:
            while unsaved:
                self.log.user(convo, unsaved.pop())

        def sent() -> None:
            # While the model thinks: the question is saved, and the renderer is made ready.
            save_question()
            self._prepare()

        provider = get_provider(convo.dialect)
        convo.tools = (self.tools.specs() if self.tools else ()) + self.extra_tools

        @contextmanager
        def open_stream(req: ChatRequest) -> Iterator[Iterator[StreamEvent]]:
            # A sign of waiting on a terminal's stderr until the first content arrives (_sink).
            self._spinner = Spinner.for_terminal(
                self.rt.err, env=self.rt.env, tty=bool(self.rt.stderr_tty)
            )
            self._spinner.start()
            self.rt.transient = self._spinner
            try:
                with (
                    self.replying(),
                    self.client.chat(provider, req, sent=sent) as events,
                ):
                    yield events
            finally:
                self._spinner.stop()
                self.rt.transient = None
                save_question()  # the request failed, or was interrupted, before it left

        try:
            run_rounds(
                open_stream,
                convo,
                stream=self.stream,
                sink=self._sink,
                finish=self._finish,
                tools=self.tools,
                on_call=lambda call: show_call(self.rt, call),
                on_result=self._on_result,
                log=self.log,
                request_options=self.request_options,
                scrub=self.rt.scrub,
            )
        finally:
            save_question()  # nothing was sent at all
        if any(r.usage is not None and r.usage.rejected for r in self.replies):
            self.rt.warn(
                "the service reported a token count that is no sane number; it is left out "
                "of the usage and the cost"
            )
        last = self.last
        if last is not None and last.finish_reason == "length":
            hint = f"; {self.length_hint}" if self.length_hint else ""
            self.rt.warn(f"the reply stopped at the max_tokens limit: it is cut off{hint}")
        elif last is not None and last.finish_reason == "content_filter":
            self.rt.warn("the service's content filter stopped the reply: it may be cut off")

    @property
    def last(self) -> Reply | None:
        return self.replies[-1] if self.replies else None

    def _renderer(self) -> Renderer:
        if self.quiet:
            return NullRenderer()
        rt = self.rt
        return make_renderer(
            out=rt.err if self.on_stderr else rt.out,
            err=rt.err,
            env=rt.env,
            stdout_tty=bool(rt.stderr_tty if self.on_stderr else rt.stdout_tty),
            stderr_tty=bool(rt.stderr_tty),
            plain=self.plain,
            reasoning=self.reasoning,
            clock=rt.clock,
            numbered=self.numbered,
        )

    def _current(self) -> Renderer:
        """The renderer of the reply being received, made when first needed: after the request
        has left (`_prepare`), or at the reply's first event."""
        if not self._renderers:
            self._renderers.append(self._renderer())
        return self._renderers[0]

    def _prepare(self) -> None:
        """The renderer for the reply to come, with its heavy imports done while the model
        thinks, so the first token is drawn as soon as it arrives. Drawing nothing, it may not
        fail the request: a renderer that cannot prepare fails, if at all, when it draws."""
        with suppress(Exception):
            self._current().prepare()

    def _sink(self, reply: Reply) -> Callable[[StreamEvent], None]:
        self.replies.append(reply)
        self._renderers.clear()

        def feed(ev: StreamEvent) -> None:
            if isinstance(ev, TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta):
                self._spinner.stop()  # before anything is drawn
            with stdout_writes():
                self._current().feed(ev)
            self.log.progress(self.convo, reply)  # a throttled checkpoint

        return feed

    def _finish(self) -> None:
        # Whatever happened, the renderer ends its line and clears any live region.
        with suppress(KeyboardInterrupt), stdout_writes():
            for renderer in self._renderers:
                renderer.finish()
        self._renderers.clear()
        # Tools the service ran itself, one line each, after the reply's drawing so that a live
        # display is never cut into.
        if not self.quiet and self.replies:
            for tool in self.replies[-1].server_tools:
                show_server_tool(self.rt, tool)

    def _on_result(self, result: ToolResult) -> None:
        self.results.append(result)
        show_result(self.rt, result)
