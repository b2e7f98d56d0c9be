"""mlchat.sse.SSEDecoder: transcripts under every chunking, line endings, fields and close()."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence

import pytest

from mlchat.sse import SSEDecoder, SSEError, SSEEvent


def _j(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# -- recorded transcripts ----------------------------------------------------------------------
# Each frame is (comment or None, event name or None, data lines); the expected events are built
# from the same table, the wire bytes by `render` with a chosen line ending.

Frame = tuple[str | None, str | None, Sequence[str]]

OPENAI_FRAMES: list[Frame] = [
    ("OPENROUTER PROCESSING", None, []),
    (
        None,
        None,
        [
            _j(
                {
                    "id": "gen-1",
                    "object": "chat.completion.chunk",
                    "created": 1771658583,
                    "model": "minimax-minimax-m1",
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                }
            )
        ],
    ),
    ("OPENROUTER PROCESSING", None, []),
    (None, None, [_j({"choices": [{"index": 0, "delta": {"content": "héllo "}}]})]),
    (None, None, [_j({"choices": [{"index": 0, "delta": {"content": "世界 🎉"}}]})]),
    (
        None,
        None,
        [
            _j(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_1",
                                        "type": "function",
                                        "function": {"name": "get_weather", "arguments": ""},
                                    }
                                ]
                            },
                        }
                    ]
                }
            )
        ],
    ),
    (
        None,
        None,
        [
            _j(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {"index": 0, "function": {"arguments": '{"city": "Zürich"'}}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
    ),
    (
        None,
        None,
        [
            _j(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                            "finish_reason": "tool_calls",
                        }
                    ]
                }
            )
        ],
    ),
    (
        None,
        None,
        [
            _j(
                {
                    "choices": [],
                    "usage": {"prompt_tokens": 17, "completion_tokens": 10, "total_tokens": 27},
                }
            )
        ],
    ),
    (None, None, ["[DONE]"]),
]

ANTHROPIC_FRAMES: list[Frame] = [
    (
        None,
        "message_start",
        [
            _j(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": "minimax-minimax-m1",
                        "usage": {"input_tokens": 15, "output_tokens": 1},
                    },
                }
            )
        ],
    ),
    (None, "ping", [_j({"type": "ping"})]),
    (
        None,
        "content_block_start",
        [_j({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}})],
    ),
    (
        None,
        "content_block_delta",
        [
            _j(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "Hmm… ünïcödé"},
                }
            )
        ],
    ),
    (None, "content_block_stop", [_j({"type": "content_block_stop", "index": 0})]),
    (
        None,
        "content_block_start",
        [
            _j(
                {
                    "type": "content_block_start",
                    "index": 1,
                    "content_block": {"type": "text", "text": ""},
                }
            )
        ],
    ),
    (
        None,
        "content_block_delta",
        [
            _j(
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "text_delta", "text": "héllo 世界 🎉"},
                }
            )
        ],
    ),
    (None, "content_block_stop", [_j({"type": "content_block_stop", "index": 1})]),
    (
        None,
        "content_block_start",
        [
            _j(
                {
                    "type": "content_block_start",
                    "index": 2,
                    "content_block": {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {},
                    },
                }
            )
        ],
    ),
    (
        None,
        "content_block_delta",
        [
            _j(
                {
                    "type": "content_block_delta",
                    "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": '{"city": "Zür'},
                }
            )
        ],
    ),
    (
        None,
        "content_block_delta",
        [
            _j(
                {
                    "type": "content_block_delta",
                    "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": 'ich"}'},
                }
            )
        ],
    ),
    (None, "content_block_stop", [_j({"type": "content_block_stop", "index": 2})]),
    (
        None,
        "message_delta",
        [
            _j(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": 30},
                }
            )
        ],
    ),
    (None, "message_stop", [_j({"type": "message_stop"})]),
]

# A frame with several data lines, an id and a retry field, to cover the joins under chunking.
FIELDS_FRAMES: list[Frame] = [
    ("keep-alive", None, []),
    (None, "update", ["first line", "", "third line — ✓"]),
    (None, None, ["x"]),
]


def render(frames: Sequence[Frame], eol: str) -> bytes:
    out: list[str] = []
    for comment, event, data in frames:
        if comment is not None:
            out.append(f": {comment}{eol}")
        if event is not None:
            out.append(f"event: {event}{eol}")
        out.extend(f"data: {line}{eol}" for line in data)
        out.append(eol)
    return "".join(out).encode()


def expected(frames: Sequence[Frame]) -> list[SSEEvent]:
    return [SSEEvent(data="\n".join(d), event=e or "message") for _c, e, d in frames if d]


def decode(chunks: Iterable[bytes], *, close: bool = True) -> list[SSEEvent]:
    dec = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(dec.feed(chunk))
    if close:
        events.extend(dec.close())
    return events


TRANSCRIPTS = {
    "openai": OPENAI_FRAMES,
    "anthropic": ANTHROPIC_FRAMES,
    "fields": FIELDS_FRAMES,
}
EOLS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


@pytest.fixture(params=sorted(TRANSCRIPTS), ids=str)
def transcript(request: pytest.FixtureRequest) -> list[Frame]:
    return TRANSCRIPTS[request.param]


@pytest.fixture(params=sorted(EOLS), ids=str)
def eol(request: pytest.FixtureRequest) -> str:
    return EOLS[request.param]


def test_transcripts_have_multibyte_text() -> None:
    raw = render(OPENAI_FRAMES, "\n")
    assert "世界 🎉".encode() in raw
    assert b": OPENROUTER PROCESSING\n" in raw
    assert b'"choices":[]' in raw


def test_whole(transcript: list[Frame], eol: str) -> None:
    assert decode([render(transcript, eol)]) == expected(transcript)


def test_byte_by_byte(transcript: list[Frame], eol: str) -> None:
    raw = render(transcript, eol)
    assert decode(raw[i : i + 1] for i in range(len(raw))) == expected(transcript)


def test_every_two_piece_split(transcript: list[Frame], eol: str) -> None:
    raw = render(transcript, eol)
    want = expected(transcript)
    for i in range(len(raw) + 1):
        assert decode([raw[:i], raw[i:]]) == want, f"split at {i}"


def test_three_piece_splits(transcript: list[Frame], eol: str) -> None:
    raw = render(transcript, eol)
    want = expected(transcript)
    rng = random.Random(1234)
    # Every pair of offsets around line endings, plus a random sample of the rest.
    ends = [i for i, b in enumerate(raw) if b in b"\r\n"]
    pairs = {(a, b) for a in ends[:40] for b in ends[:40] if a < b}
    pairs |= {(a + 1, b + 1) for a, b in list(pairs)[:200]}
    for _ in range(400):
        a, b = sorted(rng.sample(range(len(raw) + 1), 2))
        pairs.add((a, b))
    for a, b in sorted(pairs):
        assert decode([raw[:a], raw[a:b], raw[b:]]) == want, f"split at {a}, {b}"


def test_events_dispatch_without_close_for_lf_and_crlf(transcript: list[Frame]) -> None:
    # With LF or CRLF endings the blank line completes each event: nothing waits for close().
    for eol in ("\n", "\r\n"):
        assert decode([render(transcript, eol)], close=False) == expected(transcript)


def test_cr_at_chunk_end_then_lf_is_one_line_ending() -> None:
    # If the CR and LF were taken as two line endings, the empty line between them would
    # dispatch "a" and "b" as two events.
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\ndata: b\r") == []
    assert dec.feed(b"\n\r") == []
    assert dec.feed(b"\n") == [SSEEvent("a\nb")]
    assert dec.close() == []


def test_cr_at_chunk_end_then_cr_is_two_line_endings() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    # The second CR ends the blank line; it waits only to see whether an LF follows it.
    assert dec.feed(b"\r") == []
    assert dec.feed(b"data: b\n\n") == [SSEEvent("a"), SSEEvent("b")]


def test_mixed_line_endings() -> None:
    raw = b"data: 1\r\ndata: 2\rdata: 3\n\r\nevent: e\rdata: 4\r\r: c\n\n"
    assert decode([raw]) == [SSEEvent("1\n2\n3"), SSEEvent("4", event="e")]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        pytest.param(b": just a comment\n\n", [], id="comment-only"),
        pytest.param(b":\n\n", [], id="empty-comment"),
        pytest.param(
            b"data: x\n: in the middle\ndata: y\n\n", [SSEEvent("x\ny")], id="comment-mid"
        ),
        pytest.param(b"data: a\ndata: b\ndata: c\n\n", [SSEEvent("a\nb\nc")], id="multi-line"),
        pytest.param(b"data: a\ndata:\ndata: c\n\n", [SSEEvent("a\n\nc")], id="empty-data-line"),
        pytest.param(b"data:x\n\n", [SSEEvent("x")], id="no-space"),
        pytest.param(b"data:  x \n\n", [SSEEvent(" x ")], id="one-space-stripped"),
        pytest.param(b"data: a:b: c\n\n", [SSEEvent("a:b: c")], id="colons-in-value"),
        pytest.param(b"data\n\n", [SSEEvent("")], id="field-without-colon"),
        pytest.param(b"data\ndata\n\n", [SSEEvent("\n")], id="two-fields-without-colon"),
        pytest.param(b"event: update\ndata: x\n\n", [SSEEvent("x", event="update")], id="event"),
        pytest.param(b"event:\ndata: x\n\n", [SSEEvent("x")], id="empty-event-is-message"),
        pytest.param(
            b"event: a\n\ndata: x\n\n", [SSEEvent("x")], id="event-without-data-not-dispatched"
        ),
        pytest.param(
            b"event: a\ndata: 1\n\ndata: 2\n\n",
            [SSEEvent("1", event="a"), SSEEvent("2")],
            id="event-name-resets",
        ),
        pytest.param(b"id: 7\ndata: x\n\n", [SSEEvent("x", id="7")], id="id"),
        pytest.param(
            b"id: 7\ndata: x\n\ndata: y\n\n",
            [SSEEvent("x", id="7"), SSEEvent("y", id="7")],
            id="id-persists",
        ),
        pytest.param(
            b"id: 7\ndata: x\n\nid\ndata: y\n\n",
            [SSEEvent("x", id="7"), SSEEvent("y", id="")],
            id="empty-id-resets",
        ),
        pytest.param(b"id: a\0b\ndata: x\n\n", [SSEEvent("x")], id="id-with-nul-ignored"),
        pytest.param(b"retry: 3000\ndata: x\n\n", [SSEEvent("x", retry=3000)], id="retry"),
        pytest.param(b"retry: 3s\ndata: x\n\n", [SSEEvent("x")], id="retry-not-digits"),
        pytest.param(
            b"retry: 5\ndata: x\n\ndata: y\n\n",
            [SSEEvent("x", retry=5), SSEEvent("y")],
            id="retry-per-event",
        ),
        pytest.param(b"foo: bar\ndata: x\nDATA: y\n\n", [SSEEvent("x")], id="unknown-fields"),
        pytest.param(b" data: x\n\n", [], id="leading-space-is-another-field"),
        pytest.param(b"\n\n\ndata: x\n\n\n\n", [SSEEvent("x")], id="extra-blank-lines"),
        pytest.param(b"data: \xff\xfe\n\n", [SSEEvent("\ufffd\ufffd")], id="invalid-utf8"),
    ],
)
def test_fields(raw: bytes, want: list[SSEEvent]) -> None:
    assert decode([raw]) == want
    assert decode(raw[i : i + 1] for i in range(len(raw))) == want


def test_comments_are_dropped_wherever_they_fall() -> None:
    raw = b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: x\n: mid\ndata: y\n\n:"
    assert decode([raw]) == [SSEEvent("x\ny")]
    assert decode(raw[i : i + 1] for i in range(len(raw))) == [SSEEvent("x\ny")]


BOM = b"\xef\xbb\xbf"


def test_bom_at_start_is_dropped() -> None:
    raw = BOM + b"data: x\n\ndata: y\n\n"
    want = [SSEEvent("x"), SSEEvent("y")]
    for i in range(len(raw) + 1):
        assert decode([raw[:i], raw[i:]]) == want, f"split at {i}"
    assert decode(raw[i : i + 1] for i in range(len(raw))) == want
    # Split inside the BOM into three pieces.
    assert decode([BOM[:1], BOM[1:2], BOM[2:] + b"data: x\n\ndata: y\n\n"]) == want


def test_bom_then_empty_chunks() -> None:
    assert decode([b"", BOM[:2], b"", BOM[2:], b"", b"data: x\n\n"]) == [SSEEvent("x")]


def test_only_the_first_bom_is_dropped() -> None:
    # A second BOM is part of the field name, so that line is an unknown field.
    assert decode([BOM + b"data: x\n\n" + BOM + b"data: y\n\n"]) == [SSEEvent("x")]
    assert decode([BOM + BOM + b"data: x\n\n"]) == []


def test_bytes_that_only_look_like_a_bom_start_are_kept() -> None:
    # U+FEFE encodes as EF BB BE: the first two bytes match the BOM, the third does not.
    raw = "\ufefe: x\ndata: é\n\n".encode()
    assert decode([raw[:1], raw[1:2], raw[2:]]) == [SSEEvent("é")]


@pytest.mark.parametrize(
    ("chunks", "want"),
    [
        pytest.param([b"data: x\n"], [SSEEvent("x")], id="complete-line-no-blank"),
        pytest.param([b"data: [DONE]\n"], [SSEEvent("[DONE]")], id="done-no-blank"),
        pytest.param([b"data: x\r\n"], [SSEEvent("x")], id="crlf-no-blank"),
        pytest.param([b"data: x\r"], [SSEEvent("x")], id="cr-at-end"),
        pytest.param([b"data: x"], [], id="partial-line-dropped"),
        pytest.param([b"data: x\ndata: y"], [SSEEvent("x")], id="partial-second-line-dropped"),
        pytest.param([b"data: x\n\ndata: y"], [], id="partial-after-dispatch"),
        pytest.param([b"event: e\nid: 3\ndata: x\n"], [SSEEvent("x", "e", "3")], id="fields"),
        pytest.param([b": only a comment\n"], [], id="comment"),
        pytest.param([b""], [], id="empty"),
        pytest.param([], [], id="nothing"),
    ],
)
def test_close(chunks: list[bytes], want: list[SSEEvent]) -> None:
    dec = SSEDecoder()
    for chunk in chunks:
        dec.feed(chunk)
    assert dec.close() == want
    assert dec.close() == []
    assert dec.feed(b"\n\n") == []  # nothing of the stream is left to dispatch


def test_close_after_complete_event_returns_nothing() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: x\n\n") == [SSEEvent("x")]
    assert dec.close() == []


def test_oversized_single_line_without_newline() -> None:
    dec = SSEDecoder(max_event_bytes=100)
    dec.feed(b"data: " + b"x" * 90)
    with pytest.raises(SSEError):
        dec.feed(b"x" * 20)


def test_oversized_event_of_many_lines() -> None:
    dec = SSEDecoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        dec.feed(b"".join(b"data: " + b"x" * 20 + b"\n" for _ in range(6)))


def test_oversized_event_fed_line_by_line() -> None:
    dec = SSEDecoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        for _ in range(10):
            dec.feed(b"data: " + b"x" * 20 + b"\n")


def test_size_limit_is_per_event() -> None:
    dec = SSEDecoder(max_event_bytes=100)
    events: list[SSEEvent] = []
    for _ in range(50):
        events += dec.feed(b"data: " + b"x" * 60 + b"\n\n")
    assert len(events) == 50
    # Comments do not accumulate towards the limit either.
    for _ in range(50):
        assert dec.feed(b": " + b"c" * 60 + b"\n") == []


def test_default_limit_is_large() -> None:
    big = "y" * (1024 * 1024)
    assert decode([f"data: {big}\n\n".encode()]) == [SSEEvent(big)]
