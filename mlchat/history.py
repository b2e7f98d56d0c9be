"""The persistent input history of `mlchat chat`, shared safely by REPLs running at once.

The file keeps prompt_toolkit's FileHistory format, so an existing history stays readable. Each
entry is written with one O_APPEND write under an exclusive lock, readers take a shared lock, and
each prompt re-reads only what other REPLs appended since. Imports the standard library only; the
prompt_toolkit adapter lives in mlchat/repl/prompt.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def _lock(fd: int, exclusive: bool) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: O_APPEND alone keeps entries whole
        return
    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)


def _parse_history(data: bytes) -> list[str]:
    """Entries (oldest first) in prompt_toolkit's FileHistory format: `# <time>` opens an entry,
    each of its lines is stored as `+<line>`."""
    entries: list[str] = []
    lines: list[str] = []
    for raw in data.decode("utf-8", errors="replace").split("\n"):
        if raw.startswith("+"):
            lines.append(raw[1:])
        elif lines:
            entries.append("\n".join(lines))
            lines = []
    if lines:
        entries.append("\n".join(lines))
    return entries


class HistoryFile:
    """The REPL's input history, shared by every REPL running at once.

    The file keeps prompt_toolkit's FileHistory format, so it stays readable by other tools.
    FileHistory appends an entry in several buffered writes, which two REPLs can interleave;
    here each entry is one `write` on an O_APPEND descriptor under an exclusive `flock`, and
    readers take a shared lock, so no reader ever sees half an entry. The file is append-only,
    so `refresh` reads only what other REPLs added since the last look.
    """

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._warn = warn
        self._entries: list[str] = []
        self._offset = 0
        self._ident: tuple[int, int] | None = None
        self._broken = False

    def entries(self) -> list[str]:
        """Every entry, oldest first, including those other REPLs have added."""
        self.refresh()
        return self._entries

    def refresh(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            self._entries, self._offset, self._ident = [], 0, None
            return
        except OSError as exc:
            self._fail("read", exc)
            return
        try:
            _lock(fd, exclusive=False)
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if ident != self._ident or st.st_size < self._offset:
                # A new or rewritten file: read it all again.
                self._entries, self._offset, self._ident = [], 0, ident
            if st.st_size > self._offset:
                os.lseek(fd, self._offset, os.SEEK_SET)
                data = _read_all(fd, st.st_size - self._offset)
                self._entries.extend(_parse_history(data))
                self._offset += len(data)
        except OSError as exc:
            self._fail("read", exc)
        finally:
            os.close(fd)

    def append(self, text: str) -> None:
        import datetime

        lines = "".join(f"+{line}\n" for line in text.split("\n"))
        data = f"\n# {datetime.datetime.now()}\n{lines}".encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            self._fail("write", exc)
            return
        caught_up = False
        try:
            _lock(fd, exclusive=True)
            before = os.fstat(fd)
            caught_up = (before.st_dev, before.st_ino) == self._ident and (
                before.st_size == self._offset
            )
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            self._fail("write", exc)
            return
        finally:
            os.close(fd)  # closing releases the lock
        if caught_up:
            self._entries.append(text)
            self._offset += len(data)
        else:
            self.refresh()  # another REPL wrote in between: read theirs and ours in file order

    def _fail(self, what: str, exc: OSError) -> None:
        if not self._broken and self._warn is not None:
            self._warn(f"cannot {what} the input history {self.path}: {exc.strerror or exc}")
        self._broken = True


def _read_all(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
