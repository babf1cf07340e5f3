"""Validation rules as data: loading the pandera schemas in ``schemas/`` and running them.

Owns the custom checks those schemas may name (registered with pandera as vectorised checks:
each sees a whole column), loading a schema file, and turning pandera's lazy failure cases
into located :class:`Problem` objects. A frame that passes is recognised without pandera's
validation machinery (:func:`passes_fast`, the same check functions); pandera runs when
something fails, to locate it.
The schema files hold a pandera ``DataFrameSchema`` in pandera's YAML form under ``schema:``,
and under ``slugs:`` which problem type each check reports. Cross-checks that need the
database (is the student on the list?) are the caller's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pandera.extensions as extensions
import pandera.pandas as pa
import yaml

from pipeline import resources
from pipeline.domain import personnummer
from pipeline.intake.report import Problem

_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_blank(value: Any) -> bool:
    """A blank cell: ``None``, a float NaN or whitespace-only text (``_Cells.blank`` answers
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


# ---------------------------------------------------------------------------------------------
# The checks, over a whole column at once. ``_Cells`` gives the same answers as _is_blank,
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
# Types whose values never equal a text (``one_of`` skips them without asking).
_NEVER_TEXT: Final = frozenset({type(None), bool, int, float, dt.datetime, dt.date})

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
# A check gets a column as pandera gives it (a Series) or as the fast path of run_schema
# does (an object array), and answers in kind: a boolean Series or array.
Column = pd.Series | ObjectArray
Passed = pd.Series | BoolArray


def _objects(column: Column) -> ObjectArray:
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype=object)
    return column


@functools.cache
def _ufunc(method: Callable[..., Any], nin: int) -> np.ufunc:
    ufunc: np.ufunc = np.frompyfunc(method, nin, 1)
    return ufunc


def _each(method: Callable[..., Any], values: ObjectArray, *args: Any) -> ObjectArray:
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


# While the fast path of run_schema runs, the checks of one column share its _Cells (the
# column is not changed in between); elsewhere every call starts afresh.
_SHARED_CELLS: ContextVar[dict[int, tuple[Column, _Cells]] | None] = ContextVar(
    "shared_cells", default=None
)
# Exact cell types whose only nulls (pandas' ``isna``) are None and a NaN float, and which an
# elementwise comparison with None tells apart from None by identity alone.
_PLAIN: Final = frozenset({type(None), str, bool, int, float, dt.datetime, dt.date})
_NOWHERE: Final = _frozen(np.zeros(0, dtype=np.intp))


