"""The framing between the daemon and the parser's process: an 8-byte big-endian length,
then a pickle. Owns only the layout, so that neither side imports the other.

A sheet may also be sent by columns (``("columns", height, [column, ...])``), each column as
``(kinds, texts, floats, dates, others)``: one byte of :data:`KINDS` per cell, the column's
text cells joined by NUL (or a list when one holds a NUL), its floats as C doubles, its
dates as day ordinals (C ints), and its other values (date-times, times, numbers that are
not floats ...) as a list. Pickling the cells one object at a time was most of the cost of
a large sheet's trip."""

from __future__ import annotations

import pickle
import struct
from typing import Any, Final

FRAME: Final = struct.Struct(">Q")
#: The byte of each kind of cell in a column sent by columns.
TEXT, FLOAT, DATE, OTHER = b"sfdo"
#: The separator of a column's text cells (XML cannot hold it; a cell with one goes as a list).
SEPARATOR: Final = "\x00"
#: ``array`` type codes of the floats and the dates' day ordinals.
FLOATS, DATES = "d", "i"


def encode(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(payload)) + payload
