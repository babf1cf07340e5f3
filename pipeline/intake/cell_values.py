"""Reading one cell's value as the schemas' checks read it: blank, a date, a number.

Owns the scalar rules (:func:`to_date`, :func:`to_number`, ``_is_blank``) and their array
counterparts for many texts at once (ISO dates, decimal numbers), with the array types the
column checks share. Which cells a column has is :mod:`pipeline.intake.cells`'s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipeline.domain import personnummer

_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_blank(value: Any) -> bool:
    """A blank cell: ``None``, a float NaN or whitespace-only text (``Cells.blank`` answers
    for a whole column)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def to_date(value: Any) -> dt.date | None:
    """A date from a real date cell or an ISO ``YYYY-MM-DD`` text; ``None`` otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.match(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                return None
    return None


def to_number(value: Any) -> float | None:
    """A number from a numeric cell or a text with ``.`` or ``,`` as decimal mark."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ".").replace("\u00a0", "").replace(" ", ""))
        except ValueError:
            return None
    return None


BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
# A check gets a column as pandera gives it (a Series) or as the fast path of run_schema
# does (an object array), and answers in kind: a boolean Series or array.
Column = pd.Series | ObjectArray
Passed = pd.Series | BoolArray


# Up to this many texts, ISO dates are read one by one: numpy's fixed cost is the larger.
_FEW_ISO_TEXTS: Final = 32
# ``YYYY-MM-DD`` less "0" at each digit and "-" at each dash is at most 9 at a digit, 0 at a
# dash (anything below wraps around to a large number); its year, month and day as weights.
_ISO_OFFSETS: Final = np.array([48, 48, 48, 48, 45, 48, 48, 45, 48, 48], np.uint32)
_ISO_LIMITS: Final = np.array([9, 9, 9, 9, 0, 9, 9, 0, 9, 9], np.uint32)
_ISO_WEIGHTS: Final = np.array(
    [
        [1000, 100, 10, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 10, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 10, 1],
    ],
    np.int64,
).T


def iso_ordinals(texts: ObjectArray) -> tuple[BoolArray, IntArray]:
    """Which ten-character texts are ``YYYY-MM-DD`` real dates, and their ordinals.

    ``date.fromisoformat`` takes ASCII digits only, so the Unicode digits that ``_ISO_DATE``
    lets through are refused here directly."""
    if len(texts) <= _FEW_ISO_TEXTS:
        return iso_ordinals_each(texts)
    codes = np.asarray(texts.astype("U10")).view(np.uint32).reshape(-1, 10)
    shifted = codes - _ISO_OFFSETS
    form: BoolArray = np.asarray((shifted <= _ISO_LIMITS).all(axis=1))
    # Year, month and day (0, 0, 0 where the form is wrong: no date).
    year, month, day = (np.where(form[:, np.newaxis], shifted, 0) @ _ISO_WEIGHTS).T
    valid = personnummer.valid_dates(year, month, day)
    return valid, np.where(valid, personnummer.date_ordinals(year, month, day), 0)


def iso_ordinals_each(texts: ObjectArray) -> tuple[BoolArray, IntArray]:
    """:func:`iso_ordinals`, one text at a time."""
    valid = np.zeros(len(texts), dtype=bool)
    ordinals = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        if not (text.isascii() and text[4] == text[7] == "-"):
            continue
        year, month, day = text[:4], text[5:7], text[8:]
        if (year + month + day).isdigit():  # ASCII: "0" to "9"
            try:
                ordinals[i] = dt.date(int(year), int(month), int(day)).toordinal()
            except ValueError:
                continue
            valid[i] = True
    return valid, ordinals


def parse_floats(texts: ObjectArray) -> tuple[FloatArray, BoolArray]:
    """``float(text)`` of every text (numpy's object-to-float cast calls ``float``) and which
    parsed; when one does not, they are looked at one by one (rare: an invalid cell)."""
    with contextlib.suppress(ValueError):
        return texts.astype(np.float64), np.ones(len(texts), dtype=bool)
    numbers = np.full(len(texts), np.nan)
    valid = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        with contextlib.suppress(ValueError):
            numbers[i] = float(text)
            valid[i] = True
    return numbers, valid
