"""mlchat.turn: one exchange, the same for `ask` and `chat`: what is saved when, what reaches
stdout, and what an interruption or a failing stdout leaves behind. Against the emulator."""

from __future__ import annotations

import errno
import io
from collections.abc import Iterator
from typing import Any

import pytest

from mlchat.client import Client, RetryPolicy
from mlchat.errors import OutputError
from mlchat.runtime import Runtime
from mlchat.session import Conversation, Reply
from mlchat.turn import Turn
from mlchat.types import Message
from tests.conftest import FAKE_KEY
from tests.emulator import Emulator
from tests.emulator import Reply as Scripted

MODEL = "test-model"


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def user(self, convo: Conversation, message: Message) -> None:
        self.events.append(("user", message.content))

    def reply(
        self,
        convo: Conversation,
        message: Message,
        reply: Reply,
        *,
        status: str,
        error: str | None = None,
    ) -> None:
        self.events.append(("reply", status, message.content))

    def truncate(self, convo: Conversation) -> None:
        self.events.append(("truncate",))

    def progress(self, convo: Conversation, reply: Reply) -> None:
        pass


class Stdout(io.StringIO):
    """A stdout that fails the way it is told to, on a given write."""

    def __init__(self, fail: BaseException | None = None, when: str = "") -> None:
        super().__init__()
        self.fail = fail
        self.when = when

    def write(self, s: str) -> int:
        if self.fail is not None and (not self.when or s == self.when):
            raise self.fail
        return super().write(s)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


def exchange(emulator: Emulator, stdout: io.StringIO, **kwargs: Any) -> tuple[Turn, Log]:
    rt = Runtime(
        env={"TERM": "dumb"},
        stdin=io.BytesIO(b""),
        stdout=stdout,
        stderr=io.StringIO(),
        stdin_tty=False,
        stdout_tty=False,
        stderr_tty=False,
    )
    client = Client(emulator.base_url, FAKE_KEY, retry=RetryPolicy(retries=0))
    log = Log()
    return Turn(rt, client, Conversation(model=MODEL), log, **kwargs), log


def test_the_question_is_saved_before_the_reply(emulator: Emulator) -> None:
    emulator.script(Scripted.chat("hello there"))
    turn, log = exchange(emulator, io.StringIO())
    turn.run("hi")
    assert log.events == [("user", "hi"), ("reply", "ok", "hello there")]
    assert [m.role for m in turn.convo.messages] == ["user", "assistant"]
    assert turn.last is not None and turn.last.text == "hello there"


def test_quiet_draws_nothing_but_keeps_the_reply(emulator: Emulator) -> None:
    emulator.script(Scripted.chat("as JSON later"))
    out = io.StringIO()
    turn, _ = exchange(emulator, out, quiet=True)
    turn.run("hi")
    assert out.getvalue() == ""
    assert [r.text for r in turn.replies] == ["as JSON later"]


def test_a_stdout_that_refuses_writes_is_an_output_error(emulator: Emulator) -> None:
    emulator.script(Scripted.chat("lost words"))
    turn, log = exchange(emulator, Stdout(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OutputError, match="cannot write to stdout: No space left on device"):
        turn.run("hi")
    assert log.events[0] == ("user", "hi")
    assert log.events[-1][0] == "reply"  # what arrived is recorded all the same


def test_ctrl_c_while_the_reply_finishes_is_swallowed(emulator: Emulator) -> None:
    # The reply has arrived whole; a Ctrl-C while its final newline is written must not turn
    # it into an interrupted one (for `ask` as much as for the REPL).
    emulator.script(Scripted.chat("complete"))
    turn, log = exchange(emulator, Stdout(KeyboardInterrupt(), when="\n"))
    turn.run("hi")
    assert log.events[-1] == ("reply", "ok", "complete")
