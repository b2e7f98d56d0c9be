"""Incremental Server-Sent Events decoder. Pure: imports the standard library and mlchat.errors.

Follows the WHATWG "event stream interpretation" rules on bytes, so it is correct whatever the
chunking of the transport: lines end in LF, CRLF or CR (a CR at the end of a chunk waits for the
next one to see whether an LF follows); comment lines start with ':' (ModelsLab relays OpenRouter's
`: OPENROUTER PROCESSING` keep-alives); `data:` lines of one event are joined with LF; `event:`,
`id:` and `retry:` are kept; a blank line dispatches. Lines are decoded as UTF-8 only once they are
complete, so a multibyte character split across reads is never mangled.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlchat.errors import ProtocolError

# A single event larger than this is refused: a server that never sends a blank line must not
# make us buffer without bound.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEError(ProtocolError):
    """The byte stream is not a usable event stream (an event over the size limit): a protocol
    error like any other reply we cannot read, so it can never escape as an untyped one."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes as they arrive; get back the events they complete. Comment lines (`:` keep-
    alives) are dropped."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buf = bytearray()
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_size = 0
        self._started = False
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf
        buf += chunk
        if not self._started and buf:
            # A UTF-8 byte order mark may open the stream; it is not part of the first field.
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(bytes(buf)):
                return []
            if buf.startswith(b"\xef\xbb\xbf"):
                del buf[:3]
            self._started = True
        events: list[SSEEvent] = []
        start = 0
        n = len(buf)
        while start < n:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, lf if lf != -1 else n)
            if cr != -1:
                if cr + 1 == n:
                    break  # a CR at the very end: wait to see whether an LF follows
                end = cr
                nxt = cr + 2 if buf[cr + 1] == 0x0A else cr + 1
            elif lf != -1:
                end, nxt = lf, lf + 1
            else:
                break
            self._line(bytes(buf[start:end]), events)
            start = nxt
        del buf[:start]
        if len(buf) + self._pending_size > self._max:
            raise SSEError(f"an event is larger than {self._max // (1024 * 1024)} MiB")
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream. A final event whose blank line never came is dispatched if its last line
        was complete (some servers end with `data: [DONE]\\n`); a partial last line is dropped."""
        events: list[SSEEvent] = []
        if self._buf.endswith(b"\r"):
            self._line(bytes(self._buf[:-1]), events)
        self._buf.clear()
        self._dispatch(events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        if raw[0] == 0x3A:  # ':' comment
            return
        line = raw.decode("utf-8", errors="replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._pending_size += len(raw)
            if self._pending_size > self._max:
                raise SSEError(f"an event is larger than {self._max // (1024 * 1024)} MiB")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 12:
            # ASCII digits only, as the spec says (str.isdigit also takes "²" and "٣"), and of a
            # sane length: no 5,000-digit int().
            self._retry = int(value)
        # Any other field name is ignored, as the spec requires.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(
                SSEEvent(
                    data="\n".join(self._data),
                    event=self._event or "message",
                    id=self._id,
                    retry=self._retry,
                )
            )
        self._data = []
        self._event = ""
        self._retry = None
        self._pending_size = 0
