"""Help drawn once, replayed after: `mlchat ... --help` answered from a cache of what Typer drew.

Typer's rich help costs about 130 ms before it writes anything (importing Typer, Click and the
parts of rich it draws with, building the command, laying out its tables); a cached copy is
written in a few milliseconds, before Typer is imported. No library does this, hence our own.

It fails safe by construction: the cache holds only bytes that Typer itself wrote, and replays
them only when every input that could change them is the same as when they were written:

- the command line (the words before `--help` or `-h`, nothing else: anything with an option is
  never cached);
- the code: the path, size and modification time of every Python file of mlchat, Typer and
  rich, and the interpreter (version, executable, flags);
- the environment: every variable except the few a shell changes between commands (PWD, ...)
  and those whose names say they hold secrets, which help never reads (they are left out so
  that not even a digest of a key is written to disk);
- the terminal: whether stdin, stdout and stderr are terminals, their sizes, stdout's encoding.

The key is a SHA-256 digest of all of that, stored in the file beside the help. A help is
recorded only when the command wrote to stdout alone and exited 0. Anything unexpected (an
unreadable, truncated or foreign file, a platform whose cache directory we do not know, any
exception) means the cache is not used and Typer draws the help as usual. The files live in
mlchat's cache directory, under `help/`, owner-only, at most `KEEP` of them.

Imports: the standard library only (this runs before Typer is imported), and os.path rather
than pathlib, which would cost its own import on every help.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

MAGIC = b"mlchat-help-1\n"
KEEP = 200
HELP_FLAGS = ("--help", "-h")
# Changed by the shell between commands, never read by help.
VOLATILE = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS_SET", "PS1", "PS2"})
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASS", "AUTH", "CREDENTIAL", "COOKIE")
PACKAGES = ("mlchat", "typer", "rich")


def help_words(args: Sequence[str]) -> list[str] | None:
    """The command words of a plain help request (`sessions list --help`), else None."""
    if not args or args[-1] not in HELP_FLAGS:
        return None
    words = list(args[:-1])
    for word in words:
        if not word or word.startswith("-") or not all(ch.isalnum() or ch in "-_" for ch in word):
            return None
    return words


def cache_dir(env: dict[str, str] | os._Environ[str]) -> str | None:
    """platformdirs' user cache directory for mlchat, on the platforms where it is known."""
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "mlchat", "help")
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        base = env.get("XDG_CACHE_HOME", "").strip() or os.path.join(home, ".cache")
        return os.path.join(base, "mlchat", "help")
    return None


def _sha256() -> Any:
    try:  # the small built-in module: hashlib's OpenSSL costs ~4 ms to import
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256
    return sha256()


def _code(digest: Any) -> None:
    """Feed every Python file of the packages that draw help (path, size, mtime)."""
    here = os.path.dirname(os.path.abspath(__file__))
    roots = [here]
    for name in PACKAGES[1:]:
        for folder in sys.path:
            candidate = os.path.join(folder or ".", name)
            if os.path.isfile(os.path.join(candidate, "__init__.py")):
                roots.append(os.path.abspath(candidate))
                break
        else:
            raise LookupError(name)
    for root in roots:
        stack = [root]
        while stack:
            with os.scandir(stack.pop()) as it:
                entries: list[os.DirEntry[str]] = sorted(it, key=lambda e: e.name)
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "__pycache__":
                            stack.append(entry.path)
                    elif entry.name.endswith(".py"):
                        st = entry.stat()
                        digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def key(words: Sequence[str], env: dict[str, str] | os._Environ[str], streams: Any = None) -> str:
    digest = _sha256()
    digest.update(MAGIC)
    digest.update(repr(list(words)).encode())
    digest.update(f"{sys.version}\0{sys.executable}\0{sys.flags}\0{sys.platform}\n".encode())
    _code(digest)
    for name in sorted(env):
        if name in VOLATILE or any(word in name.upper() for word in SECRET_WORDS):
            continue
        digest.update(f"{name}={env[name]}\0".encode("utf-8", "surrogateescape"))
    for fd in (0, 1, 2):
        tty = os.isatty(fd)
        size = ""
        if tty:
            try:
                size = str(tuple(os.get_terminal_size(fd)))
            except OSError:
                size = "?"
        digest.update(f"\n{fd}:{tty}:{size}".encode())
    out = sys.stdout
    digest.update(f"\n{getattr(out, 'encoding', None)}:{getattr(out, 'errors', None)}".encode())
    return str(digest.hexdigest())


def lookup(args: Sequence[str]) -> tuple[bytes | None, str | None]:
    """(the cached help, if any; the key to record under, if this is a cacheable help)."""
    try:
        words = help_words(args)
        folder = cache_dir(os.environ) if words is not None else None
        if words is None or folder is None:
            return None, None
        k = key(words, os.environ)
        try:
            with open(os.path.join(folder, k[:32]), "rb") as f:
                data = f.read()
        except OSError:
            return None, k
        head = MAGIC + k.encode() + b"\n"
        if not data.startswith(head):
            return None, k
        size_line, _, body = data[len(head) :].partition(b"\n")
        if not size_line.isdigit() or int(size_line) != len(body) or not body:
            return None, k
        return body, k
    except Exception:
        return None, None


class _Tee:
    """A stream that passes everything to `inner` and keeps a copy, as bytes, of what was
    written (text encoded as `inner` encodes it; its binary buffer is copied too)."""

    def __init__(self, inner: Any, parts: list[bytes] | None = None) -> None:
        self._inner = inner
        self.parts: list[bytes] = [] if parts is None else parts
        self._encoding = getattr(inner, "encoding", None) or "utf-8"
        self._errors = getattr(inner, "errors", None) or "strict"

    def write(self, data: str | bytes) -> int:
        written: int = self._inner.write(data)
        if isinstance(data, str):
            self.parts.append(data.encode(self._encoding, self._errors))
        else:
            self.parts.append(bytes(data))
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    @property
    def buffer(self) -> _Tee:
        return _Tee(self._inner.buffer, self.parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def recording(k: str | None) -> Iterator[list[int]]:
    """Around drawing a help: keep what goes to stdout and store it under `k` if the caller
    sets the yielded list to [0] (exit status 0) and nothing went to stderr."""
    status: list[int] = []
    if k is None:
        yield status
        return
    out, err = sys.stdout, sys.stderr
    tee_out, tee_err = _Tee(out), _Tee(err)
    sys.stdout, sys.stderr = tee_out, tee_err
    try:
        yield status
    finally:
        sys.stdout, sys.stderr = out, err
    if status == [0] and not tee_err.parts and tee_out.parts:
        with suppress(Exception):  # a cache that cannot be written is only slower
            _store(k, b"".join(tee_out.parts))


def _store(k: str, body: bytes) -> None:
    folder = cache_dir(os.environ)
    if folder is None:
        return
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, k[:32])
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + k.encode() + b"\n" + str(len(body)).encode() + b"\n" + body)
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    _prune(folder)


def _prune(folder: str) -> None:
    with os.scandir(folder) as it:
        files = [(e.stat().st_mtime_ns, e.path) for e in it if e.is_file()]
    if len(files) > KEEP:
        for _, path in sorted(files)[: len(files) - KEEP]:
            with suppress(OSError):
                os.unlink(path)
