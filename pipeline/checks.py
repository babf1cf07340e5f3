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

from pipeline import personnummer, resources
from pipeline.report import Problem

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
_UNIX_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()
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


class _Cells:
    """A column's cells as an object array, split by kind, with the text cells stripped.

    The conversions are computed once and returned read-only; callers combine them into new
    arrays."""

    def __init__(self, values: ObjectArray) -> None:
        self.values = values
        n = len(values)
        types = list(map(type, values))
        # Each type present, numbered in order of appearance (a dict lookup per cell, no
        # comparisons: numpy cannot compare an array with some classes, e.g. numpy's own).
        self.present: dict[type, int] = {cls: i for i, cls in enumerate(dict.fromkeys(types))}
        if len(self.present) <= 1:
            self.type_of = np.zeros(n, dtype=np.intp)
        else:
            self.type_of = np.fromiter(map(self.present.__getitem__, types), np.intp, count=n)
        kinds = np.array([_kind(cls) for cls in self.present], dtype=np.int8)
        self.kinds: npt.NDArray[np.int8] = kinds[self.type_of]
        self.text = np.flatnonzero(self.kinds == _STR)
        self.stripped: ObjectArray = (
            _each(str.strip, values[self.text]) if self.text.size else values[:0]
        )
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

    def where(self, kind: int) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.kinds == kind)

    def where_type(self, cls: type) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.type_of == self.present[cls])

    def blank(self) -> BoolArray:
        """``_is_blank`` of every cell: ``None``, a float NaN, or whitespace-only text."""
        if self._blank is None:
            blank = self.kinds == _NONE
            floats = self.where(_FLOAT)
            if floats.size:
                blank[floats] = np.isnan(self.values[floats].astype(np.float64))
            if self.text.size:
                blank[self.text] = self.stripped == ""
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
            days = np.flatnonzero((self.kinds == _DATETIME) | (self.kinds == _DATE))
            if days.size:
                ok[days] = True
                # date.toordinal of a datetime is its date's, time zone or not (like .date()).
                ordinals[days] = np.fromiter(
                    map(dt.date.toordinal, self.values[days]), dtype=np.int64, count=days.size
                )
            ok[self.kinds == _NAT] = True
            if self.text.size:
                sizes = np.fromiter(map(len, self.stripped), dtype=np.int64, count=self.text.size)
                sized = sizes == 10
                if sized.any():
                    valid, ordinal = _iso_ordinals(self.stripped[sized])
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
                text = _each(str.replace, self.stripped, ",", ".")
                text = _each(str.replace, _each(str.replace, text, "\u00a0", ""), " ", "")
                parsed, valid = _floats(text)
                numbers[self.text] = parsed
                ok[self.text] = valid
            self._numbers = _frozen(ok), _frozen(numbers)
        return self._numbers

    def texts(self) -> ObjectArray:
        """``str(value).strip()`` of every cell."""
        out = np.empty(len(self.values), dtype=object)
        out[self.text] = self.stripped
        rest = np.flatnonzero(self.kinds != _STR)
        if rest.size:
            out[rest] = _each(str.strip, _each(str, self.values[rest]))
        return out


def _iso_ordinals(texts: ObjectArray) -> tuple[BoolArray, IntArray]:
    """Which ten-character texts are ``YYYY-MM-DD`` real dates, and their ordinals.

    ``date.fromisoformat`` takes ASCII digits only, so the Unicode digits that ``_ISO_DATE``
    lets through are refused here directly."""
    codes = np.asarray(texts.astype("U10")).view(np.uint32).reshape(-1, 10).astype(np.int64)
    digits = codes - ord("0")
    numeric = np.delete(digits, [4, 7], axis=1)
    form = ((numeric >= 0) & (numeric <= 9)).all(axis=1)
    form &= (codes[:, 4] == ord("-")) & (codes[:, 7] == ord("-"))
    year = numeric[:, :4] @ np.array([1000, 100, 10, 1])
    month = numeric[:, 4:6] @ np.array([10, 1])
    day = numeric[:, 6:8] @ np.array([10, 1])
    valid = form & personnummer.valid_dates(year, month, day)
    ordinals = np.zeros(len(texts), dtype=np.int64)
    if valid.any():
        months = (year[valid] - 1970).astype("datetime64[Y]").astype("datetime64[M]")
        first = (months + (month[valid] - 1)).astype("datetime64[D]")
        ordinals[valid] = (first + (day[valid] - 1)).astype(np.int64) + _UNIX_EPOCH_ORDINAL
    return valid, ordinals


