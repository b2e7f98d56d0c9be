"""StoreLog: the `TurnLog` that records turns in the conversation store as they happen.

Imports: the standard library and mlchat.store, session, types. No terminal I/O: the one warning
goes through the `warn` callback the command gives it.

    log = StoreLog(store, warn=rt.warn, cost=lambda model, usage: ...)
    convo.add_user(text); log.user(convo, convo.messages[-1])        # once it is sent
    ... run_turn(..., sink=lambda ev: (render(ev), log.progress(convo, reply)))
    convo.add_reply(reply); log.reply(convo, convo.messages[-1], reply, status="ok")
    del convo.messages[-2:]; log.truncate(convo)                     # /undo

Every call makes this process's rows of the saved conversation equal to `convo.messages` (plus
the message being logged), in one transaction: rows it knows (loaded or written) that are no
longer in the conversation are deleted, missing ones are appended. So a write that failed (full
disk, locked database) is caught up by the next one that succeeds, and /undo, /retry and /edit
need nothing but `truncate`. Rows written by another process are never deleted or rewritten:
appends go after them, and a truncation that would delete rows another process wrote after
forks the conversation (a copy of what this process kept, under a new id) and warns. A failed or
interrupted reply with no content is saved as a record (status and error) that is not part of
the conversation.

`progress` checkpoints the reply being streamed at most every `checkpoint_every` seconds, as an
`interrupted` row that `reply` later completes: if the process dies (kill -9, a crash, a closed
terminal), at most that reply's last second is lost, and the row honestly says it was cut short.

A StoreLog never raises (except KeyboardInterrupt): the first failure calls `warn` once, and the
chat goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from mlchat.session import Conversation, Reply, ReplyStatus
from mlchat.store import Entry, Meta, Store, StoreError, Tx
from mlchat.types import Message, Usage

CHECKPOINT_EVERY = 1.0
CostFn = Callable[[str, Usage | None], float | None]


def _meta_of(message: Message) -> Meta:
    return Meta(status="interrupted" if message.interrupted else "ok")


def _models(convo: Conversation, reply: Reply) -> tuple[str, str | None]:
    """The model that answered (the service's word, else the one asked for), and the one asked
    for when it was another."""
    answered = reply.model or convo.model
    return answered, convo.model if answered != convo.model else None


def _is_last(convo: Conversation, message: Message) -> bool:
    return bool(convo.messages) and (convo.messages[-1] is message or convo.messages[-1] == message)


class StoreLog:
    def __init__(
        self,
        store: Store,
        warn: Callable[[str], None],
        *,
        cost: CostFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        checkpoint_every: float = CHECKPOINT_EVERY,
    ) -> None:
        self.store = store
        self._warn = warn
        self._cost = cost
        self._clock = clock
        self._every = checkpoint_every
        self._saved: dict[str, list[Entry]] = {}  # the rows known, by conversation
        self._own: set[int] = set()  # the rows this log wrote: the only ones it ever rewrites
        self._partial: tuple[str, int] | None = None  # (conversation id, row) being checkpointed
        self._next_checkpoint = math.inf
        self._warned = False
        self.failed = False  # some write failed: the saved conversation may be behind

    # -- the TurnLog protocol ------------------------------------------------------------------

    def user(self, convo: Conversation, message: Message) -> None:
        target = list(convo.messages) if _is_last(convo, message) else [*convo.messages, message]
        self._run(lambda: self._sync(convo, target, Meta()))
        self._partial = None
        self._next_checkpoint = self._clock() + self._every

    def reply(
        self,
        convo: Conversation,
        message: Message,
        reply: Reply,
        *,
        status: ReplyStatus,
        error: str | None = None,
    ) -> None:
        model, requested = _models(convo, reply)
        meta = Meta(
            status=status,
            error=error,
            reasoning=reply.reasoning or None,
            usage=reply.usage,
            cost=self._price(convo.model, reply.usage),
            model=model,
            requested_model=requested,
            finish_reason="refusal" if reply.refused else reply.finish_reason,
        )
        if _is_last(convo, message):
            target, record = list(convo.messages), False
        elif message.content or message.tool_calls or reply.has_content:
            target, record = [*convo.messages, message], False
        else:
            # Nothing arrived: a record of the failure, not a message of the conversation.
            target, record = list(convo.messages), True
        self._run(lambda: self._sync(convo, target, meta, record=record))
        self._partial = None
        self._next_checkpoint = math.inf

    def truncate(self, convo: Conversation) -> None:
        self._partial = None
        self._next_checkpoint = math.inf
        if convo.id is None and not convo.messages:
            return
        self._run(lambda: self._sync(convo, list(convo.messages), None))

    # -- checkpoints ---------------------------------------------------------------------------

    def progress(self, convo: Conversation, reply: Reply) -> None:
        """Call on every stream event; writes only when a checkpoint is due."""
        now = self._clock()
        if now < self._next_checkpoint or not reply.has_content:
            return
        # Scheduled before writing, so a slow or failing store is not retried on every token.
        self._next_checkpoint = now + self._every
        message = reply.message(interrupted=True)
        model, requested = _models(convo, reply)
        meta = Meta(
            status="interrupted",
            reasoning=reply.reasoning or None,
            usage=reply.usage,
            model=model,
            requested_model=requested,
        )
        self._run(lambda: self._checkpoint(convo, message, meta))

    def _checkpoint(self, convo: Conversation, message: Message, meta: Meta) -> None:
        partial = self._partial
        if partial is not None and partial[0] == convo.id:
            entries = self._saved.get(partial[0], [])
            with self.store.transaction() as tx:
                if entries and entries[-1].row == partial[1]:
                    tx.touch(convo)
                    if tx.update_message(partial[1], message, meta):
                        entries[-1].message = message
                        return
        self._sync(convo, [*convo.messages, message], meta)
        assert convo.id is not None
        self._partial = (convo.id, self._saved[convo.id][-1].row)

    # -- the one write -------------------------------------------------------------------------

    def _sync(
        self, convo: Conversation, target: list[Message], meta: Meta | None, *, record: bool = False
    ) -> None:
        """Make this process's rows of the saved conversation equal to `target`; the last message
        of `target` (or, with `record`, a failure record appended after it) gets `meta`. Rows
        another process wrote are left alone: appends go after them, and a truncation that
        would cut before one of them forks the conversation instead."""
        forked: tuple[str, str] | None = None
        with self.store.transaction() as tx:
            cid = convo.id
            if cid is None or not tx.exists(cid):
                # New, or deleted meanwhile (`sessions rm` in another terminal): save it whole.
                cid = tx.insert_conversation(convo, cid)
                entries: list[Entry] = []
            else:
                entries = self._known(tx, convo, cid)
                tx.touch(convo)
            kept = [i for i, e in enumerate(entries) if e.message is not None]
            same = 0
            # Messages are immutable and a conversation keeps those it saved, so the saved prefix
            # is almost always the very same objects: `is` first, so that a long chat's turns
            # stay flat (== on every message costs ~1 ms a write at 1,000 messages).
            limit = min(len(kept), len(target))
            while same < limit:
                saved = entries[kept[same]].message
                if saved is not target[same] and saved != target[same]:
                    break
                same += 1
            if same < len(kept):
                cut = kept[same]
                known = {e.row for e in entries}
                if tx.written_after(cid, entries[cut].row, known):
                    # Someone else has written since: their rows follow the ones this would
                    # delete. The conversation stays whole; this one goes on in a copy.
                    old, cid = cid, tx.insert_conversation(convo)
                    forked = (old, cid)
                    copies = []
                    for i in range(same):
                        entry = entries[kept[i]]
                        assert entry.message is not None
                        copies.append(
                            Entry(tx.copy_message(entry.row, cid, entry.message), entry.message)
                        )
                    entries = copies
                    kept = list(range(same))
                    self._own.update(e.row for e in copies)
                else:
                    tx.delete_messages([e.row for e in entries[cut:]])
                    del entries[cut:]
            for i in range(same, len(target)):
                last = i == len(target) - 1 and meta is not None and not record
                row = tx.insert_message(
                    cid, target[i], meta if last and meta else _meta_of(target[i])
                )
                entries.append(Entry(row, target[i]))
                self._own.add(row)
            if meta is not None and not record and same == len(target) and target:
                # The message is already saved (an unchanged checkpoint): complete its row, when
                # it is this process's own.
                row = entries[kept[same - 1]].row
                if row in self._own:
                    tx.update_message(row, target[-1], meta)
            if record and meta is not None:
                empty = Message("assistant", "", interrupted=True)
                row = tx.insert_message(cid, empty, meta)
                entries.append(Entry(row, None))
                self._own.add(row)
        if forked is not None:
            convo.name = None
            convo.seen_rows = frozenset()
            self._warn(
                f"another process has written to conversation {forked[0]} since this chat "
                f"last saved it; it is left whole, and this chat goes on as a new "
                f"conversation {forked[1]}"
            )
        convo.id = cid
        self._saved[cid] = entries

    def _known(self, tx: Tx, convo: Conversation, cid: str) -> list[Entry]:
        """The rows of conversation `cid` this process knows: the ones it wrote, and the ones
        that were there when `convo` was loaded."""
        known = self._saved.get(cid)
        if known is not None:
            return list(known)
        seen = convo.seen_rows if convo.id == cid else frozenset()
        return [e for e in tx.entries(cid) if e.row in seen]

    def _price(self, model: str, usage: Usage | None) -> float | None:
        if self._cost is None or usage is None:
            return None
        try:
            return self._cost(model, usage)
        except Exception:
            return None

    def _run(self, write: Callable[[], None]) -> None:
        try:
            write()
        except Exception as exc:  # a log must never end the chat: warn once, carry on
            self.failed = True
            if not self._warned:
                self._warned = True
                reason = exc.message if isinstance(exc, StoreError) else f"{exc}"
                self._warn(f"{reason}; this conversation is not being saved")
