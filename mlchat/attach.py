"""Attachments: turning the sources a user names (`-f SOURCE`, `@path`, `/file`) into the parts of
one user message. Imports: the standard library, types, errors and prompt_input (one decoder for
every text source); pathspec only when a directory or a glob is walked, and mlchat.fetch (httpx,
the HTML converter) only when a URL is given, so a command that attaches nothing pays for none.

A SOURCE is, in this order of checks:

- `-`: piped stdin (read once, whoever names it first);
- an `http://` or `https://` URL: fetched later (see `mlchat.fetch`), after every local source
  has been read, so a missing file fails before any network traffic;
- an existing file: an image (PNG, JPEG, WebP or GIF, recognised by its first bytes, not its name)
  becomes an image part; other binary files are refused; text becomes a labelled block;
- an existing directory: its text files, recursively, in sorted order, leaving out hidden files
  and directories, what `.gitignore` files ignore (those of the enclosing git work tree too), and
  binaries (images included: a folder is read for its text);
- a glob (`*`, `?`, `[...]`, `**` for any depth): the matching text files, in sorted order, with
  the same rules as a directory.

A file named explicitly is always read, even if hidden or ignored: the user asked for it.

Limits (Limits; raised with --max-files / --max-bytes or `attach_max_files` / `attach_max_bytes`
in the config file): at most 1,000 files and 20 MB of text per message, 20 MB per image. Over a
limit nothing is sent: a directory that large is almost always the wrong one (node_modules, a
build tree), and a context window of a million tokens holds about 4 MB of text anyway.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from mlchat.errors import UsageError
from mlchat.prompt_input import STDIN, binary_reason, decode, human_size, read_capped
from mlchat.types import ImagePart, Part, TextPart, image_type

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

MAX_FILES = 1000
MAX_BYTES = 20_000_000
GLOB_CHARS = frozenset("*?[")
LIMIT_HINT = "raise the limits with --max-files / --max-bytes (or attach_max_files / "
LIMIT_HINT += "attach_max_bytes in the config file), or name fewer files"
_SURROGATE = re.compile("[\ud800-\udfff]")
IMAGE_TYPES = "PNG, JPEG, WebP or GIF"
# Text with a byte order mark (UTF-16 and UTF-32 are full of NUL bytes) is decoded, not refused.
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)


@dataclass(frozen=True, slots=True)
class Limits:
    files: int = MAX_FILES
    text_bytes: int = MAX_BYTES  # all the text of one message together
    image_bytes: int = MAX_BYTES  # each image


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class Pending:
    """A URL to fetch once every local source has been read."""

    url: str


@dataclass(slots=True)
class Collected:
    """The parts read so far, in order (URLs still pending), and the running totals."""

    items: list[Part | Pending] = field(default_factory=list)
    files: int = 0
    text_bytes: int = 0


class Reader:
    """Reads sources into parts under one set of limits; `note` gets the one line per directory
    or glob that says what was included, `warn` the decoding warnings."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        stdin: IO[bytes] | None = None,
        allow_binary: bool = False,
        warn: Callable[[str], None],
        note: Callable[[str], None],
        cwd: Path | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._stdin = stdin
        self._stdin_read = False
        self._allow_binary = allow_binary
        self._warn = warn
        self._note = note
        self._cwd = cwd
        self.got = Collected()

    # -- one source ----------------------------------------------------------------------------

    def add(self, source: str) -> None:
        if source == STDIN:
            self.add_stdin()
            return
        if is_url(source):
            self.got.items.append(Pending(source))
            return
        path = self._path(source)
        try:
            is_dir = path.is_dir()
            exists = is_dir or path.exists()
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
        if is_dir:
            self._many(source, _walk(path, source), what=source)
        elif exists:
            self._file(source, path, explicit=True)
        elif GLOB_CHARS & set(source):
            self._many(source, _glob(source, self._cwd), what=source, pattern=True)
        else:
            raise UsageError(f"cannot read {source}: No such file or directory")

    def add_stdin(self) -> None:
        if self._stdin_read or self._stdin is None:
            return
        self._stdin_read = True
        got = decode(read_capped(self._stdin), allow_binary=self._allow_binary)
        for warning in got.warnings:
            self._warn(warning)
        self.got.items.append(TextPart(got.text.strip("\n")))

    def add_text(self, text: str) -> None:
        """Text typed by the user (the argument, a REPL line): not counted against the limits."""
        self.got.items.append(TextPart(text))

    # -- files -----------------------------------------------------------------------------------

    def _path(self, source: str) -> Path:
        path = Path(source).expanduser()
        return path if self._cwd is None or path.is_absolute() else self._cwd / path

    def _read(self, source: str, path: Path, limit: int) -> bytes:
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
        return data

    def _file(self, source: str, path: Path, *, explicit: bool) -> bool:
        """Read one file; False when a walked file is left out (binary, or an image: a folder is
        read for its text). An explicit binary file that is not a supported image is an error;
        a blank text file is left out, as blank stdin is."""
        limits = self.limits
        limit = max(limits.image_bytes, limits.text_bytes)
        data = self._read(source, path, limit)
        media = image_type(data)
        if media is not None and not explicit:
            return False
        if len(data) > (limits.image_bytes if media else limits.text_bytes):
            what = "the limit for one image" if media else "the limit for attached text"
            size = limits.image_bytes if media else limits.text_bytes
            raise UsageError(
                f"{source} is larger than {human_size(size)} ({what}); nothing was sent",
                hint=LIMIT_HINT,
            )
        label = _as_text(source)
        if media is not None:
            self.got.items.append(ImagePart(media, data, label))
            self.got.files += 1
            self._check_files(source)
            return True
        reason = None if data.startswith(_BOMS) else binary_reason(data)
        if reason is not None and not (explicit and self._allow_binary):
            if not explicit:
                return False
            raise UsageError(
                f"{source} looks binary ({human_size(len(data))}, {reason}) and is not an image "
                f"mlchat can send ({IMAGE_TYPES}); nothing was sent",
                hint="attach text files or images; --allow-binary sends it as UTF-8 text",
            )
        self._count_text(len(data), source)
        got = decode(data, source=source, allow_binary=True)
        for warning in got.warnings:
            self._warn(warning)
        if got.text.strip():
            self.got.items.append(TextPart(got.text, label))
        self.got.files += 1
        self._check_files(source)
        return True

    def _count_text(self, size: int, source: str) -> None:
        self.got.text_bytes += size
        if self.got.text_bytes > self.limits.text_bytes:
            raise UsageError(
                f"the attachments are over {human_size(self.limits.text_bytes)} of text "
                f"(at {source}); nothing was sent",
                hint=LIMIT_HINT,
            )

    def _check_files(self, source: str) -> None:
        if self.got.files > self.limits.files:
            raise UsageError(
                f"more than {self.limits.files:,} files to attach (at {source}); nothing was sent",
                hint=LIMIT_HINT,
            )

    def _many(
        self,
        source: str,
        found: Iterator[tuple[str, Path]],
        *,
        what: str,
        pattern: bool = False,
    ) -> None:
        files = skipped = size = 0
        for label, path in found:
            before = self.got.text_bytes
            if self._file(label, path, explicit=False):
                files += 1
                size += self.got.text_bytes - before
            else:
                skipped += 1
        if files == 0:
            found_what = "matches no text files" if pattern else "holds no text files"
            left = f" ({skipped} binary left out)" if skipped else ""
            raise UsageError(f"{source} {found_what}{left}; nothing was sent")
        extra = f", {skipped} binary left out" if skipped else ""
        self._note(
            f"mlchat: {what}: {files} file{'s' if files != 1 else ''}, {human_size(size)}{extra}"
        )


