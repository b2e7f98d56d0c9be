"""Writing a file all at once: the one helper behind every file mlchat replaces (the config
file, the model cache, `sessions export`). Imports: the standard library only.

A crash, a full disk or Ctrl-C leaves the old file or the whole new one, never half of either:
the bytes go to a temporary file in the same directory, are flushed to the disk, and the
temporary file is renamed over the target (os.replace: atomic on POSIX and Windows); the
directory is then synced so the rename itself survives a power cut. The new file is owner-only
(0600, whatever the umask): every file we write holds a key or a conversation. A symlinked target
(dotfile managers) is written through the link. Errors are OSError, worded by the caller.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

FILE_MODE = 0o600


def write_atomic(path: Path, data: bytes | str, *, replace: bool = True) -> None:
    """Replace `path` with `data` (text is written as UTF-8, newlines as given); the parent
    directory must exist. Raises OSError and leaves no temporary file behind. With
    `replace=False` an existing file is never replaced, even one created meanwhile by another
    process: FileExistsError (the temporary file is linked to the name, which fails if it is
    taken, instead of renamed over it)."""
    with suppress(OSError):
        if path.is_symlink():
            path = path.resolve()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # A name of our own (the pid) so that two mlchat processes never share a temp file.
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    fd = _create(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            tmp.replace(path)
        else:
            _link_new(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _link_new(tmp: Path, path: Path) -> None:
    """`tmp` under the name `path`, which must not exist yet."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if path.exists() or path.is_symlink():
            raise FileExistsError(path) from None
        tmp.replace(path)
        return
    tmp.unlink()


def _create(tmp: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, FILE_MODE)
    except FileExistsError:
        # Left by a process with our pid that died mid-write; a directory or link is not ours.
        if tmp.is_symlink() or not tmp.is_file():
            raise
        tmp.unlink()
        fd = os.open(tmp, flags, FILE_MODE)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away; make it exactly 0600
    return fd


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
