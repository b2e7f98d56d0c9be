"""The context window in a chat: whether a message still fits the model's window (refused, with
what to do, before a paid request when it does not), /compact, and `compact_at`'s automatic
compacting. Functions of the chat (`Repl`), kept apart from its loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlchat.errors import MlchatError, UsageError
from mlchat.types import Message

if TYPE_CHECKING:
    from mlchat.repl.loop import Repl


def fits(repl: Repl, text: str | Message | None) -> bool:
    """Whether the conversation with `text` would fit the model's window; if not, the
    message is refused (not sent, not kept) with what to do about it."""
    from mlchat import context
    from mlchat.errors import ContextFull

    c = repl.convo
    try:
        size = repl.window(c.model)
    except Exception:  # an unreadable model cache must not end the chat
        size = None
    if not size:
        return True
    extra = () if text is None else (text if isinstance(text, Message) else Message("user", text),)
    messages = (*c.sent(), *extra)
    try:
        context.ensure_fits(
            c.model,
            messages,
            c.system,
            size,
            reply_tokens=c.params.max_tokens,
            count=lambda: repl.client.count_tokens(c.model, messages, c.system),
            hint="/compact summarises the older exchanges, /undo drops the last one, "
            "/clear starts afresh",
        )
    except ContextFull as error:
        repl.fail(error)
        return False
    return True


def compact(repl: Repl, keep: int) -> None:
    """Summarise all but the last `keep` exchanges (mlchat.compact); the summary is saved
    with the conversation, whose messages all stay."""
    from mlchat.compact import compact

    replaced = compact(repl.client, repl.convo, keep)
    repl.log.truncate(repl.convo)  # no message changed: this saves the summary
    repl.context_tokens = None  # known again from the next reply's usage
    repl.rt.note(
        f"compacted {replaced} messages into a summary; they stay in the saved conversation"
    )


def auto_compact(repl: Repl) -> None:
    if repl.compact_at is None or not repl.context_tokens:
        return
    size = repl.window_quietly()
    if not size or repl.context_tokens < repl.compact_at * size:
        return
    from mlchat.compact import DEFAULT_KEEP, cut_point

    try:
        cut_point(repl.convo, DEFAULT_KEEP)
    except UsageError:
        return  # too few exchanges to summarise: nothing to do yet
    share = repl.context_tokens / size
    repl.rt.note(
        f"mlchat: the conversation is at {share:.0%} of the context window "
        f"(compact_at = {repl.compact_at:g}): compacting"
    )
    try:
        compact(repl, DEFAULT_KEEP)
    except MlchatError as error:
        repl.fail(error, hint="the conversation is unchanged; /compact tries again")
