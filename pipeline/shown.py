"""Text from outside (a file name above all) as it may be shown: :func:`shown`.

A dropped file's name may hold control characters (a newline that forges a log line, an
escape sequence for a terminal) and bidirectional controls (U+202E turns ``gpj.xlsx`` into
what reads as ``xslx.jpg``). Receipts, logs and mails show such characters as ``<U+202E>``
and bytes that were not UTF-8 as ``<0xFF>``, so what a person reads is what is on disk. The
stored name (the database, the kept original) stays as it was; only what is shown changes.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

#: Unicode categories shown escaped: controls, format characters (every bidirectional
#: control, zero-width ones, the BOM), line and paragraph separators, surrogates.
_ESCAPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
#: Cheap pre-check: only text with a character outside printable ASCII is examined.
_ODD: Final = re.compile(r"[^\x20-\x7e]")


@lru_cache(maxsize=4096)
def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"<0x{code - 0xDC00:02X}>"
    if unicodedata.category(char) in _ESCAPED_CATEGORIES:
        return f"<U+{code:04X}>"
    return char


def shown(text: str, *, keep: str = "") -> str:
    """``text`` with every control, format (bidi), separator and surrogate character written
    ``<U+XXXX>`` (an undecodable byte ``<0xNN>``); characters in ``keep`` (e.g. ``"\\n"`` for
    a text of several lines) stay as they are."""
    if not _ODD.search(text):
        return text
    return "".join(c if c in keep else _escape(c) for c in text)
