"""The custom checks the schemas in ``schemas/`` may name, each over a whole column.

Owns the check functions (blank, or a valid personnummer / date / number / one of a list),
:data:`CHECKS` (name and statistics of each) and registering them with pandera as vectorised
checks. Each answers for a pandas Series (as pandera calls it) and for an object array (as
the fast path does). Loading schemas and running them is :mod:`pipeline.intake.checks`'.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pandas as pd
import pandera.extensions as extensions

from pipeline.domain import personnummer
from pipeline.intake.cell_values import BoolArray, Column, ObjectArray, Passed
from pipeline.intake.cells import Cells, apply_each

# Types whose values never equal a text (``one_of`` skips them without asking).
_NEVER_TEXT: Final = frozenset({type(None), bool, int, float, dt.datetime, dt.date})


def _texts_only(allowed: Any) -> bool:
    return isinstance(allowed, list) and all(type(a) is str for a in allowed)


def _equal_any(values: ObjectArray, allowed: list[str]) -> BoolArray:
    """Which values (exact ``str`` each) equal one of ``allowed`` (texts too): for texts,
    equal is equal hash and ``==``, so a set answers, one C-level call per value."""
    options = frozenset(allowed)
    return np.fromiter(map(options.__contains__, values), dtype=bool, count=len(values))


def _member(values: ObjectArray, allowed: Any) -> BoolArray:
    """``value in allowed`` of every value. Against a list of texts, text cells are compared
    as an array and plain numbers, dates and ``None`` are never in it; anything else (a
    subclass may define its own equality) is asked cell by cell."""
    if not _texts_only(allowed):
        return np.fromiter((v in allowed for v in values), dtype=bool, count=len(values))
    cells = Cells(values)
    found = np.zeros(len(values), dtype=bool)
    # The types in order of first appearance, so that which cell is asked first is fixed.
    for cls in sorted(cells.present, key=lambda c: int(cells.where_type(c)[0])):
        if cls in _NEVER_TEXT:
            continue
        where = cells.where_type(cls)
        if cls is str:
            found[where] = _equal_any(values[where], allowed)
        else:
            found[where] = [values[i] in allowed for i in where]
    return found


def _result(column: Column, passed: BoolArray) -> Passed:
    if isinstance(column, pd.Series):
        return pd.Series(passed, index=column.index, copy=False)
    return passed


def _within(column: Column, day: str, *, latest: bool) -> Passed:
    """Not a date, or a date on or before (``latest``) or on or after ``day``."""
    cells = Cells.of(column)
    ok, ordinals = cells.dates()
    if not ok.any():
        return _result(column, ~ok)
    if cells.has_nat:
        raise TypeError("Cannot compare NaT with datetime.date object")  # as to_date's NaT does
    bound = dt.date.fromisoformat(day).toordinal()
    return _result(column, ~ok | ((ordinals <= bound) if latest else (ordinals >= bound)))


def is_personnummer(column: Column) -> Passed:
    """Blank, or a valid personnummer in any accepted form (:func:`personnummer.is_valid`)."""
    cells = Cells.of(column)
    values = cells.values
    # The canonical forms are never blank: they answer with array operations (and together,
    # so that the roster's look at the same column finds them computed).
    canonical, valid = personnummer.canonical_validity(values, all_str=cells.only(str))
    passed = np.zeros(len(values), dtype=bool)
    passed[canonical] = valid
    if canonical.size < len(values):  # blank cells, and the rare other written forms
        blank = cells.blank()
        others = np.ones(len(values), dtype=bool)
        others[canonical] = False
        for i in np.flatnonzero(others):
            passed[i] = blank[i] or personnummer.is_valid(values[i])
    return _result(column, passed)


def iso_date(column: Column) -> Passed:
    """Blank, or a date: a date cell or ``YYYY-MM-DD`` text that is a real date."""
    cells = Cells.of(column)
    return _result(column, cells.blank() | cells.dates()[0])


def date_not_in_future(column: Column, *, today: str) -> Passed:
    """Not a date, or a date not after ``today``."""
    return _within(column, today, latest=True)


def date_not_before(column: Column, *, earliest: str) -> Passed:
    """Not a date, or a date not before ``earliest``."""
    return _within(column, earliest, latest=False)


def is_number(column: Column) -> Passed:
    """Blank, or a number: a numeric cell (not a boolean) or text with ``.`` or ``,``."""
    cells = Cells.of(column)
    return _result(column, cells.blank() | cells.numbers()[0])


def non_negative(column: Column) -> Passed:
    """Not a number, or a number that is zero or more (a NaN is neither)."""
    ok, numbers = Cells.of(column).numbers()
    return _result(column, ~ok | (numbers >= 0))


def one_of(column: Column, *, allowed: list[str]) -> Passed:
    """Blank, or exactly one of ``allowed``."""
    cells = Cells.of(column)
    if cells.only(str) and _texts_only(allowed):
        # Texts all, as a grade column without its gaps: when every one is allowed, the
        # blanks need no looking for.
        hits = _equal_any(cells.values, allowed)
        if hits.all():
            if all(a.strip() for a in allowed):
                cells._text.all_filled()
            return _result(column, hits)
    passed = cells.blank().copy()
    filled = np.flatnonzero(~passed)
    if filled.size:
        passed[filled] = _member(cells.values[filled], allowed)
    return _result(column, passed)


def mark_of(column: Column, *, allowed: list[str]) -> Passed:
    """A mark cell: blank, or one of ``allowed`` in any case (surrounding spaces ignored)."""
    cells = Cells.of(column)
    passed = cells.blank().copy()
    filled = np.flatnonzero(~passed)
    if filled.size:
        marks = list(dict.fromkeys(a.upper() for a in allowed))
        passed[filled] = _member(apply_each(str.upper, cells.texts()[filled]), marks)
    return _result(column, passed)


# The checks schemas may name, with their statistics (the keyword arguments a schema gives).
CHECKS: Final[dict[str, tuple[Callable[..., Passed], list[str]]]] = {
    fn.__name__: (fn, statistics)
    for fn, statistics in (
        (is_personnummer, []),
        (iso_date, []),
        (date_not_in_future, ["today"]),
        (date_not_before, ["earliest"]),
        (is_number, []),
        (non_negative, []),
        (one_of, ["allowed"]),
        (mark_of, ["allowed"]),
    )
}
_register_check = extensions.register_check_method  # type: ignore[attr-defined]


def _register() -> None:
    for fn, statistics in CHECKS.values():
        _register_check(statistics=statistics, check_type="vectorized")(fn)


_REGISTER_LOCK = threading.Lock()
_REGISTERED = False


def ensure_registered() -> None:
    """Register the custom checks with pandera once per process (threads may race here:
    pandera refuses a second registration of the same name)."""
    global _REGISTERED
    with _REGISTER_LOCK:
        if not _REGISTERED:
            _register()
            _REGISTERED = True
