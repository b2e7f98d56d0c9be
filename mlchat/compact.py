"""`/compact`: the model summarises the older part of a conversation into one message that is
sent in its place from then on. Imports session, types, providers and errors; the client is
handed in. No terminal I/O.

What is summarised is everything before the last `keep` exchanges (an exchange: a user message
and all that answered it), together with any earlier summary. The summary is kept on the
conversation (`Conversation.summary`, replacing its first `Conversation.compacted` messages in
requests); the messages themselves stay in the conversation and in the store.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from mlchat.errors import UsageError
from mlchat.providers import get_provider
from mlchat.session import Conversation
from mlchat.types import ChatRequest, Message, TextDelta

if TYPE_CHECKING:
    from mlchat.client import Client

DEFAULT_KEEP = 2
SUMMARY_TOKENS = 2000  # room for the summary itself, whatever max_tokens the chat uses
INSTRUCTIONS = (
    "You compact conversations. Summarise the conversation below so that it can replace it: "
    "keep every fact, decision, name, number, file and piece of code that later turns may "
    "need, and what the user is trying to do; drop pleasantries and repetition. Write it as "
    "notes in the conversation's language. Answer with the summary only."
)
NAMES = {"user": "User", "assistant": "Assistant", "tool": "Tool result", "system": "System"}


def exchanges(convo: Conversation) -> list[int]:
    """The index of each exchange's user message, among the messages still sent as they are."""
    return [
        i for i in range(convo.compacted, len(convo.messages)) if convo.messages[i].role == "user"
    ]


def cut_point(convo: Conversation, keep: int) -> int:
    """Where the kept exchanges begin: everything before it is summarised. UsageError when
    there is nothing older than the last `keep` exchanges."""
    starts = exchanges(convo)
    cut = starts[-keep] if 0 < keep <= len(starts) else (len(convo.messages) if keep == 0 else 0)
    if cut <= convo.compacted:
        count = f"{len(starts)} exchange" + ("" if len(starts) == 1 else "s")
        raise UsageError(
            f"nothing to compact: the conversation has {count} since the last summary, and "
            f"/compact keeps the last {keep}",
            hint="/compact 0 summarises every exchange; /compact 1 all but the last",
        )
    return cut


def transcript(convo: Conversation, cut: int) -> str:
    lines = []
    if convo.summary:
        lines.append(f"Summary of what came before:\n{convo.summary}")
    for m in convo.messages[convo.compacted : cut]:
        text = m.content
        if m.tool_calls:
            calls = ", ".join(f"{c.name}({c.arguments})" for c in m.tool_calls)
            text = f"{text}\n[calls {calls}]".strip()
        lines.append(f"{NAMES[m.role]}: {text}")
    return "\n\n".join(lines)


def summarise(client: Client, convo: Conversation, cut: int) -> str:
    """The model's summary of `convo` up to `cut` (one request, not streamed, not saved)."""
    params = convo.params
    if params.max_tokens is not None and params.max_tokens < SUMMARY_TOKENS:
        params = replace(params, max_tokens=SUMMARY_TOKENS)
    request = ChatRequest(
        model=convo.model,
        messages=(
            Message(
                "user",
                f"{INSTRUCTIONS}\n\n<conversation>\n{transcript(convo, cut)}\n</conversation>",
            ),
        ),
        system=convo.system,
        params=params,
        stream=False,
    )
    parts: list[str] = []
    with client.chat(get_provider(convo.dialect), request) as events:
        for event in events:
            if isinstance(event, TextDelta):
                parts.append(event.text)
    text = "".join(parts).strip()
    if not text:
        raise UsageError("the model gave an empty summary; nothing was compacted")
    return text


def compact(client: Client, convo: Conversation, keep: int = DEFAULT_KEEP) -> int:
    """Summarise all but the last `keep` exchanges; returns how many messages the summary
    now replaces. The conversation is changed only once the summary has arrived."""
    cut = cut_point(convo, keep)
    summary = summarise(client, convo, cut)
    convo.summary, convo.compacted = summary, cut
    return cut
