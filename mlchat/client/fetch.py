"""Fetching a URL the user attached (`-f https://...`): a GET with the API client's rules (TLS
always verified, the proxy and CA variables, explicit timeouts), bounded in size, and never with
the key. Part of mlchat.client (httpx's home); httpx is imported inside `fetch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlchat import __version__
from mlchat.client.failures import NETWORK_HINT, TIMEOUT_HINT, reason
from mlchat.client.policy import Timeouts
from mlchat.errors import FetchFailed, UsageError
from mlchat.prompt_input import human_size

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class Fetched:
    """A web resource the user attached: where it ended up (after redirects), its media type as
    the server gave it (parameters such as charset kept) and its bytes."""

    url: str
    content_type: str
    data: bytes


def fetch(
    url: str,
    limit: int,
    *,
    timeouts: Timeouts | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET `url` with the API client's rules (TLS always verified, the proxy and CA variables,
    explicit timeouts), at most `limit` bytes. This client never carries the API key, so it may
    follow redirects (at most MAX_REDIRECTS). Every failure is FetchFailed (exit 6) naming the
    URL, except a URL that is not one (UsageError)."""
    import httpx

    t = timeouts or Timeouts()
    shown = url if len(url) <= 200 else url[:199] + "…"
    try:
        http = httpx.Client(
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect),
            transport=transport,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={
                "User-Agent": f"mlchat/{__version__}",
                "Accept": "text/html, text/*;q=0.9, image/*;q=0.9, */*;q=0.5",
            },
            trust_env=True,
        )
    except OSError as exc:
        raise FetchFailed(f"cannot fetch {shown}: {reason(exc)}") from None
    try:
        with http, http.stream("GET", url) as response:
            code = response.status_code
            if code >= 400:
                raise FetchFailed(f"cannot fetch {shown}: HTTP {code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchFailed(
                    f"cannot fetch {shown}: it is {human_size(int(declared))}, over the limit of "
                    f"{human_size(limit)}",
                    hint="raise it with --max-bytes (or attach_max_bytes in the config file)",
                )
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > limit:
                    raise FetchFailed(
                        f"cannot fetch {shown}: it is over the limit of {human_size(limit)}",
                        hint="raise it with --max-bytes (or attach_max_bytes in the config file)",
                    )
            return Fetched(str(response.url), response.headers.get("content-type", ""), bytes(data))
    except httpx.InvalidURL as exc:
        raise UsageError(f"{shown} is not a URL mlchat can fetch: {reason(exc)}") from None
    except httpx.UnsupportedProtocol as exc:
        raise UsageError(f"{shown} is not a URL mlchat can fetch: {reason(exc)}") from None
    except httpx.TooManyRedirects:
        raise FetchFailed(f"cannot fetch {shown}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FetchFailed(f"cannot fetch {shown}: timed out", hint=TIMEOUT_HINT) from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"cannot fetch {shown}: {reason(exc)}", hint=NETWORK_HINT) from None
