"""The text of one cell in SpreadsheetML: XML escaping, numbers, dates and cell references.

Owns turning a Python value into a ``<c>`` element (inline strings, booleans, numbers, dates
as Excel serial numbers in the 1900 system), XML-escaping text and dropping the characters
XML 1.0 forbids, and converting between ``"B13"`` and (row, column). Also the two constants
every part of the package starts with (the XML declaration, the main namespace).

Which format a cell has is the caller's (:mod:`pipeline.xlsx.styles` numbers the formats);
where a cell goes is the caller's (:mod:`pipeline.xlsx.sheetxml` assembles the sheets).
Formula-like text must be escaped by the caller (:func:`pipeline.xlsx.cells.escape_cell`):
every string is written as a plain string cell, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any, Final

MAIN_NS: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XML_DECL: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
#: Characters XML 1.0 does not allow (tab, line feed and carriage return it does).
_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: Anything that makes a text need more than copying: markup, illegal characters, and a
#: carriage return (a parser would turn a literal one into a line feed).
_SPECIAL: Final = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]")
EPOCH: Final = dt.date(1899, 12, 30).toordinal()
#: From this day on, a date's serial number is its distance from ``EPOCH``.
NO_LEAP_BUG: Final = dt.date(1900, 3, 1)


def without_illegal(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (what :func:`escape_text` drops)."""
    return _ILLEGAL.sub("", text) if _ILLEGAL.search(text) else text


def escape_text(text: str) -> str:
    """``text`` as XML character data: markup escaped, forbidden characters dropped."""
    if _SPECIAL.search(text) is None:
        return text
    text = _ILLEGAL.sub("", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def escape_attr(text: str) -> str:
    """``text`` as a double-quoted XML attribute value."""
    return escape_text(text).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")


def _text_element(text: str) -> str:
    escaped = escape_text(text)
    if escaped[:1].isspace() or escaped[-1:].isspace():
        return f'<t xml:space="preserve">{escaped}</t>'
    return f"<t>{escaped}</t>"


def excel_serial(value: dt.date) -> float | int:
    """A date (or date and time) as an Excel serial number in the 1900 date system."""
    days = value.toordinal() - EPOCH
    if days < 61:  # Excel counts a 29 February 1900 that never was
        days -= 1
    if isinstance(value, dt.datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return days + (seconds + value.microsecond / 1e6) / 86400
    return days


def number_text(value: float) -> str:
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def cell_xml(ref: str, value: Any, style: int = 0) -> str:
    """One ``<c>`` element; an empty string for an empty cell without a format."""
    s = f' s="{style}"' if style else ""
    kind = type(value)
    if value is None or value == "":  # an empty string is an empty cell, as Excel has it
        return f'<c r="{ref}"{s}/>' if style else ""
    if kind is str:
        return f'<c r="{ref}"{s} t="inlineStr"><is>{_text_element(value)}</is></c>'
    if kind is bool:
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if kind is int:
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if kind is float or kind is Decimal:
        number = float(value)
        if not math.isfinite(number):
            return cell_xml(ref, str(value), style)
        return f'<c r="{ref}"{s}><v>{number_text(number)}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}"{s}><v>{number_text(excel_serial(value))}</v></c>'
    # Subclasses (an IntEnum, a str enum) are written as their base type.
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return cell_xml(ref, base(value), style)
    return cell_xml(ref, str(value), style)


def column_letter(index: int) -> str:
    """``1`` → ``A``, ``27`` → ``AA``."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def split_ref(ref: str) -> tuple[int, int]:
    """``"B13"`` → ``(13, 2)`` (row, column)."""
    match = re.fullmatch(r"([A-Z]{1,3})([0-9]+)", ref)
    if match is None:
        raise ValueError(f"not a cell reference: {ref!r}")
    column = 0
    for ch in match.group(1):
        column = column * 26 + ord(ch) - 64
    return int(match.group(2)), column
