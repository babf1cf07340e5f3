"""The special paths the vectorised checks take for speed, each against an oracle.

- ``Cells`` splits a column by kind in one of three ways (one type; ``None`` and one plain
  type; anything else), derives pandera's nulls from the kinds for plain types, and gives the
  cells without nulls by slicing (``without``), sharing its text cells: every answer is the
  scalar helpers' (``_is_blank``, ``to_date``, ``to_number``, ``pd.isna``), and a slice
  answers as a column built afresh from the same cells.
- ISO date texts are read one by one when few and as arrays when many: both as
  ``date.fromisoformat`` reads them.
- ``personnummer``: the calendar tables, the all-``str`` hint, the UCS-4 path for non-ASCII
  texts and the all-valid path of ``normalize_many``.
- ``run_schema`` reuses the blanks the fast path found for the row rules, and a schema's
  plan: the problems stay pandera's, on frames large enough for the array paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline.domain import personnummer
from pipeline.intake import cell_values, checks, column_checks, fastpath
from pipeline.intake import cells as cells_module
from tests.test_checks_fast import (
    CELLS,
    COURSE_START,
    DATES,
    FRAMES,
    LETTERS,
    QUICK,
    T33_FIELDS,
    T33_PARAMS,
    T34_PARAMS,
    TH,
    TODAY,
    WHITESPACE,
    assert_same_as_reference,
    frames,
    numbers,
    with_check_digit,
    written,
)

# Equivalence of the fast path with pandera on generated input: minutes, not seconds.
pytestmark = pytest.mark.slow


class Text(str):
    """A str subclass: never a plain cell, never a canonical personnummer."""

    __slots__ = ()


class Odd:
    """A cell of a type the checks know nothing of."""

    def __repr__(self) -> str:
        return "Odd()"


SUBCLASSED = st.one_of(st.text(max_size=6), WHITESPACE, st.sampled_from(TH)).map(Text)
NUMPY_SCALARS = st.sampled_from(
    [np.str_("3"), np.str_(" "), np.float64("nan"), np.float64(2.5), np.int64(3), np.bool_(True)]
)
MISSING = st.sampled_from([None, float("nan"), pd.NaT, pd.NA, np.datetime64("NaT")])
TEXTS = st.one_of(WHITESPACE, st.sampled_from(TH), st.text(max_size=8))

# Columns shaped for each way Cells splits them, and mixtures.
COLUMNS = st.one_of(
    st.lists(TEXTS, max_size=30),  # text only
    st.lists(st.none(), max_size=30),  # None only
    st.lists(st.one_of(st.none(), TEXTS), max_size=30),  # None and text
    st.lists(st.one_of(st.none(), st.floats()), max_size=30),  # None and floats, NaN too
    st.lists(st.one_of(st.none(), DATES), max_size=30),
    st.lists(st.one_of(st.none(), st.integers(-(10**6), 10**6)), max_size=30),
    st.lists(st.one_of(st.none(), st.booleans()), max_size=30),
    st.lists(st.one_of(st.none(), SUBCLASSED), max_size=30),  # None and a str subclass
    st.lists(st.one_of(TEXTS, SUBCLASSED), max_size=30),
    st.lists(st.one_of(MISSING, TEXTS, NUMPY_SCALARS), max_size=30),
    st.lists(st.one_of(CELLS, MISSING, NUMPY_SCALARS, SUBCLASSED, st.builds(Odd)), max_size=30),
)


def array(values: list[Any]) -> npt.NDArray[np.object_]:
    return np.fromiter(values, dtype=object, count=len(values))


def expected_date(value: Any) -> tuple[bool, float]:
    day = cell_values.to_date(value)
    if day is None:
        return False, float("nan")
    if pd.isna(day):  # NaT
        return True, float("nan")
    return True, float(day.toordinal())


def expected_number(value: Any) -> tuple[bool, float]:
    number = cell_values.to_number(value)
    return (False, float("nan")) if number is None else (True, number)


def answers(cells: cells_module.Cells) -> dict[str, Any]:
    """Everything a Cells tells, in comparable form."""
    ok, ordinals = cells.dates()
    is_number, values = cells.numbers()
    return {
        "values": cells.values.tolist(),
        "kinds": cells.kinds.tolist(),
        "kind_set": cells.kind_set,
        "present": set(cells.present),
        "by_type": {cls: cells.where_type(cls).tolist() for cls in cells.present},
        "text": cells.text.tolist(),
        "blank": cells.blank().tolist(),
        "nulls": cells.nulls().tolist(),
        "dates": comparable(list(zip(ok.tolist(), ordinals.tolist(), strict=True))),
        "numbers": comparable(list(zip(is_number.tolist(), values.tolist(), strict=True))),
        "texts": cells.texts().tolist(),
    }


def comparable(pairs: list[tuple[bool, float]]) -> tuple[list[bool], list[str]]:
    """Whether each is a date or number, and its value where it is (``repr``: NaN is NaN)."""
    return [ok for ok, _ in pairs], [repr(value) if ok else "-" for ok, value in pairs]


@given(values=COLUMNS)
@example(values=[])
@example(values=["3", "U", " "])
@example(values=[None, None])
@example(values=[None, "3", "\u3000"])
@example(values=[None, float("nan"), 2.5])
@example(values=[Text(" "), None, Text("3")])
@example(values=[pd.NaT, dt.date(2026, 9, 1), None])
@example(values=[np.str_("3"), "3", None])
@QUICK
def test_cells_answer_as_the_scalar_helpers(values: list[Any]) -> None:
    column = array(values)
    cells = cells_module.Cells(column)
    got = answers(cells)
    assert got["values"] == values
    assert got["present"] == {type(v) for v in values}
    assert got["kind_set"] == {cells_module._kind(type(v)) for v in values}
    assert got["kinds"] == [cells_module._kind(type(v)) for v in values]
    for cls, where in got["by_type"].items():
        assert where == [i for i, v in enumerate(values) if type(v) is cls]
    assert got["text"] == [i for i, v in enumerate(values) if isinstance(v, str)]
    assert got["blank"] == [cell_values._is_blank(v) for v in values]
    assert got["nulls"] == pd.isna(column).tolist()
    assert got["dates"] == comparable([expected_date(v) for v in values])
    assert got["numbers"] == comparable([expected_number(v) for v in values])
    assert got["texts"] == [str(v).strip() for v in values]


@given(values=COLUMNS, mark_filled=st.booleans())
@example(values=[None, "3", None, "U"], mark_filled=True)
@example(values=[None, " ", "3"], mark_filled=False)
@QUICK
def test_cells_without_nulls_answer_as_a_column_of_those_cells(
    values: list[Any], mark_filled: bool
) -> None:
    column = array(values)
    cells = cells_module.Cells(column)
    nulls = cells.nulls()
    rest = cells.without(nulls)
    fresh = cells_module.Cells(column[~nulls])
    if mark_filled:
        # What one_of does when every text is an allowed grade: the column's blanks follow.
        with checks_shared(rest):
            passed = column_checks.one_of(rest.values, allowed=TH)
        assert passed.tolist() == column_checks.one_of(fresh.values, allowed=TH).tolist()
    assert answers(rest) == answers(fresh)
    assert cells.blank().tolist() == [cell_values._is_blank(v) for v in values]


@contextmanager
def checks_shared(cells: cells_module.Cells) -> Iterator[None]:
    """Let the checks find ``cells`` for its values, as in run_schema's fast path."""
    token = cells_module.SHARED_CELLS.set({id(cells.values): (cells.values, cells)})
    try:
        yield
    finally:
        cells_module.SHARED_CELLS.reset(token)


