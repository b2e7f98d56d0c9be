"""HTTP for mlchat: sending requests, streaming replies, retries, timeouts and error mapping. The
only package that imports httpx, and only inside functions.

The modules, by job (every public name is importable from `mlchat.client`):

    api       `Client`: requests, streaming, retries before any content, the deadline
    connect   the httpx client (TLS, proxies, no redirects) and the signal that a request left
    policy    `Timeouts`, `RetryPolicy`, and which errors are safe to retry
    failures  transport failures and broken bodies as mlchat errors, with hints
    fetch     `fetch`: a URL the user attached, never with the key
"""

from mlchat.client.api import Client
from mlchat.client.fetch import Fetched, fetch
from mlchat.client.policy import RetryPolicy, Timeouts, is_retryable

__all__ = ["Client", "Fetched", "RetryPolicy", "Timeouts", "fetch", "is_retryable"]