def collect(
    sources: Sequence[str],
    *,
    argument: str | None,
    piped: bool,
    stdin: IO[bytes] | None,
    limits: Limits | None = None,
    allow_binary: bool = False,
    warn: Callable[[str], None],
    note: Callable[[str], None],
) -> Collected:
    """Every source of a command line in the documented order: piped stdin (unless a source
    names `-`), each SOURCE in the order given, then the argument. Local sources are read now;
    URLs are left `Pending` for `fetch.resolve`."""
    reader = Reader(limits=limits, stdin=stdin, allow_binary=allow_binary, warn=warn, note=note)
    if piped and STDIN not in sources:
        reader.add_stdin()
    for source in sources:
        reader.add(source)
    if argument:
        reader.add_text(argument)
    return reader.got


# -- walking directories and globs ----------------------------------------------------------------


def _as_text(name: str) -> str:
    """A file name as the text of a label: the bytes of a name that are not UTF-8 (which Python
    holds as lone surrogates, and no JSON request or store row can carry) become U+FFFD."""
    return name if name.isascii() else _SURROGATE.sub("\ufffd", name)


def _hidden(name: str) -> bool:
    return name.startswith(".")


class _Ignores:
    """The `.gitignore` rules that apply below `root`: those of each directory from the top of
    the enclosing git work tree (if any) down to the file, deeper files overriding shallower ones
    (git's order), each matched against the path relative to its own directory."""

    def __init__(self, root: Path) -> None:
        self._specs: dict[Path, GitIgnoreSpec | None] = {}
        root = root.resolve()
        top = root
        for parent in (root, *root.parents):
            if (parent / ".git").exists():
                top = parent
                break
        self._top = top

    def _spec(self, directory: Path) -> GitIgnoreSpec | None:
        if directory not in self._specs:
            spec = None
            try:
                text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            if text.strip():
                from pathspec import GitIgnoreSpec

                spec = GitIgnoreSpec.from_lines(text.splitlines())
            self._specs[directory] = spec
        return self._specs[directory]

    def ignored(self, path: Path, *, is_dir: bool, resolved: bool = False) -> bool:
        """Whether git would ignore `path`; `resolved` says it is already absolute and free of
        symlinks (a walk from a resolved root), which saves a realpath per file."""
        if not resolved:
            path = path.resolve()
        try:
            rel = path.relative_to(self._top)
        except ValueError:
            return False
        verdict = False
        directory = self._top
        parts = rel.parts
        for depth in range(len(parts)):
            spec = self._spec(directory)
            if spec is not None:
                tail = "/".join(parts[depth:]) + ("/" if is_dir else "")
                result = spec.check_file(tail)
                if result.include is not None:
                    verdict = bool(result.include)
            directory = directory / parts[depth]
        return verdict


