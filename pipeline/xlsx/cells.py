"""Writing values into files people open in spreadsheet programs (CSV, xlsx, TSV).

A value starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return would be run as a
formula by Excel or LibreOffice; every file we write passes such text through
:func:`escape_cell`, which keeps it as plain text with a leading apostrophe.
"""

from __future__ import annotations

from typing import Any, Final

FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """Text that a spreadsheet program would run as a formula is written as plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """The inverse of :func:`escape_cell`, for text read back from a file we wrote."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