class _Text:
    """The text cells of a column, in order, and what is derived from them. A column's _Cells
    and the _Cells of its cells without nulls share one (a text is never null)."""

    __slots__ = ("_blank", "_stripped", "cells")

    def __init__(self, cells: ObjectArray) -> None:
        self.cells = cells
        self._stripped: ObjectArray | None = None
        self._blank: BoolArray | None = None

    def stripped(self) -> ObjectArray:
        """``str.strip`` of every text."""
        if self._stripped is None:
            self._stripped = (
                _frozen(_each(str.strip, self.cells)) if self.cells.size else self.cells[:0]
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


class _Cells:
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
    def of(cls, column: Column) -> _Cells:
        shared = _SHARED_CELLS.get()
        if shared is None:
            return cls(_objects(column))
        hit = shared.get(id(column))
        if hit is None or hit[0] is not column:
            hit = shared[id(column)] = (column, cls(_objects(column)))
        return hit[1]

    def without(self, nulls: BoolArray) -> _Cells:
        """The cells that are not null (marked in ``nulls``), sharing what is known of them."""
        keep = ~nulls
        cells = object.__new__(_Cells)
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
                    valid, ordinal = _iso_ordinals(stripped[sized])
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
                text = _each(str.replace, self._text.stripped(), ",", ".")
                text = _each(str.replace, _each(str.replace, text, "\u00a0", ""), " ", "")
                parsed, valid = _floats(text)
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
            out[rest] = _each(str.strip, _each(str, self.values[rest]))
        return out


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


def _iso_ordinals(texts: ObjectArray) -> tuple[BoolArray, IntArray]:
    """Which ten-character texts are ``YYYY-MM-DD`` real dates, and their ordinals.

    ``date.fromisoformat`` takes ASCII digits only, so the Unicode digits that ``_ISO_DATE``
    lets through are refused here directly."""
    if len(texts) <= _FEW_ISO_TEXTS:
        return _iso_ordinals_each(texts)
    codes = np.asarray(texts.astype("U10")).view(np.uint32).reshape(-1, 10)
    shifted = codes - _ISO_OFFSETS
    form: BoolArray = np.asarray((shifted <= _ISO_LIMITS).all(axis=1))
    # Year, month and day (0, 0, 0 where the form is wrong: no date).
    year, month, day = (np.where(form[:, np.newaxis], shifted, 0) @ _ISO_WEIGHTS).T
    valid = personnummer.valid_dates(year, month, day)
    return valid, np.where(valid, personnummer.date_ordinals(year, month, day), 0)


def _iso_ordinals_each(texts: ObjectArray) -> tuple[BoolArray, IntArray]:
    """:func:`_iso_ordinals`, one text at a time."""
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


def _floats(texts: ObjectArray) -> tuple[FloatArray, BoolArray]:
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
    cells = _Cells(values)
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
    cells = _Cells.of(column)
    ok, ordinals = cells.dates()
    if not ok.any():
        return _result(column, ~ok)
    if _NAT in cells.kind_set:
        raise TypeError("Cannot compare NaT with datetime.date object")  # as to_date's NaT does
    bound = dt.date.fromisoformat(day).toordinal()
    return _result(column, ~ok | ((ordinals <= bound) if latest else (ordinals >= bound)))


def is_personnummer(column: Column) -> Passed:
    """Blank, or a valid personnummer in any accepted form (:func:`personnummer.is_valid`)."""
    cells = _Cells.of(column)
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
    cells = _Cells.of(column)
    return _result(column, cells.blank() | cells.dates()[0])


def date_not_in_future(column: Column, *, today: str) -> Passed:
    """Not a date, or a date not after ``today``."""
    return _within(column, today, latest=True)


def date_not_before(column: Column, *, earliest: str) -> Passed:
    """Not a date, or a date not before ``earliest``."""
    return _within(column, earliest, latest=False)


def is_number(column: Column) -> Passed:
    """Blank, or a number: a numeric cell (not a boolean) or text with ``.`` or ``,``."""
    cells = _Cells.of(column)
    return _result(column, cells.blank() | cells.numbers()[0])


def non_negative(column: Column) -> Passed:
    """Not a number, or a number that is zero or more (a NaN is neither)."""
    ok, numbers = _Cells.of(column).numbers()
    return _result(column, ~ok | (numbers >= 0))


def one_of(column: Column, *, allowed: list[str]) -> Passed:
    """Blank, or exactly one of ``allowed``."""
    cells = _Cells.of(column)
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
    cells = _Cells.of(column)
    passed = cells.blank().copy()
    filled = np.flatnonzero(~passed)
    if filled.size:
        marks = list(dict.fromkeys(a.upper() for a in allowed))
        passed[filled] = _member(_each(str.upper, cells.texts()[filled]), marks)
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


_REGISTERED = False


def ensure_registered() -> None:
    global _REGISTERED
    if not _REGISTERED:
        _register()
        _REGISTERED = True


@dataclass(frozen=True)
class LoadedSchema:
    """A pandera schema plus which problem slug each of its checks reports."""

    name: str
    version: int
    schema: pa.DataFrameSchema
    slugs: dict[str, str]
    extra: dict[str, Any]

    @property
    def row_rules(self) -> list[dict[str, str]]:
        """``requires`` rules: a filled-in ``field`` needs ``needs`` filled in too."""
        return list(self.extra.get("requires", []))


def _substitute(node: Any, params: dict[str, Any]) -> Any:
    """Replace ``"${name}"`` placeholders (values known only at run time, e.g. a scale)."""
    if isinstance(node, str) and node.startswith("${") and node.endswith("}"):
        key = node[2:-1]
        if key not in params:
            raise KeyError(f"schema placeholder ${{{key}}} has no value")
        return params[key]
    if isinstance(node, dict):
        return {k: _substitute(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, params) for v in node]
    return node


_CACHE: dict[str, LoadedSchema] = {}


def load_schema(
    name: str, workspace: Path | None = None, params: dict[str, Any] | None = None
) -> LoadedSchema:
    """Load ``schemas/<name>.yaml`` (the workspace's copy wins), filling ``${...}`` params.

    Cached per file, modification time and parameters: building a pandera schema from YAML
    costs milliseconds, and every dropped file of a list asks for the same one."""
    path, mtime = resources.locate("schemas", f"{name}.yaml", workspace)
    key = json.dumps([path, mtime, params or {}], sort_keys=True, default=str)
    cached = _CACHE.get(key)
    if cached is None:
        if len(_CACHE) > 256:
            _CACHE.clear()
        cached = _CACHE[key] = _load_schema(name, workspace, params)
    return cached


def _load_schema(name: str, workspace: Path | None, params: dict[str, Any] | None) -> LoadedSchema:
    ensure_registered()
    data = resources.load_yaml("schemas", f"{name}.yaml", workspace)
    body = _substitute(data["schema"], params or {})
    schema = pa.DataFrameSchema.from_yaml(yaml.safe_dump(body, allow_unicode=True, sort_keys=False))
    extra = {k: v for k, v in data.items() if k not in ("schema", "slugs", "version")}
    return LoadedSchema(
        name=name,
        version=int(data.get("version", 1)),
        schema=schema,
        slugs=dict(data.get("slugs", {})),
        extra=extra,
    )


def _check_name(check: Any) -> str:
    name = getattr(check, "name", None) or str(check)
    return str(name).split("(", 1)[0]


def run_schema(
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    *,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None = None,
    df_check_fields: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    force_pandera: bool = False,
) -> list[Problem]:
    """Validate ``frame`` lazily and return every failure as a located problem.

    ``letters`` maps field names to spreadsheet column letters; ``row_of`` maps the frame's
    index to spreadsheet row numbers (default: the index is the row number);
    ``df_check_fields`` names the field a dataframe-wide check is reported on.

    A valid frame is recognised by :func:`passes_fast` without pandera's machinery; pandera
    runs (lazily) only when that finds a failure or meets something it does not know, and
    then produces the located problems. ``force_pandera`` skips the fast path (for tests).
    """
    df_check_fields = df_check_fields or {}
    problems: list[Problem] = []
    cells = None if force_pandera else _fast_cells(_loaded_plan(loaded), frame)
    if cells is None:
        try:
            loaded.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            problems = _problems(exc, loaded, frame, sheet, letters, row_of, df_check_fields)
    problems.extend(_row_rule_problems(loaded, frame, sheet, letters, row_of, cells or {}))
    if params:
        problems = [replace(p, params={**params, **p.params}) for p in problems]
    return problems


_DEFAULT_SCHEMA_OPTIONS: Final[dict[str, Any]] = {
    "checks": [],
    "parsers": [],
    "index": None,
    "dtype": None,
    "coerce": False,
    "strict": False,
    "ordered": False,
    "unique": None,
    "unique_column_names": False,
    "add_missing_columns": False,
    "on_missing_columns": None,
    "drop_invalid_rows": False,
}
_DEFAULT_COLUMN_OPTIONS: Final[dict[str, Any]] = {
    "dtype": None,
    "parsers": [],
    "unique": False,
    "coerce": False,
    "regex": False,
    "default": None,
    "drop_invalid_rows": False,
    "on_missing": None,
}
_DEFAULT_CHECK_OPTIONS: Final[dict[str, Any]] = {
    "element_wise": False,
    "groupby": None,
    "groups": None,
    "ignore_na": True,
    "raise_warning": False,
    "_check_kwargs": {},
}
_VECTORISED: Final = {id(fn): name for name, (fn, _) in CHECKS.items()}
_MISSING: Final = object()


def _has_defaults(obj: object, defaults: dict[str, Any]) -> bool:
    """Whether ``obj`` has exactly these attribute values (same type, equal)."""
    for key, default in defaults.items():
        value = getattr(obj, key, _MISSING)
        if value is not default and (type(value) is not type(default) or value != default):
            return False
    return True


def _fast_check(check: Any) -> Any:
    """The registered function of one of our vectorised checks, bound to its statistics
    (what pandera calls), or ``None`` for a check the fast path does not know."""
    if type(check) is not pa.Check or not _has_defaults(check, _DEFAULT_CHECK_OPTIONS):
        return None
    bound = check._check_fn
    wrapper = getattr(bound, "func", None)
    if not isinstance(bound, functools.partial) or bound.args:
        return None
    name = _VECTORISED.get(id(getattr(wrapper, "__wrapped__", None)))
    return bound if name is not None and name == check.name else None


def passes_fast(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    """Whether pandera would accept ``frame`` as it is, told without pandera's machinery.

    Understands a schema of columns without dtype, coercion, parsers, defaults or uniqueness,
    whose checks are the vectorised checks of this module with default options: required
    columns present, no nulls (pandera's notion: None, NaN, NaT, NA) where not nullable, and
    each check (on the column without nulls, as pandera gives it) true everywhere. ``False``
    means "ask pandera": a failure, an error, or anything else in the schema."""
    return _fast_cells(_plan(schema), frame) is not None


_Plan = list[tuple[str, pa.Column, list[Any]]]


def _plan(schema: pa.DataFrameSchema) -> _Plan | None:
    """The columns :func:`passes_fast` looks at, with their check functions; ``None`` for a
    schema it does not understand."""
    if type(schema) is not pa.DataFrameSchema or not _has_defaults(schema, _DEFAULT_SCHEMA_OPTIONS):
        return None
    plan = []
    for name, column in schema.columns.items():
        if type(column) is not pa.Column or column.name != name:
            return None
        if not _has_defaults(column, _DEFAULT_COLUMN_OPTIONS):
            return None
        fns = [_fast_check(check) for check in column.checks]
        if any(fn is None for fn in fns):
            return None
        plan.append((name, column, fns))
    return plan


# The plan of each LoadedSchema run_schema has seen, with the schema kept alive so that its
# id stays its own: a loaded schema is not changed (load_schema hands the same one to every
# file of a list), and looking at every column and check again costs more than a small file.
_PLANS: dict[int, tuple[LoadedSchema, _Plan | None]] = {}


def _loaded_plan(loaded: LoadedSchema) -> _Plan | None:
    hit = _PLANS.get(id(loaded))
    if hit is None or hit[0] is not loaded:
        if len(_PLANS) > 256:
            _PLANS.clear()
        hit = _PLANS[id(loaded)] = (loaded, _plan(loaded.schema))
    return hit[1]


def _fast_cells(plan: _Plan | None, frame: pd.DataFrame) -> dict[str, _Cells] | None:
    """:func:`passes_fast` of the schema of ``plan``, answering with the _Cells of the
    columns it looked at when the frame passes (``None`` when not)."""
    if plan is None:
        return None
    if type(frame) is not pd.DataFrame or isinstance(frame.columns, pd.MultiIndex):
        return None
    if not frame.columns.is_unique:
        return None
    looked_at: dict[str, _Cells] = {}
    shared: dict[int, tuple[Column, _Cells]] = {}
    token = _SHARED_CELLS.set(shared)
    try:
        for name, column, fns in plan:
            if name not in frame:
                if column.required:
                    return None
                continue
            if column.nullable and not fns:
                continue
            cells = looked_at[name] = _Cells(frame[name].to_numpy(dtype=object))
            nulls = cells.nulls()
            if nulls.any():
                if not column.nullable:
                    return None
                if nulls.all():
                    continue  # nothing left to check: every check holds for no cells
                # What pandera's checks see (ignore_na): the cells that are not null.
                cells = cells.without(nulls)
            values = cells.values
            shared[id(values)] = (values, cells)
            for fn in fns:
                passed = fn(values)
                if not (isinstance(passed, np.ndarray) and passed.dtype == bool):
                    return None
                if not passed.all():
                    return None
    except Exception:  # a check that raises is pandera's to report
        return None
    finally:
        _SHARED_CELLS.reset(token)
    return looked_at


def _blank_mask(column: pd.Series) -> BoolArray:
    return _Cells(_objects(column)).blank()


def _row_rule_problems(
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None,
    cells: dict[str, _Cells],
) -> list[Problem]:
    """The ``requires`` rules' problems; ``cells`` holds the _Cells of columns of ``frame``
    already looked at (by :func:`passes_fast`), whose blanks are known."""
    problems: list[Problem] = []
    blanks: dict[str, BoolArray] = {}
    for rule in loaded.row_rules:
        field, needs = rule["field"], rule["needs"]
        if field not in frame.columns or needs not in frame.columns:
            continue
        for name in (field, needs):
            if name not in blanks:
                known = cells.get(name)
                blanks[name] = known.blank() if known is not None else _blank_mask(frame[name])
        hits = np.flatnonzero(~blanks[field] & blanks[needs])
        for index in frame.index[hits] if hits.size else ():
            problems.append(
                Problem(
                    slug=rule["slug"],
                    sheet=sheet,
                    row=row_of.get(index) if row_of else int(index),
                    column=letters.get(needs),
                    field=needs,
                )
            )
    return problems


def _refine(name: str, slug: str, value: Any) -> str:
    """A more precise slug for some checks (why exactly is this personnummer wrong?)."""
    if name == "is_personnummer":
        try:
            personnummer.parse(value)
        except personnummer.PersonnummerError as exc:
            return exc.slug
    return slug


def _problems(
    exc: pa.errors.SchemaErrors,
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None,
    df_check_fields: dict[str, str],
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[Any, str | None]] = set()
    for error in exc.schema_errors:
        check = getattr(error, "check", None)
        name = _check_name(check) if check is not None else str(error.reason_code.name).lower()
        schema_obj = getattr(error, "schema", None)
        field = getattr(schema_obj, "name", None) if isinstance(schema_obj, pa.Column) else None
        if field is None:
            field = df_check_fields.get(name)
        slug = loaded.slugs.get(name, name.replace("_", "-"))
        cases = getattr(error, "failure_cases", None)
        if name in ("column_in_dataframe", "column_not_in_dataframe"):
            problems.append(Problem(slug="missing-column", sheet=sheet, field=str(error)))
            continue
        if not isinstance(cases, pd.DataFrame) or "index" not in cases:
            rows: list[tuple[Any, Any]] = []
            if isinstance(cases, pd.Series | pd.DataFrame):
                rows = [(i, None) for i in getattr(cases, "index", [])]
            else:
                problems.append(Problem(slug=slug, sheet=sheet, field=field))
                continue
        else:
            rows = list(zip(cases["index"], cases["failure_case"], strict=False))
        for index, value in rows:
            if index is None or (isinstance(index, float) and math.isnan(index)):
                continue
            # One problem per cell: the first failing check (schema order) wins.
            if (index, field) in seen:
                continue
            seen.add((index, field))
            if field is not None and index in frame.index and field in frame.columns:
                value = frame.at[index, field]
            row = row_of.get(index) if row_of else int(index)
            problems.append(
                Problem(
                    slug=_refine(name, slug, value),
                    sheet=sheet,
                    row=row,
                    column=letters.get(field) if field else None,
                    field=field,
                    value=value,
                )
            )
    return problems
