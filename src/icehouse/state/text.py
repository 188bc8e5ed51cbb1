"""Text as the state database can store it and a terminal can show it.

PostgreSQL rejects NUL in text ("text fields cannot contain NUL (0x00) bytes"), both
databases reject strings that are not valid Unicode (lone surrogates), and control bytes
in a quarantined line would drive the terminal that shows it. Text that came from
outside (a bad line, a reason quoting its value) passes through :func:`storable_text`
before it is stored: such characters become ``\\xNN`` (``\\uNNNN`` for a surrogate),
tabs and newlines stay. The escaped copy is for people; whatever needs the original
bytes (``quarantine replay``) reads them from the file again.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and UTF-16 surrogates (never valid alone).
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def storable_text(text: str) -> str:
    """``text`` with NUL, control characters and surrogates escaped (see the module)."""
    return _UNSTORABLE.sub(_escape, text)


def storable_or_none(text: str | None) -> str | None:
    return None if text is None else storable_text(text)
