"""Entry point for `mlchat` and `python -m mlchat`.

`--version` is answered before Typer is imported: it is the command scripts call most often.
A help Typer has drawn before under the same conditions is replayed from the cache, also
before Typer is imported (see helpcache.py); otherwise Typer draws it, without the parts of rich
it does not use (see cli/fasthelp.py), and it is recorded. Errors in
the command line itself (an unknown option, `-t abc`) are reported like every other error: one
`mlchat: error:` line and a hint, exit 2, instead of Typer's boxed panel.
"""

from __future__ import annotations

import sys

EXIT_USAGE = 2


def _command_line_error(exc: BaseException) -> tuple[str, int, str] | None:
    """(message, exit code, help command) for Click's own errors, recognised by their shape so
    that nothing imports Typer's vendored Click."""
    message = getattr(exc, "format_message", None)
    code = getattr(exc, "exit_code", None)
    if not callable(message) or not isinstance(code, int):
        return None
    ctx = getattr(exc, "ctx", None) or _deepest_context(exc)
    path = getattr(ctx, "command_path", "") or "mlchat"
    return _closest_option(exc) or str(message()), code, f"{path} --help"


def _closest_option(exc: BaseException) -> str | None:
    """`No such option: --sesion (did you mean --session?)`: Click lists every near match in
    alphabetical order (`--json, --session, --yes`), which reads as if --json were meant."""
    name, possibilities = getattr(exc, "option_name", None), getattr(exc, "possibilities", None)
    if not isinstance(name, str) or not possibilities:
        return None
    import difflib

    best = max(possibilities, key=lambda p: difflib.SequenceMatcher(None, name, p).ratio())
    return f"No such option: {name} (did you mean {best}?)"


def _deepest_context(exc: BaseException) -> object | None:
    """The context of the command whose arguments were being parsed: Click's parser raises some
    errors (`--model` with no value) without one, so `mlchat ask hi --model` would point at
    `mlchat --help`. It is the innermost frame's `ctx`."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        ctx = tb.tb_frame.f_locals.get("ctx")
        if isinstance(getattr(ctx, "command_path", None), str):
            found = ctx
        tb = tb.tb_next
    return found


def _undecodable_argument(argv: list[str]) -> str | None:
    """The first argument holding bytes that are not UTF-8 (Python keeps them as lone surrogates,
    which no request, config file or store row can carry), unless it names an existing file: a
    file name may be any bytes, and the file is read by its name."""
    if all(arg.isascii() for arg in argv):  # the common case: nothing to import
        return None
    import os
    import re

    bad = re.compile("[\ud800-\udfff]")
    for arg in argv:
        if not arg.isascii() and bad.search(arg) and not os.path.lexists(arg):
            return bad.sub(lambda m: f"<U+{ord(m.group()):04X}>", arg)
    return None


def main() -> None:
    bad = _undecodable_argument(sys.argv[1:])
    if bad is not None:
        sys.stderr.write(
            f"mlchat: error: an argument is not valid UTF-8: {bad}\n"
            "hint: pipe such text on stdin instead (invalid bytes there become U+FFFD)\n"
        )
        sys.exit(EXIT_USAGE)
    if sys.argv[1:] in (["--version"], ["-V"]):
        from mlchat import __version__

        sys.stdout.write(f"mlchat {__version__}\n")
        return
    from mlchat import helpcache

    cached, help_key = helpcache.lookup(sys.argv[1:])
    if cached is not None:
        sys.stdout.flush()
        sys.stdout.buffer.write(cached)
        sys.stdout.flush()
        return
    try:
        with helpcache.recording(help_key) as status:
            from mlchat.cli import app, fasthelp

            fasthelp.install()
            code = app(prog_name="mlchat", standalone_mode=False)
            status.append(code if type(code) is int else 0)
    except KeyboardInterrupt:  # Ctrl-C before a command's own boundary is in place
        sys.stderr.write("\nmlchat: interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if type(exc).__name__ == "Abort":  # Click's "input ended" (EOF at one of its prompts)
            sys.stderr.write("mlchat: aborted\n")
            sys.exit(1)
        found = _command_line_error(exc)
        if found is None:
            raise
        message, code, help_command = found
        if message:  # `mlchat` alone has printed the help already: nothing more to say
            sys.stderr.write(f"mlchat: error: {message}\nhint: see `{help_command}`\n")
            sys.stderr.flush()
    if type(code) is not int:  # a command that returned normally
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
