"""A column's cells split by kind, computed once: what the vectorised checks look at.

Owns :class:`Cells` (a column as an object array, by kind, with its texts stripped, its
blanks, dates and numbers) and the context in which the checks of one column share it while
the fast path runs. The checks themselves are :mod:`pipeline.intake.column_checks`'.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipeline.intake.cell_values import (
    BoolArray,
    Column,
    FloatArray,
    ObjectArray,
    iso_ordinals,
    parse_floats,
)

# ---------------------------------------------------------------------------------------------
# The checks, over a whole column at once. ``Cells`` gives the same answers as _is_blank,
# to_date and to_number above, cell by cell, with array operations; looking at the type of
# each cell (one C-level call per cell) is what lets mixed object columns be split by kind.

_NONE: Final = 0
_STR: Final = 1
_BOOL: Final = 2
_INT: Final = 3
_FLOAT: Final = 4
_DATETIME: Final = 5
_DATE: Final = 6
_NAT: Final = 7
_OTHER: Final = 8
_KIND_OF: dict[type, int] = {}


def as_objects(column: Column) -> ObjectArray:
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype=object)
    return column


@functools.cache
def _ufunc(method: Callable[..., Any], nin: int) -> np.ufunc:
    ufunc: np.ufunc = np.frompyfunc(method, nin, 1)
    return ufunc


def apply_each(method: Callable[..., Any], values: ObjectArray, *args: Any) -> ObjectArray:
    """``method(value, *args)`` of every value: a numpy ufunc over a C-level builtin."""
    out: ObjectArray = _ufunc(method, 1 + len(args))(values, *args)
    return out


def _kind(cls: type) -> int:
    """The kind of a cell type, in the ``isinstance`` order of the scalar helpers."""
    kind = _KIND_OF.get(cls)
    if kind is None:
        if cls is type(None):
            kind = _NONE
        elif issubclass(cls, str):
            kind = _STR
        elif issubclass(cls, bool):
            kind = _BOOL
        elif issubclass(cls, int):
            kind = _INT
        elif issubclass(cls, float):
            kind = _FLOAT
        elif cls is type(pd.NaT):
            kind = _NAT
        elif issubclass(cls, dt.datetime):
            kind = _DATETIME
        elif issubclass(cls, dt.date):
            kind = _DATE
        else:
            kind = _OTHER
        _KIND_OF[cls] = kind
    return kind


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


# While the fast path of run_schema runs, the checks of one column share its Cells (the
# column is not changed in between); elsewhere every call starts afresh.
SHARED_CELLS: ContextVar[dict[int, tuple[Column, Cells]] | None] = ContextVar(
    "shared_cells", default=None
)
# Exact cell types whose only nulls (pandas' ``isna``) are None and a NaN float, and which an
# elementwise comparison with None tells apart from None by identity alone.
_PLAIN: Final = frozenset({type(None), str, bool, int, float, dt.datetime, dt.date})
_NOWHERE: Final = _frozen(np.zeros(0, dtype=np.intp))


class _Text:
    """The text cells of a column, in order, and what is derived from them. A column's Cells
    and the Cells of its cells without nulls share one (a text is never null)."""

    __slots__ = ("_blank", "_stripped", "cells")

    def __init__(self, cells: ObjectArray) -> None:
        self.cells = cells
        self._stripped: ObjectArray | None = None
        self._blank: BoolArray | None = None

    def stripped(self) -> ObjectArray:
        """``str.strip`` of every text."""
        if self._stripped is None:
            self._stripped = (
                _frozen(apply_each(str.strip, self.cells)) if self.cells.size else self.cells[:0]
            )
        return self._stripped

    def blank(self) -> BoolArray:
        """Which texts are empty or whitespace only."""
        if self._blank is None:
            self._blank = _frozen(np.asarray(self.stripped() == "", dtype=bool))
        return self._blank

    def all_filled(self) -> None:
        """Record that no text is blank (each was found equal to a text that is not)."""
        if self._blank is None:
            self._blank = _frozen(np.zeros(self.cells.size, dtype=bool))


class Cells:
    """A column's cells as an object array, split by kind, with the text cells stripped.

    The conversions are computed once and returned read-only; callers combine them into new
    arrays."""

    def __init__(self, values: ObjectArray) -> None:
        self.values = values
        n = len(values)
        types = list(map(type, values))
        # The types present, numbered (a hash per cell, no comparisons: numpy cannot compare
        # an array with some classes, e.g. numpy's own).
        self.present: dict[type, int] = {cls: i for i, cls in enumerate(set(types))}
        kinds = [_kind(cls) for cls in self.present]
        # Which present type each cell has; left to ``type_of`` to derive from the kinds when
        # no two present types share a kind.
        self._type_of: npt.NDArray[np.intp] | None = None
        if len(kinds) <= 1:
            self.kinds: npt.NDArray[np.int8] = np.full(n, kinds[0] if kinds else _NONE, np.int8)
        elif len(kinds) == 2 and type(None) in self.present and self.present.keys() <= _PLAIN:
            # None and one plain type (the common column with gaps): one comparison in C.
            self.kinds = np.full(n, kinds[0] + kinds[1], np.int8)  # _NONE is 0
            self.kinds[values == None] = _NONE  # noqa: E711 (elementwise, in C)
        else:
            self._type_of = np.fromiter(map(self.present.__getitem__, types), np.intp, count=n)
            self.kinds = np.array(kinds, dtype=np.int8)[self._type_of]
        self.kind_set = frozenset(kinds)
        if kinds == [_STR]:
            self.text = np.arange(n)
            self._text = _Text(values)
        else:
            self.text = self.where(_STR)
            self._text = _Text(values[self.text])
        self._missing: BoolArray | None = None
        self._blank: BoolArray | None = None
        self._dates: tuple[BoolArray, FloatArray] | None = None
        self._numbers: tuple[BoolArray, FloatArray] | None = None

    @classmethod
    def of(cls, column: Column) -> Cells:
        shared = SHARED_CELLS.get()
        if shared is None:
            return cls(as_objects(column))
        hit = shared.get(id(column))
        if hit is None or hit[0] is not column:
            hit = shared[id(column)] = (column, cls(as_objects(column)))
        return hit[1]

    def without(self, nulls: BoolArray) -> Cells:
        """The cells that are not null (marked in ``nulls``), sharing what is known of them."""
        keep = ~nulls
        cells = object.__new__(Cells)
        cells.values = self.values[keep]
        cells.kinds = self.kinds[keep]
        cells._type_of = None if self._type_of is None else self._type_of[keep]
        if cells._type_of is not None:
            counts = np.bincount(cells._type_of, minlength=len(self.present))
            cells.present = {c: i for c, i in self.present.items() if counts[i]}
        else:  # each present type has a kind of its own
            counts = np.bincount(cells.kinds, minlength=_OTHER + 1)
            cells.present = {c: i for c, i in self.present.items() if counts[_kind(c)]}
        cells.kind_set = frozenset(_kind(c) for c in cells.present)
        cells.text = cells.where(_STR)
        if cells.text.size == self.text.size:
            cells._text = self._text
        else:
            cells._text = _Text(cells.values[cells.text])
        cells._missing = cells._blank = cells._dates = cells._numbers = None
        return cells

    @property
    def type_of(self) -> npt.NDArray[np.intp]:
        if self._type_of is None:
            table = np.zeros(_OTHER + 1, dtype=np.intp)
            for cls, i in self.present.items():
                table[_kind(cls)] = i
            self._type_of = table[self.kinds]
        return self._type_of

    @property
    def has_nat(self) -> bool:
        """Whether some cell is pandas' ``NaT``."""
        return _NAT in self.kind_set

    def only(self, cls: type) -> bool:
        """Whether every cell is exactly of type ``cls`` (and there is at least one)."""
        return len(self.present) == 1 and next(iter(self.present)) is cls

    def where(self, kind: int) -> npt.NDArray[np.intp]:
        """The positions of the cells of ``kind``."""
        return np.flatnonzero(self.kinds == kind) if kind in self.kind_set else _NOWHERE

    def where_type(self, cls: type) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.type_of == self.present[cls])

    def missing(self) -> BoolArray:
        """``None`` or a float NaN, cell by cell."""
        if self._missing is None:
            missing = (
                self.kinds == _NONE if _NONE in self.kind_set else np.zeros(len(self.kinds), bool)
            )
            floats = self.where(_FLOAT)
            if floats.size:
                missing[floats] = np.isnan(self.values[floats].astype(np.float64))
            self._missing = _frozen(missing)
        return self._missing

    def nulls(self) -> BoolArray:
        """pandas' ``isna`` of every cell: pandera's nulls."""
        if self.present.keys() <= _PLAIN:
            return self.missing()
        nulls: BoolArray = pd.isna(self.values)
        return nulls

    def blank(self) -> BoolArray:
        """``_is_blank`` of every cell: ``None``, a float NaN, or whitespace-only text."""
        if self._blank is None:
            blank = self.missing().copy()
            if self.text.size:
                blank[self.text] = self._text.blank()
            self._blank = _frozen(blank)
        return self._blank

    def dates(self) -> tuple[BoolArray, FloatArray]:
        """``to_date`` of every cell: which are dates, and their proleptic ordinals.

        Ordinals, not ns timestamps: dates outside pandas' datetime64[ns] range are dates. A
        NaT counts as a date (``to_date`` returns it) with a NaN ordinal."""
        if self._dates is None:
            n = len(self.values)
            ok = np.zeros(n, dtype=bool)
            ordinals = np.full(n, np.nan)
            days = (
                np.flatnonzero((self.kinds == _DATETIME) | (self.kinds == _DATE))
                if {_DATETIME, _DATE} & self.kind_set
                else _NOWHERE
            )
            if days.size:
                ok[days] = True
                # date.toordinal of a datetime is its date's, time zone or not (like .date()).
                ordinals[days] = np.fromiter(
                    map(dt.date.toordinal, self.values[days]), dtype=np.int64, count=days.size
                )
            ok[self.where(_NAT)] = True
            if self.text.size:
                stripped = self._text.stripped()
                sizes = np.fromiter(map(len, stripped), dtype=np.int64, count=self.text.size)
                sized = sizes == 10
                if sized.any():
                    valid, ordinal = iso_ordinals(stripped[sized])
                    where = self.text[sized][valid]
                    ok[where] = True
                    ordinals[where] = ordinal[valid]
            self._dates = _frozen(ok), _frozen(ordinals)
        return self._dates

    def numbers(self) -> tuple[BoolArray, FloatArray]:
        """``to_number`` of every cell: which are numbers, and their values (a NaN float cell
        is no number, but the text ``"nan"`` is one)."""
        if self._numbers is None:
            n = len(self.values)
            ok = np.zeros(n, dtype=bool)
            numbers = np.full(n, np.nan)
            ints, floats = self.where(_INT), self.where(_FLOAT)
            if ints.size:
                # float() of a huge int raises OverflowError here as in to_number.
                numbers[ints] = self.values[ints].astype(np.float64)
                ok[ints] = True
            if floats.size:
                numbers[floats] = self.values[floats].astype(np.float64)
                ok[floats] = ~np.isnan(numbers[floats])
            if self.text.size:
                text = apply_each(str.replace, self._text.stripped(), ",", ".")
                text = apply_each(str.replace, apply_each(str.replace, text, "\u00a0", ""), " ", "")
                parsed, valid = parse_floats(text)
                numbers[self.text] = parsed
                ok[self.text] = valid
            self._numbers = _frozen(ok), _frozen(numbers)
        return self._numbers

    def texts(self) -> ObjectArray:
        """``str(value).strip()`` of every cell."""
        out = np.empty(len(self.values), dtype=object)
        out[self.text] = self._text.stripped()
        rest = np.flatnonzero(self.kinds != _STR) if self.kind_set != {_STR} else _NOWHERE
        if rest.size:
            out[rest] = apply_each(str.strip, apply_each(str, self.values[rest]))
        return out