def test_a_text_column_all_of_the_scale_marks_its_texts_filled() -> None:
    column = array([None, "3", "U", None, "5"])
    cells = cells_module.Cells(column)
    rest = cells.without(cells.nulls())
    assert rest.only(str) and rest._text is cells._text
    with checks_shared(rest):
        assert column_checks.one_of(rest.values, allowed=TH).all()
    assert cells._text._blank is not None and not cells._text._blank.any()
    assert cells.blank().tolist() == [True, False, False, True, False]
    # A blank among the allowed texts: nothing is concluded.
    cells = cells_module.Cells(array(["3", " "]))
    with checks_shared(cells):
        assert column_checks.one_of(cells.values, allowed=["3", " "]).all()
    assert cells.blank().tolist() == [False, True]


# --------------------------------------------------------------------------- ISO date texts


@contextmanager
def iso_texts_as_arrays(few: int) -> Iterator[None]:
    """Read ISO date texts one by one up to ``few`` of them (-1: always as arrays)."""
    before = cell_values._FEW_ISO_TEXTS
    cell_values._FEW_ISO_TEXTS = few  # type: ignore[misc]
    try:
        yield
    finally:
        cell_values._FEW_ISO_TEXTS = before  # type: ignore[misc]


def iso_reference(text: str) -> int | None:
    if not (cell_values._ISO_DATE.match(text) and text.isascii()):
        return None
    try:
        return dt.date.fromisoformat(text).toordinal()
    except ValueError:
        return None


