"""/continue: ask the model to go on from where its last reply stopped, and join the two parts into
one reply, in the conversation and in the store. The instruction sent is never saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlchat.errors import MlchatError, OutputError, UsageError
from mlchat.session import NullLog, ReplyStatus
from mlchat.signals import Terminated
from mlchat.types import Message

if TYPE_CHECKING:
    from mlchat.repl.loop import Repl

# What /continue sends (never saved): the reply it gets is joined to the last one.
CONTINUE_PROMPT = (
    "Your last reply was cut off. Continue exactly where it stopped, without repeating "
    "anything and without any preamble."
)


def continue_reply(repl: Repl) -> None:
    """/continue: ask the model to go on from where its last reply stopped, and join the two
    parts into one reply, in the conversation and the store."""
    convo = repl.convo
    last = convo.messages[-1] if convo.messages else None
    if last is None or last.role != "assistant" or not last.content:
        raise UsageError("nothing to continue: the last message is not a reply with text")
    keep = len(convo.messages)
    convo.messages.append(Message("user", CONTINUE_PROMPT))
    # The instruction and the second part are never logged as such: only the joined reply.
    turn = repl.new_turn(NullLog(), tools=None, length_hint="/continue asks for more")
    interrupted = False
    error: MlchatError | None = None
    signal: Terminated | None = None
    try:
        turn.run(None)
    except OutputError:
        del convo.messages[keep:]
        raise
    except Terminated as exc:
        interrupted, signal = True, exc
    except KeyboardInterrupt:
        interrupted = True
    except MlchatError as exc:
        error = exc
    added = convo.messages[keep + 1 :]
    del convo.messages[keep:]
    for reply in turn.replies:
        repl.count(reply.usage)
    more = "".join(m.content for m in added if m.role == "assistant")
    final = turn.last
    if more and final is not None:
        cut = interrupted or error is not None or not final.finished
        joined = Message(
            "assistant", last.content + more, tool_calls=last.tool_calls, interrupted=cut
        )
        convo.messages[-1] = joined
        status: ReplyStatus = "interrupted" if cut else "ok"
        repl.log.reply(convo, joined, final, status=status)
    if signal is not None:
        raise signal
    if interrupted:
        repl.rt.note(
            "(interrupted: what arrived is joined to the reply)"
            if more
            else "(interrupted before any more arrived)"
        )
        if not repl.interactive:
            repl.stop = True
    elif error is not None:
        repl.fail(error, hint=error.hint)
    if repl.rt.stdout_tty:
        repl.rt.out.write("\n")
        repl.rt.out.flush()
