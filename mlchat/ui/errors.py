"""The one error printer: `mlchat: error: <message>` and an optional `hint:` line on stderr,
used by the command-line boundary and by the REPL (which goes on after an error). Messages are
sanitised (they may quote the network or the store) and scrubbed of secrets. Imports mlchat.text
and mlchat.errors only: the boundary loads it on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from mlchat.errors import MlchatError
from mlchat.text import escape_controls


def report(
    err: IO[str], scrub: Callable[[str], str], error: MlchatError, hint: str | None = None
) -> None:
    """Print `error`, with `hint` in place of its own hint when one is given."""
    hint = hint if hint is not None else error.hint
    err.write(scrub(escape_controls(f"mlchat: error: {error.message}\n")))
    if hint:
        err.write(scrub(escape_controls(f"hint: {hint}\n")))
    err.flush()
