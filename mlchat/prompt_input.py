"""Reading piped input: size limit, binary refusal, and decoding. Imports: the standard library
and errors only; warnings are returned, not printed, so the caller decides where they go.

- Binary input (a NUL byte anywhere, or more than 10% control bytes in the first 8 KiB) is refused
  with its size, unless the caller allows it: a model cannot read a tarball, and sending one costs
  money and a confusing answer.
- UTF-8 (with or without a byte order mark) is decoded as is; UTF-16/32 with a byte order mark is
  decoded as such (Windows tools write it); anything else is decoded as UTF-8 with U+FFFD for the
  invalid bytes, and one warning says where the first one was.
- More than MAX_BYTES is refused before anything is sent: no model takes that much, and the user
  likely piped the wrong thing.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import IO, Any

from mlchat.errors import MlchatError, UsageError

MAX_BYTES = 50_000_000
SAMPLE = 8192
CONTROL_RATIO = 0.10

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
class Piped:
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


def read_piped(stream: IO[bytes] | IO[str] | Any, *, allow_binary: bool = False) -> Piped:
    """Read all of `stream` and decode it; raise UsageError for binary or oversized input."""
    try:
        data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise MlchatError(f"cannot read stdin: {exc.strerror or exc}") from None
    if isinstance(data, str):  # a text stream (some test harnesses, some wrappers)
        data = data.encode("utf-8", errors="surrogateescape")
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"stdin is larger than {human_size(MAX_BYTES)}; nothing was sent",
            hint="send a part of it, e.g. `tail -c 1000000 FILE | mlchat ask ...`",
        )
    return decode(bytes(data), allow_binary=allow_binary)


def decode(data: bytes, *, allow_binary: bool = False) -> Piped:
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    if encoding.startswith("utf-8"):  # UTF-16/32 text is full of NULs: no binary check there
        reason = binary_reason(data)
        if reason is not None and not allow_binary:
            raise UsageError(
                f"stdin looks binary ({human_size(len(data))}, {reason}); nothing was sent",
                hint="pass --allow-binary to send it anyway, decoded as UTF-8",
            )
    try:
        return Piped(data.decode(encoding), len(data))
    except UnicodeDecodeError as exc:
        where = exc.start
    text = data.decode(encoding, errors="replace")
    name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
    warning = (
        f"stdin is not valid {name} (first bad byte at offset {where}); "
        "invalid bytes were replaced with U+FFFD"
    )
    return Piped(text, len(data), (warning,))


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
