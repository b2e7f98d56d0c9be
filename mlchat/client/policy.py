"""What the client waits for and what it may try again: the timeouts, the retry backoff, and
which errors are safe to retry. Part of mlchat.client; imports the standard library and
mlchat.errors only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from mlchat.errors import (
    ApiError,
    ConnectFailed,
    IncompleteReply,
    MlchatError,
    RateLimited,
    ServerError,
)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_SLEEP = 60.0  # a server asking for a longer wait gets an error that says when to come back


@dataclass(frozen=True, slots=True)
class Timeouts:
    """connect: to open the connection; read: the longest silence accepted between bytes (reasoning
    models think for a long time); idle: the longest a stream may send only keep-alives (comments,
    pings) without any content, so that a stream of pings alone cannot hang us forever."""

    connect: float = 10.0
    read: float = 120.0
    idle: float = 300.0
    # The overall deadline of one request, retries and waits included (--max-time), as curl's.
    total: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries before any content: exponential backoff from `base` doubling up to `cap`, with
    up to 25% of jitter taken off (so the cap is never exceeded and clients spread out)."""

    retries: int = 2
    base: float = 0.5
    cap: float = 8.0

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        delay: float = min(self.cap, self.base * 2.0**attempt)
        return delay * (1.0 - 0.25 * rand())


def is_retryable(error: MlchatError) -> bool:
    """Safe to send again when nothing of the reply has been shown: the request never got an
    answer, the answer broke off before any content, or the service said "try again"."""
    if isinstance(error, ConnectFailed | IncompleteReply):
        return True
    if isinstance(error, RateLimited | ServerError):
        return error.status is None or error.status in RETRY_STATUSES or error.status < 400
    if isinstance(error, ApiError):
        return error.status in RETRY_STATUSES
    return False
