"""Prompt sources: reading piped stdin and files, decoding them, and joining them with the
argument into the one prompt that `ask` sends and `tokens` counts. Imports: the standard library
and errors only; warnings go to a callback, so the caller decides where they are shown.

Each source (stdin, a file) is read and decoded by the same rules:

- More than MAX_BYTES is refused before anything is sent: no model takes that much, and the user
  likely piped the wrong thing. The read stops at MAX_BYTES + 1, so `/dev/zero` is refused too.
- Binary input (a NUL byte anywhere, or more than 10% control bytes in the first 8 KiB) is refused
  with its size, unless the caller allows it: a model cannot read a tarball, and sending one costs
  money and a confusing answer.
- UTF-8 (with or without a byte order mark) is decoded as is; UTF-16/32 with a byte order mark is
  decoded as such (Windows tools write it); anything else is decoded as UTF-8 with U+FFFD for the
  invalid bytes, and one warning says where the first one was.

The sources are joined in order (stdin, each file, the argument) with blank lines between them;
newlines around stdin and files are trimmed, the argument is kept as typed, and blank sources are
left out.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from mlchat.errors import MlchatError, UsageError

MAX_BYTES = 50_000_000
SAMPLE = 8192
CONTROL_RATIO = 0.10
STDIN = "-"  # the file name that stands for stdin

# Bytes that never appear in text: C0 controls other than \b \t \n \v \f \r and ESC, and DEL.
_CONTROL = bytes([*range(0x08), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    size: int  # bytes read
    warnings: tuple[str, ...] = ()


def human_size(n: int) -> str:
    """Bytes as a person reads them: "512 bytes", "3.4 KB", "12.0 MB" (powers of 1000)."""
    if n < 1000:
        return f"{n} byte" + ("" if n == 1 else "s")
    size = float(n)
    for unit in ("KB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


def read_capped(stream: IO[bytes], source: str = "stdin") -> bytes:
    """All of `stream`, or UsageError when it holds more than MAX_BYTES."""
    try:
        data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise MlchatError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        hint = f"tail -c 1000000 {'FILE' if source == 'stdin' else source} | mlchat ..."
        raise UsageError(
            f"{source} is larger than {human_size(MAX_BYTES)}; nothing was sent",
            hint=f"send a part of it, e.g. `{hint}`",
        )
    return bytes(data)


def read_file(name: str, *, allow_binary: bool = False) -> Decoded:
    """The file `name`, read and decoded; a file that cannot be read is a usage error."""
    try:
        with open(name, "rb") as f:  # noqa: PTH123 - a name as typed, not a Path
            data = read_capped(f, name)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    except MlchatError as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(exc.message) from None
    return decode(data, source=name, allow_binary=allow_binary)


def decode(data: bytes, *, source: str = "stdin", allow_binary: bool = False) -> Decoded:
    """`data` as text by the rules above; `source` names it in messages."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    if encoding.startswith("utf-8"):  # UTF-16/32 text is full of NULs: no binary check there
        reason = binary_reason(data)
        if reason is not None and not allow_binary:
            raise UsageError(
                f"{source} looks binary ({human_size(len(data))}, {reason}); nothing was sent",
                hint="pass --allow-binary to send it anyway, decoded as UTF-8",
            )
    try:
        return Decoded(data.decode(encoding), len(data))
    except UnicodeDecodeError as exc:
        where = exc.start
    text = data.decode(encoding, errors="replace")
    name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
    warning = (
        f"{source} is not valid {name} (first bad byte at offset {where}); "
        "invalid bytes were replaced with U+FFFD"
    )
    return Decoded(text, len(data), (warning,))


def binary_reason(data: bytes) -> str | None:
    """Why `data` is not text, or None when it looks like text."""
    if b"\x00" in data:
        return "it contains NUL bytes"
    sample = data[:SAMPLE]
    if sample:
        controls = len(sample) - len(sample.translate(None, _CONTROL))
        if controls / len(sample) > CONTROL_RATIO:
            return f"{controls * 100 // len(sample)}% of its first bytes are control codes"
    return None


def join(sources: Sequence[str], argument: str | None) -> str:
    """The prompt: each source trimmed of surrounding newlines, then the argument as typed,
    joined by blank lines; blank pieces are left out. "" when everything is blank."""
    pieces = [s.strip("\n") for s in sources] + [argument or ""]
    return "\n\n".join(p for p in pieces if p.strip())


def assemble(
    stdin: IO[bytes] | None,
    argument: str | None,
    *,
    piped: bool,
    files: Sequence[str] = (),
    allow_binary: bool = False,
    warn: Callable[[str], None],
) -> str:
    """The prompt from every source: stdin (when `piped`, or where a file named "-" puts it),
    each file in order, then the argument. Every source is read and decoded before anything is
    returned, so a bad one fails before any request; each decoding warning goes to `warn`.
    "" when all of it is blank (the caller words that usage error)."""
    sources: list[str] = []
    stdin_read = False

    def from_stdin() -> str:
        nonlocal stdin_read
        if stdin_read or stdin is None:
            return ""
        stdin_read = True
        got = decode(read_capped(stdin), allow_binary=allow_binary)
        for warning in got.warnings:
            warn(warning)
        return got.text

    if piped and STDIN not in files:
        sources.append(from_stdin())
    for name in files:
        if name == STDIN:
            sources.append(from_stdin())
            continue
        got = read_file(name, allow_binary=allow_binary)
        for warning in got.warnings:
            warn(warning)
        sources.append(got.text)
    return join(sources, argument)
