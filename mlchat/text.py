"""The rules for showing untrusted text: the one sanitiser and the one clipper. Pure: imports the
standard library only, so every layer can use it (the store names a conversation in an error
message, a provider cuts an error body to one line, the UI draws replies).

Sanitising (`escape_controls`, and `StreamEscaper` for text that arrives in chunks): a model or
a stored conversation can hold ESC sequences (colours, cursor moves, OSC 8 links, window titles,
even OSC 52 clipboard writes); written raw to a terminal they would be executed. Every control
character becomes visible text instead, in one form everywhere: C0 controls and DEL in caret
notation (ESC -> `^[`, BEL -> `^G`, DEL -> `^?`, as `cat -v` shows them); C1 controls (which
some terminals obey as 8-bit CSI/OSC), the bidirectional overrides and isolates (which reorder
what is shown, "Trojan Source"), and lone surrogates (which no terminal encoding can carry) as
`<U+009B>`. Newlines and tabs are kept; a carriage return is kept only as part of CRLF, which
becomes a plain newline (a lone CR would let text overwrite the line it is on).

Used only for terminals and messages: piped output stays exactly the model's text.

JSON (`json_text`): every JSON document mlchat prints. `json.dumps` escapes the C0 controls but,
with `ensure_ascii=False`, writes DEL, C1, the bidi controls and lone surrogates raw; they are
written as `\\u` escapes instead, so the document is the same JSON value and safe on a terminal
(a lone surrogate would otherwise fail to encode). JSON read from the network (`json_loads`,
`without_surrogates`): a lone surrogate escaped in it (`"\\ud800"`) becomes U+FFFD, as text
from the wire does, so what mlchat passes on (tool arguments in `--json`, to a tool) is Unicode.

Clipping (`clip`, `first_line`): text shown in one line of a status message is cut to a number
of characters, whitespace runs made one space, and an ellipsis marks the cut.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

_TABLE: dict[int, str] = {code: "^" + chr(code + 64) for code in range(0x20)}
_TABLE[0x7F] = "^?"
_TABLE.update({code: f"<U+{code:04X}>" for code in range(0x80, 0xA0)})
_TABLE.update({ord(ch): f"<U+{ord(ch):04X}>" for ch in _BIDI})
_TABLE.update({code: f"<U+{code:04X}>" for code in range(0xD800, 0xE000)})

ELLIPSIS = "…"

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

_JSON_UNSAFE = re.compile("[\x7f-\x9f" + "".join(re.escape(ch) for ch in _BIDI) + "\ud800-\udfff]")


@cache
def _rule(keep: str) -> tuple[re.Pattern[str], dict[int, str]]:
    table = {code: shown for code, shown in _TABLE.items() if chr(code) not in keep}
    chars = "".join(re.escape(chr(code)) for code in sorted(table) if code < 0xD800)
    return re.compile(f"[{chars}\ud800-\udfff]"), table


def escape_controls(text: str, keep: str = "\n\t") -> str:
    """`text` with every control character not in `keep` made visible (see the module)."""
    pattern, table = _rule(keep)
    if pattern.search(text) is None:  # the common case: one C-level scan, no copy
        return text
    return text.replace("\r\n", "\n").translate(table)


def json_text(value: object, *, indent: int | None = None) -> str:
    """`value` as JSON (UTF-8 text kept as is), with the characters a terminal could obey, or an
    encoder refuse, written as `\\uXXXX` escapes (see the module): the same JSON value."""
    import json

    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class StreamEscaper:
    """`escape_controls` across chunk boundaries: a CR at the end of a chunk waits for the next
    one, in case it is the first half of a CRLF. Inactive, it passes text through untouched."""

    def __init__(self, active: bool = True) -> None:
        self._active = active
        self._cr = False

    def __call__(self, text: str) -> str:
        if not self._active:
            return text
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r")
        return escape_controls(text[:-1] if self._cr else text)

    def flush(self) -> str:
        was, self._cr = self._cr, False
        return escape_controls("\r") if was else ""


def clip(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs become one space), at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def first_line(text: str, limit: int) -> str:
    """The first line of `text`, clipped; an ellipsis also says that more lines follow."""
    lines = text.strip().splitlines() or [""]
    first = clip(lines[0], limit)
    if len(lines) > 1 and not first.endswith(ELLIPSIS):
        first = first[: limit - 1].rstrip() + ELLIPSIS
    return first


def without_surrogates(value: Any) -> Any:
    """`value` (parsed JSON) with every lone surrogate in its strings and keys made U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    return value


def json_loads(text: str) -> Any:
    """`json.loads` of JSON that came from the network, lone surrogates made U+FFFD. Raises what
    `json.loads` raises, and RecursionError for nesting deeper than the stack."""
    value = json.loads(text)
    return without_surrogates(value) if "\\u" in text and has_surrogate_escape(text) else value


def has_surrogate_escape(text: str) -> bool:
    """`text` (JSON) escapes a surrogate: perhaps a lone one."""
    return _SURROGATE_ESCAPE.search(text) is not None
