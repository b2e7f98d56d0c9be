"""Make model text safe to show on a terminal: control characters are shown escaped, never obeyed.

A model can emit ESC sequences (colours, cursor moves, OSC 8 links, window titles, even OSC 52
clipboard writes); written raw to a terminal they would be executed. `escape_controls` turns
every control character into visible text: C0 controls and DEL in caret notation (ESC -> `^[`,
BEL -> `^G`, DEL -> `^?`), C1 controls (which some terminals obey as 8-bit CSI/OSC) as `<U+009B>`.
Newlines and tabs are kept; a carriage return is kept only as part of CRLF, which becomes a plain
newline (a lone CR would let text overwrite the line it is on).

Used only on terminals: piped output stays exactly the model's text. Imports the standard library.
"""

from __future__ import annotations

import re

_TABLE: dict[int, str] = {code: "^" + chr(code + 64) for code in range(0x20) if code not in (9, 10)}
_TABLE[0x7F] = "^?"
_TABLE.update({code: f"<U+{code:04X}>" for code in range(0x80, 0xA0)})

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """`text` with every control character but newline and tab made visible (see the module)."""
    if _CONTROL.search(text) is None:  # the common case: one C-level scan, no copy
        return text
    return text.replace("\r\n", "\n").translate(_TABLE)