def _floats(texts: ObjectArray) -> tuple[FloatArray, BoolArray]:
    """``float(text)`` of every text (numpy's object-to-float cast calls ``float``) and which
    parsed; when one does not, they are looked at one by one (rare: an invalid cell)."""
    try:
        return texts.astype(np.float64), np.ones(len(texts), dtype=bool)
    except ValueError:
        pass
    numbers = np.full(len(texts), np.nan)
    valid = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        with contextlib.suppress(ValueError):
            numbers[i] = float(text)
            valid[i] = True
    return numbers, valid


def _member(values: ObjectArray, allowed: Any) -> BoolArray:
    """``value in allowed`` of every value. Against a list of texts, text cells are compared
    as an array and plain numbers, dates and ``None`` are never in it; anything else (a
    subclass may define its own equality) is asked cell by cell."""
    if not (isinstance(allowed, list) and all(type(a) is str for a in allowed)):
        return np.fromiter((v in allowed for v in values), dtype=bool, count=len(values))
    cells = _Cells(values)
    found = np.zeros(len(values), dtype=bool)
    for cls in cells.present:
        if cls in _NEVER_TEXT:
            continue
        where = cells.where_type(cls)
        if cls is str:
            hits = np.zeros(where.size, dtype=bool)
            for option in dict.fromkeys(allowed):
                hits |= values[where] == option
            found[where] = hits
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
    if (cells.kinds == _NAT).any():
        raise TypeError("Cannot compare NaT with datetime.date object")  # as to_date's NaT does
    bound = dt.date.fromisoformat(day).toordinal()
    return _result(column, ~ok | ((ordinals <= bound) if latest else (ordinals >= bound)))


def is_personnummer(column: Column) -> Passed:
    """Blank, or a valid personnummer in any accepted form (:func:`personnummer.is_valid`)."""
    cells = _Cells.of(column)
    passed = cells.blank().copy()
    filled = np.flatnonzero(~passed)
    if filled.size:
        passed[filled] = personnummer.valid_mask(cells.values[filled])
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
    if force_pandera or not passes_fast(loaded.schema, frame):
        try:
            loaded.schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            problems = _problems(exc, loaded, frame, sheet, letters, row_of, df_check_fields)
    problems.extend(_row_rule_problems(loaded, frame, sheet, letters, row_of))
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
    if type(schema) is not pa.DataFrameSchema or not _has_defaults(schema, _DEFAULT_SCHEMA_OPTIONS):
        return False
    if type(frame) is not pd.DataFrame or isinstance(frame.columns, pd.MultiIndex):
        return False
    if not frame.columns.is_unique:
        return False
    plan = []
    for name, column in schema.columns.items():
        if type(column) is not pa.Column or column.name != name:
            return False
        if not _has_defaults(column, _DEFAULT_COLUMN_OPTIONS):
            return False
        fns = [_fast_check(check) for check in column.checks]
        if any(fn is None for fn in fns):
            return False
        plan.append((name, column, fns))
    token = _SHARED_CELLS.set({})
    try:
        for name, column, fns in plan:
            if name not in frame:
                if column.required:
                    return False
                continue
            if column.nullable and not fns:
                continue
            values = frame[name].to_numpy(dtype=object)
            nulls = pd.isna(values)
            if nulls.any():
                if not column.nullable:
                    return False
                if nulls.all():
                    continue  # nothing left to check: every check holds for no cells
                # What pandera's checks see (ignore_na): the cells that are not null.
                values = values[~nulls]
            for fn in fns:
                passed = fn(values)
                if not (isinstance(passed, np.ndarray) and passed.dtype == bool):
                    return False
                if not passed.all():
                    return False
    except Exception:  # a check that raises is pandera's to report
        return False
    finally:
        _SHARED_CELLS.reset(token)
    return True


def _blank_mask(column: pd.Series) -> BoolArray:
    return _Cells(_objects(column)).blank()


def _row_rule_problems(
    loaded: LoadedSchema,
    frame: pd.DataFrame,
    sheet: str | None,
    letters: dict[str, str],
    row_of: dict[Any, int] | None,
) -> list[Problem]:
    problems: list[Problem] = []
    blanks: dict[str, BoolArray] = {}
    for rule in loaded.row_rules:
        field, needs = rule["field"], rule["needs"]
        if field not in frame.columns or needs not in frame.columns:
            continue
        for name in (field, needs):
            if name not in blanks:
                blanks[name] = _blank_mask(frame[name])
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
