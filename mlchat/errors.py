"""The error tree and the exit codes. Imports: the standard library only.

    MlchatError (1, internal)
    ├── OutputError (1)           stdout refused the reply (disk full, I/O error)
    ├── UsageError (2)            bad flags, empty prompt, a value out of range
    ├── ConfigError (3)           no key, unreadable or invalid config file
    │   └── AuthError (3)         401 / 403
    ├── RequestRejected (4)       400, 402, 404, 413, 422, errors carried with HTTP 200
    ├── NoCodeBlock (4)           `ask -x`: the reply holds no fenced code block
    ├── ContextFull (4)           the conversation would not fit the model's context window
    ├── NoCommand (4)             `mlchat cmd`: the reply holds no command
    ├── RateLimited (5)           429
    ├── NetworkError (6)          connection failures
    │   ├── ConnectFailed (6)     the request never reached the service (safe to retry)
    │   ├── ServerError (6)       5xx and 529
    │   ├── StreamTimeout (6)     silence longer than the read timeout
    │   ├── ProtocolError (6)     a reply we cannot read (malformed event, oversized event)
    │   ├── IncompleteReply (6)   the stream ended without its end marker
    │   └── FetchFailed (6)       a URL given as an attachment could not be fetched
    ├── Refused (7)               the model refused to answer (the refusal is the reply)
    └── Interrupted (130)         Ctrl-C (130), SIGHUP (129), SIGTERM (143)

Every error renders as one line (`mlchat: error: ...`) plus an optional hint; the exit code lives
on the class so that one boundary in the CLI can map any of them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_REJECTED = 4
EXIT_RATE_LIMITED = 5
EXIT_NETWORK = 6
EXIT_REFUSED = 7
EXIT_INTERRUPTED = 130


class MlchatError(Exception):
    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class OutputError(MlchatError):
    """stdout refused the reply (disk full, I/O error): exit 1 with one line, not a traceback."""


class UsageError(MlchatError):
    exit_code = EXIT_USAGE


class ConfigError(MlchatError):
    exit_code = EXIT_CONFIG


class ApiError(MlchatError):
    """An error reported by the service. `status` is the HTTP status (200 when the service put an
    error in a successful response or inside the stream); `retry_after` is the server's wait."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after
        self.kind = kind


class AuthError(ApiError, ConfigError):
    exit_code = EXIT_CONFIG


class RequestRejected(ApiError):
    exit_code = EXIT_REJECTED


class NoCodeBlock(MlchatError):
    """`ask -x`: the reply (shown on stderr) holds no fenced code block to print."""

    exit_code = EXIT_REJECTED


class ContextFull(MlchatError):
    """The conversation (and the reply's room) would not fit the model's context window: caught
    before the request, so nothing was sent or paid for."""

    exit_code = EXIT_REJECTED


class NoCommand(MlchatError):
    """`mlchat cmd`: the model's reply holds no command (or only says why it cannot give one)."""

    exit_code = EXIT_REJECTED


class RateLimited(ApiError):
    exit_code = EXIT_RATE_LIMITED


class NetworkError(MlchatError):
    exit_code = EXIT_NETWORK


class ConnectFailed(NetworkError):
    pass


class ServerError(ApiError, NetworkError):
    exit_code = EXIT_NETWORK


class StreamTimeout(NetworkError):
    pass


class ProtocolError(NetworkError):
    pass


class IncompleteReply(NetworkError):
    pass


class FetchFailed(NetworkError):
    pass


class Refused(MlchatError):
    """Not a failure of mlchat or of the service: the reply was a refusal, already shown (and
    saved); the exit status lets a script tell it from an answer."""

    exit_code = EXIT_REFUSED


class Interrupted(MlchatError):
    exit_code = EXIT_INTERRUPTED
