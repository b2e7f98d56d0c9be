"""The httpx client behind `Client`, and the signal that a request has left.

- `http_client`: explicit timeouts, no redirects followed, the proxy and CA variables read from
  the environment, TLS always verified; for an http:// base URL with no proxy variable set the
  CA bundle is not loaded (~25 ms before the request could leave), since such a client never
  does TLS; should it ever, its context holds no CA and trusts nothing.
- `on_sent`: an httpcore `trace` extension that says when the request's last byte is written,
  and `once`, so that work waiting for it (saving the question) runs a single time.

Part of mlchat.client (httpx's home); httpx and ssl are imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlchat import __version__
from mlchat.client.failures import reason
from mlchat.client.policy import Timeouts
from mlchat.errors import ConfigError

if TYPE_CHECKING:
    import ssl

    import httpx

PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})  # any case, as httpx


def http_client(
    base_url: str, timeouts: Timeouts, transport: httpx.BaseTransport | None
) -> httpx.Client:
    import httpx

    t = timeouts
    try:
        return httpx.Client(
            verify=_verify(base_url, transport),
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect),
            transport=transport,
            # Redirects are not followed: a redirect to another host must never carry the key
            # (httpx would drop Authorization but keep x-api-key), and a moved API is better
            # reported than silently chased.
            follow_redirects=False,
            headers={"User-Agent": f"mlchat/{__version__}"},
            # HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, SSL_CERT_FILE, SSL_CERT_DIR, read by httpx from
            # the process environment. TLS is always verified.
            trust_env=True,
        )
    except OSError as exc:  # ssl.SSLError too: SSL_CERT_FILE names a missing/bad file
        name = "SSL_CERT_FILE" if os.environ.get("SSL_CERT_FILE") else "SSL_CERT_DIR"
        raise ConfigError(
            f"cannot load the CA certificates named by {name}="
            f"{os.environ.get(name, '')}: {reason(exc)}",
            hint=f"point {name} at a readable PEM bundle, or unset it",
        ) from None


def _verify(base_url: str, transport: httpx.BaseTransport | None) -> bool | ssl.SSLContext:
    """True (httpx's CA bundle, or SSL_CERT_FILE/DIR), except for an http:// base URL with no
    proxy variable set: every request of the client goes to the base URL (redirects are not
    followed), so it never does TLS. Should TLS ever be used, the context, holding no CA, fails
    closed: it verifies, and trusts nothing."""
    if transport is not None or not base_url.lower().startswith("http://"):
        return True
    if any(name.lower() in PROXY_VARIABLES for name in os.environ):
        return True  # the proxy may be https://, and its certificate must be verified
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def once(fn: Callable[[], None]) -> Callable[[], None]:
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()

    return call


def on_sent(sent: Callable[[], None]) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore `trace` extension calling `sent` when the request body has been written."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_body.complete"):
            sent()

    return trace
