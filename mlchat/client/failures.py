"""How HTTP goes wrong, in mlchat's words: a transport failure (no response) or a body that breaks
off while it is read, mapped to an error from mlchat.errors with a hint that says what to change.
Part of mlchat.client (httpx's home); httpx is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from mlchat.client.policy import Timeouts
from mlchat.errors import (
    ConnectFailed,
    IncompleteReply,
    MlchatError,
    NetworkError,
    ProtocolError,
    StreamTimeout,
)

NETWORK_HINT = "check the network and the base URL (--base-url or MODELSLAB_BASE_URL)"
TIMEOUT_HINT = "raise the limit with --timeout (or MLCHAT_TIMEOUT, or `timeout` in the config file)"
IDLE_HINT = "raise the limit with MLCHAT_IDLE_TIMEOUT (or `idle_timeout` in the config file)"
MAX_TIME_HINT = "raise the limit with --max-time (or MLCHAT_MAX_TIME, or `max_time` in the config)"
# What getaddrinfo says, on glibc, musl, macOS and Windows, when a name does not resolve.
DNS_FAILURES = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "name does not resolve",
    "getaddrinfo failed",
)
CERT_HINT = (
    "if a proxy or a private CA signs this certificate, point SSL_CERT_FILE at a bundle that "
    "holds that CA; mlchat never turns verification off"
)


def transport_error(
    exc: Exception, url: str, timeouts: Timeouts, past_deadline: Callable[[], None]
) -> MlchatError:
    """The error for a request that got no response. `past_deadline` raises the --max-time
    StreamTimeout when a timeout is (all but) the end of the overall deadline."""
    import httpx

    host = host_of(url)
    why = reason(exc)
    proxied = any(
        os.environ.get(name)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
    )
    hint = NETWORK_HINT + (" and HTTPS_PROXY / NO_PROXY" if proxied else "")
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectFailed(
            f"timed out connecting to {host} after {timeouts.connect:g} s", hint=hint
        )
    if isinstance(exc, httpx.ProxyError):
        return NetworkError(
            f"the proxy refused the connection to {host}: {why}",
            hint="check HTTPS_PROXY / NO_PROXY",
        )
    if isinstance(exc, httpx.ConnectError):
        upper = why.upper()
        if "CERTIFICATE" in upper:
            return NetworkError(
                f"the TLS certificate of {host} is not trusted: {why}", hint=CERT_HINT
            )
        if "SSL" in upper or "TLS" in upper:
            return NetworkError(
                f"the TLS handshake with {host} failed: {why}",
                hint="check that the base URL's scheme (http:// or https://) is right",
            )
        if any(marker in why.lower() for marker in DNS_FAILURES):
            # Not transient: retrying a name that does not resolve only makes the user wait.
            name = urlsplit(url).hostname or host
            return NetworkError(
                f"cannot find the host {name}: the name does not resolve ({why})",
                hint="check the host name in the base URL (--base-url or MODELSLAB_BASE_URL), "
                "and that this machine can resolve names (DNS)",
            )
        return ConnectFailed(f"cannot connect to {host}: {why}", hint=hint)
    if isinstance(exc, httpx.TimeoutException):
        try:
            past_deadline()
        except StreamTimeout as late:
            return late
        return StreamTimeout(f"no answer from {host} within {timeouts.read:g} s", hint=TIMEOUT_HINT)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        # The connection closed before any answer: the request most likely never ran.
        return ConnectFailed(f"{host} closed the connection without answering ({why})")
    return ConnectFailed(f"network error talking to {host}: {why}", hint=hint)


@contextmanager
def reading(timeouts: Timeouts, past_deadline: Callable[[], None]) -> Iterator[None]:
    """Failures while a response body is read, as mlchat errors: what arrived before stays
    with the caller."""
    import httpx

    try:
        yield
    except httpx.TimeoutException:
        past_deadline()
        raise StreamTimeout(
            f"the service went silent for more than {timeouts.read:g} s",
            hint=TIMEOUT_HINT,
        ) from None
    except httpx.DecodingError as exc:
        raise ProtocolError(f"the service sent an unreadable body: {reason(exc)}") from None
    except httpx.TransportError as exc:
        # httpx's own words ("peer closed connection without sending complete message body
        # (incomplete chunked read)") say nothing to the user: say what happened.
        closed = isinstance(exc, httpx.RemoteProtocolError)
        how = "the service closed the connection" if closed else "the connection broke"
        raise IncompleteReply(f"{how} {INCOMPLETE}") from None


INCOMPLETE = "before the reply was complete"
NOTHING_ARRIVED = "before any of the reply arrived"


def nothing_arrived(error: MlchatError) -> MlchatError:
    """A break that came before any content, said as such (the request may be retried)."""
    if isinstance(error, IncompleteReply) and INCOMPLETE in error.message:
        return IncompleteReply(
            error.message.replace(INCOMPLETE, NOTHING_ARRIVED, 1), hint=error.hint
        )
    return error


def host_of(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]


def size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} bytes"
