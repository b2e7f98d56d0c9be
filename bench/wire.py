"""A bare HTTP/1.1 server for the benchmarks that time the wire: it notes, with the bench's own
clock (`time.perf_counter`), the moment each request has arrived whole (headers and body) and
the moment it writes the first content delta of the reply.

tests/emulator.py parses requests with http.server and answers through a stack of Python
frames, which is right for tests and adds its own latency to a timestamp; this server reads the
socket directly, so that "the request is on the wire" is the moment its last byte was read. It
speaks just enough of the OpenAI dialect for `mlchat ask`/`chat` and the floor scripts: any POST
to .../chat/completions gets a chunked SSE stream of one content delta (`TOKEN`), a finish with
usage, and `[DONE]`; `think` seconds pass between the response headers and that delta (a
model's time to first token), so that work a client does while it waits is not counted against
it. Keep-alive connections are served in order, one thread per connection.

Imports: the standard library only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass

TOKEN = "Zebrafinch"


@dataclass
class Arrival:
    """One request: when it had arrived whole, its body size, when the first delta was sent."""

    path: str
    arrived: float
    body_bytes: int
    first_delta: float | None = None


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _event(doc: object) -> bytes:
    return _chunk(b"data: " + json.dumps(doc).encode() + b"\n\n")


class WireServer:
    def __init__(self, *, think: float = 0.0, text: str = TOKEN) -> None:
        self.think = think
        self.text = text
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/api/v7/llm"

    def __enter__(self) -> WireServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()

    def take(self) -> list[Arrival]:
        """The arrivals so far, forgetting them."""
        with self._lock:
            got, self.arrivals = self.arrivals, []
        return got

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(262144)
                        if not data:
                            return
                        buf += data
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    path = lines[0].split(" ")[1] if " " in lines[0] else ""
                    length = 0
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    while len(buf) < length:
                        data = conn.recv(max(262144, length - len(buf)))
                        if not data:
                            return
                        buf += data
                    arrival = Arrival(path, time.perf_counter(), length)
                    buf = buf[length:]
                    with self._lock:
                        self.arrivals.append(arrival)
                    self._answer(conn, arrival)
            except OSError:
                return

    def _answer(self, conn: socket.socket, arrival: Arrival) -> None:
        if not arrival.path.endswith("/chat/completions"):
            body = b'{"error": {"message": "not found"}}'
            conn.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
            return
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        if self.think > 0:
            time.sleep(self.think)
        base = {"id": "c-1", "object": "chat.completion.chunk", "model": "minimax-minimax-m1"}
        delta = {**base, "choices": [{"index": 0, "delta": {"content": self.text}}]}
        arrival.first_delta = time.perf_counter()
        conn.sendall(_event(delta))
        usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
        end = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        conn.sendall(
            _event(end)
            + _event({**base, "choices": [], "usage": usage})
            + _chunk(b"data: [DONE]\n\n")
            + b"0\r\n\r\n"
        )
