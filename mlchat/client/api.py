"""The API client: one `Client` per command sends requests, streams replies (Server-Sent Events
through mlchat.sse and the provider's decoder), retries before any content, and keeps to the
timeouts and the overall deadline. Part of mlchat.client (httpx's home); httpx is imported inside
the methods, so that `--help`, `--version` and completion never pay for it. Sync only: Ctrl-C
arrives as KeyboardInterrupt in the consuming loop, and leaving `chat()` closes the response.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from mlchat.client.connect import http_client, on_sent, once
from mlchat.client.failures import (
    IDLE_HINT,
    MAX_TIME_HINT,
    nothing_arrived,
    reading,
    reason,
    size,
    transport_error,
)
from mlchat.client.policy import MAX_SLEEP, RetryPolicy, Timeouts, is_retryable
from mlchat.errors import (
    ApiError,
    AuthError,
    MlchatError,
    ProtocolError,
    RequestRejected,
    StreamTimeout,
    UsageError,
)
from mlchat.providers import Provider
from mlchat.providers.anthropic import count_tokens_request
from mlchat.providers.common import (
    decode_count,
    decode_models,
    describe_wait,
    http_error,
    is_html,
    loads,
    summarize_body,
)
from mlchat.runtime import mask
from mlchat.sse import MAX_EVENT_BYTES, SSEDecoder, SSEError
from mlchat.types import (
    PROGRESS,
    ChatRequest,
    HttpRequest,
    Message,
    ModelInfo,
    StreamEvent,
)

if TYPE_CHECKING:
    import httpx

HEAD_LIMIT = 64 * 1024  # bytes of a stream kept to recognise a bare JSON body
MAX_ERROR_BODY = 1024 * 1024  # an error page longer than this is cut: only its first line is shown
MAX_BODY = 64 * 1024 * 1024  # a whole (non-streamed) reply larger than this is refused


class Client:
    """One HTTP client per command. `sleep`, `clock` (monotonic) and `wall` (Unix time) are
    injectable so that tests never wait; `max_event_bytes` so that they need not send 16 MiB."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        debug: Callable[[str], None] | None = None,
        status: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_event_bytes: int = MAX_EVENT_BYTES,
        auth_hint: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # What to say when the key is rejected: the caller knows where the key came from.
        self._auth_hint = auth_hint
        self._key = api_key
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._transport = transport
        self._debug = debug
        self._status = status
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self._max_event = max_event_bytes
        self._http: httpx.Client | None = None
        self._deadline: float | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = http_client(self.base_url, self.timeouts, self._transport)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, text: str) -> None:
        if self._debug is not None:
            # As Runtime.scrub: a "key" of 1-3 characters would mask every such letter.
            masked = text.replace(self._key, mask(self._key)) if len(self._key) >= 4 else text
            self._debug(masked)

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _attempt(self, attempt: int) -> str:
        return f"attempt {attempt + 1} of {self.retry.retries + 1}"

    def _ms(self, since: float) -> str:
        return f"{(self._clock() - since) * 1000:.0f} ms"

    def _left(self) -> float | None:
        """Seconds left before the --max-time deadline (None: no deadline); past it, the
        request ends with StreamTimeout."""
        if self._deadline is None:
            return None
        left = self._deadline - self._clock()
        if left <= 0:
            assert self.timeouts.total is not None
            raise StreamTimeout(
                f"the request took longer than {self.timeouts.total:g} s (--max-time)",
                hint=MAX_TIME_HINT,
            )
        return left

    def _past_deadline(self) -> None:
        """After a timeout: raise the --max-time error when the deadline is (all but) reached."""
        if self._deadline is not None and self._deadline - self._clock() < 0.05:
            self._deadline = self._clock()  # so _left() raises
            self._left()

    def _open(
        self, req: HttpRequest, attempt: int, sent: Callable[[], None] | None = None
    ) -> httpx.Response:
        """Send `req`; return the open response (2xx) or raise the mapped error. `sent` is
        called once the request is on the wire (httpcore's trace of the body's end), or, with a
        transport that does not trace, when the response arrives."""
        import httpx

        url = self._url(req.path)
        started = self._clock()
        content = (
            json.dumps(req.json, ensure_ascii=False).encode() if req.json is not None else None
        )
        try:
            http = self._client()
            extra: dict[str, Any] = {}
            left = self._left()
            if left is not None:
                t = self.timeouts
                extra["timeout"] = httpx.Timeout(
                    connect=min(t.connect, left),
                    read=min(t.read, left),
                    write=min(t.read, left),
                    pool=min(t.connect, left),
                )
            if sent is not None:
                extra["extensions"] = {"trace": on_sent(sent)}
            request = http.build_request(
                req.method, url, headers=dict(req.headers), content=content, **extra
            )
            response = http.send(request, stream=True)
            if sent is not None:
                sent()
        except httpx.InvalidURL as exc:
            raise UsageError(f"invalid base URL {self.base_url}: {reason(exc)}") from None
        except httpx.HTTPError as exc:
            self._log(
                f"{req.method} {url} -> {type(exc).__name__}: {reason(exc)} "
                f"({self._attempt(attempt)}, {self._ms(started)})"
            )
            raise self._transport_error(exc, url) from None
        code = response.status_code
        ctype = response.headers.get("content-type", "")
        self._log(
            f"{req.method} {url} -> {code} {ctype} ({self._attempt(attempt)}, {self._ms(started)})"
        )
        if 300 <= code < 400:
            location = response.headers.get("location", "")
            response.close()
            raise RequestRejected(
                f"HTTP {code}: the service redirects to {location or 'another address'}, "
                "and mlchat does not follow redirects",
                status=code,
                hint="if the API has moved, point --base-url (or MODELSLAB_BASE_URL) at it",
            )
        if code >= 400:
            try:
                body = self._read_body(response, MAX_ERROR_BODY, truncate=True)
            except MlchatError:
                body = b""  # the status alone still says what happened
            finally:
                response.close()
            raise http_error(code, response.headers, body, now=self._wall())
        return response

    def use_key(self, api_key: str) -> None:
        """Send `api_key` from the next request on (`/key` in a chat)."""
        self._key = api_key

    def _explain(self, error: MlchatError) -> None:
        if isinstance(error, AuthError) and self._auth_hint:
            error.hint = self._auth_hint

    def _transport_error(self, exc: Exception, url: str) -> MlchatError:
        return transport_error(exc, url, self.timeouts, self._past_deadline)

    def _read_body(self, response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
        """A whole body, with transport failures mapped; over `limit` it is cut (`truncate`) or
        refused."""
        data = bytearray()
        with self._reading():
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > limit:
                    if truncate:
                        return bytes(data[:limit])
                    raise ProtocolError(f"the reply is larger than {size(limit)}")
        return bytes(data)

    def _reading(self) -> AbstractContextManager[None]:
        """Failures while a response body is read, as mlchat errors (see failures.reading)."""
        return reading(self.timeouts, self._past_deadline)

    def _wait(self, error: MlchatError, attempt: int) -> bool:
        """Sleep before retry `attempt` + 1 if `error` is retryable and retries remain; when
        giving up, say so in the error, and when to try again if the service said."""
        if not is_retryable(error):
            return False
        wait = error.retry_after if isinstance(error, ApiError) else None
        if wait is not None and wait > MAX_SLEEP:
            error.hint = f"the service asks to wait {describe_wait(wait)}: {self._when(wait)}"
            return False
        if attempt >= self.retry.retries:
            if attempt:
                error.message += f" (gave up after {attempt + 1} attempts)"
            if wait:
                error.hint = f"the service asks to wait {describe_wait(wait)}: {self._when(wait)}"
            return False
        # A server's wait wins; 0 (or none) falls back to our backoff, never to a busy loop.
        delay = wait if wait else self.retry.backoff(attempt)
        left = None if self._deadline is None else self._deadline - self._clock()
        if left is not None and delay >= left:
            return False  # the deadline would pass while waiting: this error is the answer
        if self._status is not None:
            self._status(
                f"{error.message} — retrying in {delay:.1f} s "
                f"(attempt {attempt + 2} of {self.retry.retries + 1})"
            )
        self._sleep(delay)
        return True

    def _when(self, wait: float) -> str:
        at = time.localtime(self._wall() + wait)
        fmt = "%H:%M:%S" if wait < 20 * 3600 else "%Y-%m-%d %H:%M"
        return f"try again after {time.strftime(fmt, at)}"

    # -- chat -----------------------------------------------------------------------------

    @contextmanager
    def chat(
        self, provider: Provider, req: ChatRequest, *, sent: Callable[[], None] | None = None
    ) -> Iterator[Iterator[StreamEvent]]:
        """Open a chat reply as an iterator of stream events; the request is sent when the
        first event is asked for.

        Retries happen only before any content has been produced; once a text, reasoning or
        tool-call event has been yielded, an error propagates with everything yielded so far
        already in the caller's hands. Leaving the context closes the HTTP response.

        `sent` is called at most once, as soon as the request's last byte is written (before
        the first event; on a retry, for the first attempt that got that far): work that need
        not precede the request (saving the question) is done while the model thinks.
        """
        http_req = provider.build_request(req, self._key)
        holder: list[httpx.Response] = []
        try:
            yield self._events(provider, http_req, holder, once(sent) if sent else None)
        finally:
            for response in holder:
                response.close()

    def _start_deadline(self) -> float:
        started = self._clock()
        total = self.timeouts.total
        self._deadline = None if total is None else started + total
        return started

    def _events(
        self,
        provider: Provider,
        req: HttpRequest,
        holder: list[httpx.Response],
        sent: Callable[[], None] | None = None,
    ) -> Iterator[StreamEvent]:
        attempt = 0
        started = self._start_deadline()
        while True:
            produced = False
            try:
                response = self._open(req, attempt, sent)
                holder.append(response)
                for ev in self._decode(provider, response):
                    if isinstance(ev, PROGRESS):
                        produced = True
                    yield ev
                self._log(f"reply complete ({self._attempt(attempt)}, {self._ms(started)})")
                return
            except MlchatError as error:
                if produced or not self._wait(error, attempt):
                    state = "cut short" if produced else "failed"
                    if not produced:
                        error = nothing_arrived(error)
                    self._explain(error)
                    self._log(
                        f"reply {state}: {error.message} "
                        f"(exit {error.exit_code}, {self._attempt(attempt)}, {self._ms(started)})"
                    )
                    raise error from None
                attempt += 1
            except KeyboardInterrupt:
                self._log(f"reply interrupted ({self._attempt(attempt)}, {self._ms(started)})")
                raise
            finally:
                for r in holder:
                    r.close()
                holder.clear()

    def _decode(self, provider: Provider, response: httpx.Response) -> Iterator[StreamEvent]:

        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            # ModelsLab may answer a stream request with a whole JSON reply or a JSON error,
            # even with HTTP 200: decode it as such, never as an empty answer.
            body = self._read_body(response, MAX_BODY)
            if is_html(body, ctype):
                # A captive portal, a proxy's login page, or a base URL that is a web site.
                raise ProtocolError(
                    "expected an API reply but got an HTML page "
                    f"({summarize_body(body, ctype)}, HTTP {response.status_code})",
                    hint="check --base-url (or MODELSLAB_BASE_URL), and any proxy in between",
                )
            text = body.decode("utf-8", errors="replace").strip()
            if not text:
                raise ProtocolError("the service sent an empty reply")
            if text[0] not in "{[":
                raise http_error(response.status_code, response.headers, body, now=self._wall())
            yield from provider.decode_response(loads(text))
            return
        decoder = provider.new_decoder()
        sse = SSEDecoder(self._max_event)
        idle = self.timeouts.idle
        last_content = self._clock()
        # Until the first event, keep the raw bytes: some upstreams label a plain JSON error (or
        # a whole reply) text/event-stream, and it must not end as "the reply was cut short".
        head: bytearray | None = bytearray()
        try:
            with self._reading():
                for chunk in response.iter_bytes():
                    if head is not None:
                        head += chunk
                        if len(head) > HEAD_LIMIT:
                            head = None
                    for ev in sse.feed(chunk):
                        head = None
                        out = decoder.event(ev)
                        # Only content is progress: a server sending nothing but usage
                        # or keep-alives must not keep us waiting forever.
                        if any(isinstance(e, PROGRESS) for e in out):
                            last_content = self._clock()
                        yield from out
                        if decoder.done:
                            return
                    self._left()
                    if self._clock() - last_content > idle:
                        waited = describe_wait(idle)
                        raise StreamTimeout(
                            f"the service sent only keep-alives, no reply, for {waited}",
                            hint=IDLE_HINT,
                        )
                for ev in sse.close():
                    head = None
                    yield from decoder.event(ev)
                    if decoder.done:
                        return
        except SSEError:
            raise ProtocolError(
                f"the service sent an event larger than {size(self._max_event)}"
            ) from None
        if head is not None and head.strip()[:1] == b"{":
            try:
                payload = loads(head.decode("utf-8", errors="replace"))
            except ProtocolError:
                payload = None
            if payload is not None:
                yield from provider.decode_response(payload)
                return
        yield from decoder.end()

    # -- other endpoints ------------------------------------------------------------------

    def _json(self, req: HttpRequest) -> Any:
        attempt = 0
        started = self._start_deadline()
        while True:
            try:
                response = self._open(req, attempt)
                try:
                    body = self._read_body(response, MAX_BODY)
                finally:
                    response.close()
                text = body.decode("utf-8", errors="replace")
                if is_html(body, response.headers.get("content-type", "")):
                    raise ProtocolError(
                        "expected an API reply but got an HTML page "
                        f"({summarize_body(body, 'text/html')})",
                        hint="check --base-url (or MODELSLAB_BASE_URL)",
                    )
                return loads(text or "null")
            except MlchatError as error:
                if not self._wait(error, attempt):
                    self._log(f"request failed: {error.message} ({self._ms(started)})")
                    self._explain(error)
                    raise error from None
                attempt += 1

    def list_models(self) -> list[ModelInfo]:
        headers = {
            "Authorization": f"Bearer {self._key}",
            "x-api-key": self._key,
            "Accept": "application/json",
        }
        return decode_models(self._json(HttpRequest("GET", "/v1/models", headers)))

    def count_tokens(self, model: str, messages: tuple[Message, ...], system: str | None) -> int:
        return decode_count(self._json(count_tokens_request(model, messages, system, self._key)))