ISO_LIKE = st.one_of(
    DATES.map(dt.date.isoformat),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),
    st.text(alphabet="0123456789-/٣０ ", min_size=10, max_size=10),
    st.sampled_from(
        ["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01", "0001-01-01"]
    ),
    st.sampled_from(["9999-12-31", "2026-13-01", "2026-00-10", "2026-04-31", "2026-01-00"]),
    st.sampled_from(["2026-W01-1", "2026/01/01", "20260101  ", "２０２６-01-01", "2026-01-1٣"]),
)


@given(texts=st.lists(ISO_LIKE, max_size=80))
@QUICK
def test_iso_texts_read_one_by_one_and_as_arrays_alike(texts: list[str]) -> None:
    expected = [iso_reference(t) for t in texts]
    for few in (-1, 10**6):
        with iso_texts_as_arrays(few):
            valid, ordinals = cell_values.iso_ordinals(array(texts))
        assert [int(o) if v else None for v, o in zip(valid, ordinals, strict=True)] == expected


@given(values=st.lists(CELLS, max_size=60), bound=st.sampled_from(["2026-11-28", "1500-01-01"]))
@QUICK
def test_date_checks_answer_alike_with_iso_texts_as_arrays(values: list[Any], bound: str) -> None:
    values = values + [f" {v} " for v in values if isinstance(v, dt.date)]
    with iso_texts_as_arrays(-1):
        assert_same_as_reference("iso_date", values)
        assert_same_as_reference("date_not_in_future", values, today=bound)
        assert_same_as_reference("date_not_before", values, earliest=bound)


# --------------------------------------------------------------------------- personnummer


@given(
    year=st.integers(-3, 10_003) | st.sampled_from([0, 4, 100, 1600, 1900, 2000, 2024, 9999]),
    month=st.integers(-2, 16),
    day=st.integers(-2, 33),
)
@QUICK
def test_calendar_tables_agree_with_datetime(year: int, month: int, day: int) -> None:
    try:
        ordinal: int | None = dt.date(year, month, day).toordinal()
    except ValueError:
        ordinal = None
    for dtype in (np.int16, np.int64):
        y: npt.NDArray[np.integer] = np.array([year], dtype=dtype)
        m: npt.NDArray[np.integer] = np.array([month], dtype=dtype)
        d: npt.NDArray[np.integer] = np.array([day], dtype=dtype)
        assert personnummer.valid_dates(y, m, d).tolist() == [ordinal is not None]
        if ordinal is not None:
            assert personnummer.date_ordinals(y, m, d).tolist() == [ordinal]


@given(st.lists(numbers(), max_size=40), st.booleans())
@QUICK
def test_the_all_str_hint_changes_nothing(digits: list[str], long: bool) -> None:
    values = array([f"{d[:8]}-{d[8:]}" if long else d for d in digits])
    personnummer._LAST[:] = [None, None]
    hinted = personnummer.canonical_validity(values, all_str=True)
    personnummer._LAST[:] = [None, None]
    plain = personnummer.canonical_validity(values)
    assert hinted[0].tolist() == plain[0].tolist() == list(range(len(values)))
    assert hinted[1].tolist() == plain[1].tolist()
    assert plain[1].tolist() == [personnummer.is_valid(v) for v in values]


