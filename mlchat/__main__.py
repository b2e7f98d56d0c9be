"""Entry point for `mlchat` and `python -m mlchat`.

`--version` is answered before Typer is imported: it is the command scripts call most often.
Help is drawn by Typer without the parts of rich it does not use (see cli/fasthelp.py).
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from mlchat import __version__

        sys.stdout.write(f"mlchat {__version__}\n")
        return
    from mlchat.cli import app, fasthelp

    fasthelp.install()
    app(prog_name="mlchat")


if __name__ == "__main__":
    main()
