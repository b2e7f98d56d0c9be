"""HTTP for mlchat: sending requests, streaming replies, retries, timeouts and error mapping.

The only module that imports httpx, and only inside functions, so that `--help`, `--version` and
shell completion never pay for it. Sync only: Ctrl-C arrives as KeyboardInterrupt in the consuming
loop, and leaving the `chat()` context closes the response.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlchat import __version__
from mlchat.errors import (
    ApiError,
    ConnectFailed,
    IncompleteReply,
    MlchatError,
    NetworkError,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
    StreamTimeout,
)
from mlchat.providers import Provider
from mlchat.providers.anthropic import count_tokens_request
from mlchat.providers.common import decode_count, decode_models, http_error, loads
from mlchat.sse import SSEDecoder, SSEError
from mlchat.types import (
    ChatRequest,
    HttpRequest,
    Message,
    ModelInfo,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://modelslab.com/api/v7/llm"
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_SLEEP = 60.0  # a server asking for a longer wait gets an error that says when to come back
MAX_ERROR_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """connect: to open the connection; read: the longest silence accepted between bytes (reasoning
    models think for a long time); idle: the longest a stream may send only keep-alives."""

    connect: float = 10.0
    read: float = 120.0
    idle: float = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 2
    base: float = 0.5
    cap: float = 8.0

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.cap, self.base * 2.0**attempt)
        return delay * random.uniform(0.75, 1.25)


def mask(key: str) -> str:
    return "…" + key[-4:] if len(key) > 8 else "****"


class Client:
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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._transport = transport
        self._debug = debug
        self._status = status
        self._sleep = sleep
        self._clock = clock
        self._http: httpx.Client | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            t = self.timeouts
            self._http = httpx.Client(
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect),
                transport=self._transport,
                # Redirects are not followed: a redirect to another host must never carry the key,
                # and a moved API is better reported than silently chased.
                follow_redirects=False,
                headers={"User-Agent": f"mlchat/{__version__}"},
                trust_env=True,  # HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE
            )
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
            self._debug(text.replace(self._key, mask(self._key)) if self._key else text)

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _open(self, req: HttpRequest, attempt: int) -> httpx.Response:
        """Send `req`; return the open response (2xx) or raise the mapped error."""
        import httpx

        url = self._url(req.path)
        started = self._clock()
        http = self._client()
        content = (
            json.dumps(req.json, ensure_ascii=False).encode() if req.json is not None else None
        )
        try:
            request = http.build_request(
                req.method, url, headers=dict(req.headers), content=content
            )
            response = http.send(request, stream=True)
        except httpx.ConnectTimeout:
            raise ConnectFailed(f"timed out connecting to {_host(url)}") from None
        except httpx.ProxyError as exc:
            raise NetworkError(
                f"the proxy refused the connection to {_host(url)}: {_reason(exc)}",
                hint="check HTTPS_PROXY / NO_PROXY",
            ) from None
        except httpx.ConnectError as exc:
            reason = _reason(exc)
            if "CERTIFICATE" in reason.upper() or "SSL" in reason.upper():
                raise NetworkError(
                    f"TLS certificate of {_host(url)} not trusted: {reason}",
                    hint="a proxy that inspects TLS needs its CA in SSL_CERT_FILE",
                ) from None
            raise ConnectFailed(f"cannot connect to {_host(url)}: {reason}") from None
        except httpx.TimeoutException:
            raise StreamTimeout(
                f"no answer from {_host(url)} within {self.timeouts.read:g} s",
                hint="raise the limit with --timeout",
            ) from None
        except httpx.TransportError as exc:
            raise ConnectFailed(f"network error talking to {_host(url)}: {_reason(exc)}") from None
        elapsed = (self._clock() - started) * 1000
        code = response.status_code
        self._log(f"{req.method} {url} -> {code} (attempt {attempt + 1}, {elapsed:.0f} ms)")
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            response.close()
            raise RequestRejected(
                f"HTTP {response.status_code}: the service redirected to "
                f"{location or 'another address'}",
                status=response.status_code,
                hint="point --base-url (or MODELSLAB_BASE_URL) at the new address",
            )
        if response.status_code >= 400:
            try:
                body = _read_limited(response, MAX_ERROR_BODY)
            except httpx.TransportError:
                body = b""  # the body broke off; the status alone still says what went wrong
            finally:
                response.close()
            raise http_error(response.status_code, response.headers, body)
        return response

    def _wait(self, error: MlchatError, attempt: int) -> bool:
        """Sleep before retry `attempt` + 1 if `error` is retryable and retries remain."""
        if attempt >= self.retry.retries or not is_retryable(error):
            return False
        wait = error.retry_after if isinstance(error, ApiError) else None
        if wait is not None and wait > MAX_SLEEP:
            return False
        delay = wait if wait is not None else self.retry.backoff(attempt)
        if self._status is not None:
            self._status(
                f"{error.message} — retrying in {delay:.1f} s "
                f"(attempt {attempt + 2} of {self.retry.retries + 1})"
            )
        self._sleep(delay)
        return True

    # -- chat -----------------------------------------------------------------------------

    @contextmanager
    def chat(self, provider: Provider, req: ChatRequest) -> Iterator[Iterator[StreamEvent]]:
        """Open a chat reply as an iterator of stream events.

        Retries happen only before any content has been produced; once a text, reasoning or
        tool-call event has been yielded, an error propagates with everything yielded so far
        already in the caller's hands. Leaving the context closes the HTTP response.
        """
        http_req = provider.build_request(req, self._key)
        holder: list[httpx.Response] = []
        try:
            yield self._events(provider, http_req, holder)
        finally:
            for response in holder:
                response.close()

    def _events(
        self, provider: Provider, req: HttpRequest, holder: list[httpx.Response]
    ) -> Iterator[StreamEvent]:
        attempt = 0
        while True:
            produced = False
            try:
                response = self._open(req, attempt)
                holder.append(response)
                for ev in self._decode(provider, response):
                    if isinstance(ev, TextDelta | ReasoningDelta | ToolCallDelta):
                        produced = True
                    yield ev
                return
            except MlchatError as error:
                if produced or not self._wait(error, attempt):
                    raise error from None
                attempt += 1
            finally:
                for r in holder:
                    r.close()
                holder.clear()

    def _decode(self, provider: Provider, response: httpx.Response) -> Iterator[StreamEvent]:
        import httpx

        ctype = response.headers.get("content-type", "").lower()
        if "text/event-stream" not in ctype:
            # ModelsLab may answer a stream request with a whole JSON reply or a JSON error,
            # even with HTTP 200: decode it as such, never as an empty answer.
            try:
                body = _read_limited(response, 64 * 1024 * 1024)
            except httpx.TimeoutException:
                raise StreamTimeout(
                    f"the service went silent for more than {self.timeouts.read:g} s",
                    hint="raise the limit with --timeout",
                ) from None
            except httpx.TransportError as exc:
                raise IncompleteReply(f"the connection broke: {_reason(exc)}") from None
            text = body.decode("utf-8", errors="replace").strip()
            if not text:
                raise ProtocolError("the service sent an empty reply")
            if text[0] not in "{[":
                # e.g. an HTML page from a proxy, with HTTP 200
                raise http_error(response.status_code, response.headers, body)
            yield from provider.decode_response(loads(text))
            return
        decoder = provider.new_decoder()
        sse = SSEDecoder()
        last_content = self._clock()
        try:
            for chunk in response.iter_bytes():
                for ev in sse.feed(chunk):
                    out = decoder.event(ev)
                    if out:
                        last_content = self._clock()
                    yield from out
                    if decoder.done:
                        return
                if self._clock() - last_content > self.timeouts.idle:
                    raise StreamTimeout(
                        f"the service sent only keep-alives for {self.timeouts.idle:g} s",
                        hint="raise the limit with --timeout",
                    )
            for ev in sse.close():
                yield from decoder.event(ev)
                if decoder.done:
                    return
        except httpx.TimeoutException:
            raise StreamTimeout(
                f"the service went silent for more than {self.timeouts.read:g} s",
                hint="raise the limit with --timeout",
            ) from None
        except httpx.TransportError as exc:
            raise IncompleteReply(
                f"the reply was cut short: the connection broke ({_reason(exc)})"
            ) from None
        except SSEError as exc:
            raise ProtocolError(f"the service sent an unreadable stream: {exc}") from None
        yield from decoder.end()

    # -- other endpoints ------------------------------------------------------------------

    def _json(self, req: HttpRequest) -> Any:
        import httpx

        attempt = 0
        while True:
            try:
                response = self._open(req, attempt)
                try:
                    body = _read_limited(response, 64 * 1024 * 1024)
                except httpx.TimeoutException:
                    raise StreamTimeout(
                        f"the service went silent for more than {self.timeouts.read:g} s",
                        hint="raise the limit with --timeout",
                    ) from None
                except httpx.TransportError as exc:
                    raise IncompleteReply(
                        f"the reply was cut short: the connection broke ({_reason(exc)})"
                    ) from None
                finally:
                    response.close()
                return loads(body.decode("utf-8", errors="replace") or "null")
            except MlchatError as error:
                if not self._wait(error, attempt):
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


def is_retryable(error: MlchatError) -> bool:
    if isinstance(error, ConnectFailed):
        return True
    if isinstance(error, RateLimited | ServerError):
        return error.status is None or error.status in RETRY_STATUSES or error.status < 400
    if isinstance(error, ApiError):
        return error.status in RETRY_STATUSES
    return False


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]


def _read_limited(response: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > limit:
            break
    return bytes(data)