@given(st.lists(st.one_of(written(), numbers()), min_size=1, max_size=30))
@example(["19900101-1239", "１９９００１０１-１２３９", "19900101-123９"])
@QUICK
def test_non_ascii_columns_answer_as_parse(values: list[object]) -> None:
    values = [*values, "１９９００１０１１２３９", "19900101-1239"]  # not ASCII: UCS-4 codes
    personnummer._LAST[:] = [None, None]
    assert personnummer.valid_mask(values).tolist() == [personnummer.is_valid(v) for v in values]
    personnummer._LAST[:] = [None, None]
    expected: list[str | None] = []
    for v in values:
        try:
            expected.append(personnummer.normalize(v))
        except personnummer.PersonnummerError:
            expected.append(None)
    assert personnummer.normalize_many(values) == expected


def test_normalize_many_of_a_valid_column() -> None:
    digits = [
        with_check_digit(f"1990{m:02d}{d:02d}{s:03d}") for m, d, s in [(1, 1, 123), (2, 28, 7)]
    ]
    values = [f"{digits[0][:8]}-{digits[0][8:]}", digits[1]]
    personnummer._LAST[:] = [None, None]
    assert personnummer.normalize_many(values) == digits
    assert personnummer.normalize_many(values) == digits  # the cached canonical forms
    assert personnummer.normalize_many([]) == []


# --------------------------------------------------------------------------- run_schema


def problems(frame: pd.DataFrame, *, force_pandera: bool) -> list[Any]:
    loaded = checks.load_schema("t33_workbook", params=T33_PARAMS)
    return checks.run_schema(
        loaded, frame, sheet="Resultat", letters=LETTERS, force_pandera=force_pandera
    )


@st.composite
def large_frames(draw: st.DrawFn) -> pd.DataFrame:
    """A frame of a few generated rows repeated past the one-by-one thresholds, with a few
    spoiled cells (or none)."""
    small = draw(frames(T33_FIELDS))
    if small.empty:
        small = draw(frames(T33_FIELDS, clean=True).filter(lambda f: not f.empty))
    copies = draw(st.integers(1, 60 // len(small) + 1)) + 40 // len(small)
    frame = pd.concat([small] * copies, ignore_index=True).astype(object)
    frame.index = pd.RangeIndex(5, 5 + len(frame))
    if "grade_date" in frame and draw(st.booleans()):
        # ISO texts, enough to be read as arrays: good ones, or any date.
        days = st.one_of(st.dates(min_value=COURSE_START, max_value=TODAY), DATES)
        for row in frame.index[:40]:
            if frame.at[row, "grade_date"] is not None:
                frame.at[row, "grade_date"] = f"{draw(days):%Y-%m-%d}"
    return frame


@given(frame=large_frames())
@FRAMES
def test_large_frames_get_the_problems_pandera_gives(frame: pd.DataFrame) -> None:
    assert problems(frame, force_pandera=False) == problems(frame, force_pandera=True)


def test_the_plan_of_a_loaded_schema_is_its_own() -> None:
    loaded = checks.load_schema("t33_workbook", params=T33_PARAMS)
    t34 = checks.load_schema("t34_workbook", params=T34_PARAMS)
    assert fastpath.plan_of(loaded.schema) is fastpath.plan_of(loaded.schema)
    assert fastpath.plan_of(loaded.schema) is not None
    assert fastpath.plan_of(t34.schema) is None  # pandera's own checks: no fast path
    frame = pd.DataFrame(
        {"pnr": ["19900101-1239"], "grade": ["3"], "grade_date": [None], "comment": [None]},
        index=[7],
        dtype=object,
    )
    frame["points"] = None
    found = checks.run_schema(loaded, frame, sheet="Resultat", letters=LETTERS)
    assert [(p.slug, p.row) for p in found] == [("grade-without-date", 7)]