def _walk(root: Path, label: str) -> Iterator[tuple[str, Path]]:
    """The files below `root` in sorted order (by path), hidden and ignored ones left out,
    each with its label (`label` joined with the path inside `root`)."""
    ignores = _Ignores(root)
    prefix = label.rstrip("/\\")
    # Walked from its real path, every directory below is real too (symlinked ones are not
    # entered), so the ignore rules need no realpath per file.
    root = root.resolve()

    def visit(directory: Path, rel: str) -> Iterator[tuple[str, Path]]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise UsageError(f"cannot read {prefix}/{rel}: {exc.strerror or exc}") from None
        for entry in entries:
            if _hidden(entry.name):
                continue
            path = Path(entry.path)
            inner = f"{rel}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file()
            except OSError:
                continue
            if ignores.ignored(path, is_dir=is_dir, resolved=not entry.is_symlink()):
                continue
            if is_dir:
                yield from visit(path, inner + "/")
            elif is_file:
                yield (f"{prefix}/{inner}" if prefix else inner), path

    yield from visit(root, "")


def _glob(pattern: str, cwd: Path | None) -> Iterator[tuple[str, Path]]:
    import glob

    # Path.glob takes no absolute or ~ patterns; glob.glob takes any the shell would.
    expanded = os.path.expanduser(pattern)  # noqa: PTH111 - a pattern, not a path
    base = _static_prefix(expanded)
    root = Path(base or ".")
    if cwd is not None and not root.is_absolute():
        root = cwd / root
    ignores = _Ignores(root) if root.is_dir() else None
    names = glob.glob(expanded, root_dir=cwd, recursive=True)  # noqa: PTH207
    for name in sorted(names):
        path = Path(name) if cwd is None or Path(name).is_absolute() else cwd / name
        inside = name[len(base) :] if name.startswith(base) else name
        if any(_hidden(p) for p in Path(inside).parts):
            continue  # glob leaves hidden names out of wildcards; a literal one is kept here too
        if not path.is_file():
            continue
        if ignores is not None and ignores.ignored(path, is_dir=False):
            continue
        yield name, path


def _static_prefix(pattern: str) -> str:
    """The directory part of `pattern` before its first wildcard ("src/" for "src/**/*.py")."""
    parts = pattern.replace("\\", "/").split("/")
    static: list[str] = []
    for part in parts[:-1]:
        if GLOB_CHARS & set(part):
            break
        static.append(part)
    return "/".join(static) + "/" if static else ""
