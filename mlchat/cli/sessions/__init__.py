"""`mlchat sessions`: list, show, export, search, rename and delete saved conversations.

Conversations are named on the command line by id, unique id prefix (4 or more characters) or
name. Output follows the scripting contract: a table on a terminal, tab-separated lines when piped,
`--json` for programs; stored text is shown with control characters neutralised, and exported
exactly.

One module per command; `base` holds the app and what they share. Importing a command module
registers it on `app`, so the order below is the order of `mlchat sessions --help`.
"""

from mlchat.cli.sessions.base import app

# isort: off
from mlchat.cli.sessions import listing, show, export, rm, rename, search  # noqa: F401
# isort: on

__all__ = ["app"]
