"""Raw socket servers on 127.0.0.1 for fault injection (standard library only).

Where the emulator speaks proper HTTP, these speak exactly the bytes a test scripts, so a test can
send what no well-behaved server would: a response cut at any byte, one byte at a time, nothing at
all, or a TLS certificate nobody trusts.

* ``RawServer(handler, tls=False)``: accepts connections and runs ``handler(conn)`` for each one
  in its own thread; ``conn`` is a ``Conn`` (read the request, write bytes, stall, close).
  Every request read through ``conn.read_request()`` is recorded in ``server.requests``.
  ``tls=True`` wraps each connection with the self-signed certificate in ``tests/data``.
* ``ForwardProxy()``: an HTTP proxy that forwards absolute-form requests (``POST http://...``) and
  tunnels ``CONNECT host:port``; it records each request line in ``proxy.requests``.
* ``free_port()``: a port on 127.0.0.1 on which nothing listens (connection refused).
* ``sse_response(texts)`` / ``sse_chat(conn, texts)``: a well-formed OpenAI-dialect streamed
  reply, as bytes / read the request and send it.

The certificate (``tests/data/localhost-cert.pem`` and its key) was made once, valid 100 years:

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
      -keyout localhost-key.pem -out localhost-cert.pem -days 36525 \\
      -subj "/CN=mlchat test localhost" \\
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \\
      -addext "basicConstraints=critical,CA:TRUE" \\
      -addext "keyUsage=critical,digitalSignature,keyCertSign" -addext "extendedKeyUsage=serverAuth"

It is its own CA, so ``SSL_CERT_FILE=tests/data/localhost-cert.pem`` makes it trusted.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
CERT = DATA / "localhost-cert.pem"
KEY = DATA / "localhost-key.pem"


@dataclass
class Request:
    method: str
    target: str  # as sent: "/path" (origin form), "http://host/path" or "host:port" (CONNECT)
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Conn:
    """One accepted connection, seen by a handler."""

    def __init__(self, sock: socket.socket, server: RawServer) -> None:
        self.sock = sock
        self.server = server
        self._buf = b""

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("client closed the connection")
        return data

    def read_request(self) -> Request:
        """Read one request head and its Content-Length body; record it."""
        while b"\r\n\r\n" not in self._buf:
            self._buf += self._recv()
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(self._buf) < length:
            self._buf += self._recv()
        body, self._buf = self._buf[:length], self._buf[length:]
        request = Request(method, target, headers, body)
        with self.server.lock:
            self.server.requests.append(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drip(self, data: bytes, pause: float = 0.0005) -> None:
        """Send one byte at a time, pausing between bytes so each arrives in its own read."""
        for i in range(len(data)):
            self.sock.sendall(data[i : i + 1])
            if pause:
                self.stall(pause)

    def head(self, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        fields = {"Content-Type": content_type, "Content-Length": str(len(body))}
        fields.update(headers or {})
        self.send(self.head(status, fields) + body)

    def start_sse(self, headers: dict[str, str] | None = None) -> None:
        fields = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}
        fields.update(headers or {})
        self.send(self.head(200, fields))

    def chunk(self, data: bytes) -> None:
        self.send(_chunked(data))

    def end_chunks(self) -> None:
        self.send(b"0\r\n\r\n")

    def stall(self, seconds: float) -> None:
        """Wait, waking at once when the server stops."""
        self.server.stopping.wait(seconds)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


Handler = Callable[[Conn], None]


class RawServer:
    def __init__(self, handler: Handler, *, tls: bool = False) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._tls: ssl.SSLContext | None = None
        if tls:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(CERT, KEY)
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        with contextlib.suppress(OSError):
            self._listener.close()
        with self.lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self._open.add(sock)
        try:
            if self._tls is not None:
                plain = sock
                sock = self._tls.wrap_socket(sock, server_side=True)
                with self.lock:
                    self._open.discard(plain)
                    self._open.add(sock)
            self.handler(Conn(sock, self))
        except (OSError, ConnectionError, ssl.SSLError):
            pass  # the client went away, rejected our certificate, or the server is stopping
        except BaseException as exc:  # a bug in a test's handler: surfaced by the test
            self.errors.append(exc)
        finally:
            with self.lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openai_chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode() + b"\n\n"


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def sse_response(texts: list[str]) -> bytes:
    """The bytes of a complete OpenAI-dialect streamed reply of `texts`, one chunk each."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    done = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
    events = [openai_chunk(t) for t in texts]
    events += [b"data: " + json.dumps(done).encode() + b"\n\n", b"data: [DONE]\n\n"]
    return head + b"".join(_chunked(e) for e in events) + b"0\r\n\r\n"


def sse_chat(conn: Conn, texts: list[str]) -> None:
    """Read the request and answer it with a complete stream of `texts`."""
    conn.read_request()
    conn.send(sse_response(texts))


@dataclass
class ForwardProxy:
    """An HTTP proxy on 127.0.0.1: forwards absolute-form requests, tunnels CONNECT."""

    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = RawServer(self._handle)
        self.requests = self.server.requests

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> ForwardProxy:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def _handle(self, conn: Conn) -> None:
        req = conn.read_request()
        if req.method == "CONNECT":
            host, _, port = req.target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=10)
            conn.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(conn.sock, upstream, conn._buf, self.server.stopping)
            return
        # Absolute form: rewrite to origin form, ask for the connection to close after the
        # response, and relay bytes until the upstream closes.
        rest = req.target.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        upstream = socket.create_connection((host, int(port or 80)), timeout=10)
        headers = {k: v for k, v in req.headers.items() if k not in ("proxy-connection",)}
        headers["connection"] = "close"
        head = f"{req.method} /{path} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        upstream.sendall(head.encode("latin-1") + req.body)
        _relay(conn.sock, upstream, b"", self.server.stopping)


def _relay(client: socket.socket, upstream: socket.socket, pending: bytes, stop: Any) -> None:
    if pending:
        upstream.sendall(pending)
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, upstream)
    sel.register(upstream, selectors.EVENT_READ, client)
    try:
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.5):
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                data = src.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
    finally:
        sel.close()
        upstream.close()


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
