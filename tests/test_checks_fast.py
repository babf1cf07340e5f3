"""The vectorised checks and the fast path of ``run_schema``.

Three promises, each tested against an oracle on generated input:

- ``personnummer.valid_mask`` and ``normalize_many`` answer as ``is_valid`` and ``normalize``
  do, value by value (canonical forms, every other written form, mutated numbers, junk).
- Each check registered with pandera answers, cell by cell, as its former element-wise
  definition did (kept below as ``REFERENCE``), for a Series and for an object array alike.
- ``run_schema`` gives exactly the problems it gives when forced through pandera, on random
  frames over the real T33 and T34 schemas: the fast path never accepts what pandera rejects.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.domain import personnummer
from pipeline.intake import cell_values, checks, column_checks, fastpath
from pipeline.intake.report import Problem

# Equivalence of the fast path with pandera on generated input: minutes, not seconds.
pytestmark = pytest.mark.slow

TODAY = dt.date(2026, 11, 28)
COURSE_START = dt.date(2026, 8, 31)
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAMES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TH = ["U", "3", "4", "5"]
AF = ["A", "B", "C", "D", "E", "Fx", "F"]
T33_PARAMS = {
    "grades": TH,
    "ects_grades": AF,
    "today": TODAY.isoformat(),
    "course_start": COURSE_START.isoformat(),
}
T34_PARAMS = {
    **T33_PARAMS,
    "failing": ["U"],
    "ects_failing": ["Fx", "F"],
    "remove_marks": ["X"],
}
LETTERS = {
    name: letter
    for name, letter in zip(
        ["pnr", "grade", "ects_grade", "grade_date", "points", "comment", "remove"],
        "BCDEFGH",
        strict=True,
    )
}


# --------------------------------------------------------------------------- personnummer


def with_check_digit(eleven: str) -> str:
    """Twelve digits from ``YYYYMMDDNNN`` and the Luhn digit over the last nine of them."""
    return eleven + str(personnummer.luhn_digit(eleven[2:]))


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """Twelve digits: valid, or valid but for one thing (check digit, month, day, Feb 29)."""
    born = draw(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
    coordination = 60 if draw(st.booleans()) else 0
    serial = f"{draw(st.integers(0, 999)):03d}"
    year, month, day = f"{born.year:04d}", f"{born.month:02d}", f"{born.day + coordination:02d}"
    mutation = draw(st.sampled_from(["none", "check", "month", "day", "feb29", "year0"]))
    match mutation:
        case "month":
            month = draw(st.sampled_from(["00", "13", "19", "99"]))
        case "day":
            day = draw(st.sampled_from(["00", "29", "30", "31", "32", "60", "89", "91", "92"]))
        case "feb29":
            year = draw(st.sampled_from(["0004", "1600", "1900", "2000", "2023", "2024", "2100"]))
            month, day = "02", "89" if coordination else "29"
        case "year0":
            year = "0000"
    digits = with_check_digit(year + month + day + serial)
    if mutation == "check":
        digits = digits[:-1] + str((int(digits[-1]) + draw(st.integers(1, 9))) % 10)
    return digits


@st.composite
def written(draw: st.DrawFn) -> object:
    """A number in one of the forms staff write, or in a form spreadsheets make of it."""
    d = draw(numbers())
    form = draw(
        st.sampled_from(
            [
                "long",
                "plain",
                "plus",
                "short",
                "short-plain",
                "short-plus",
                "spaces",
                "apostrophe",
                "excel",
                "inner-space",
                "number",
                "numpy-text",
                "nul",
                "fullwidth",
            ]
        )
    )
    match form:
        case "long":
            return f"{d[:8]}-{d[8:]}"
        case "plain":
            return d
        case "plus":
            return f"{d[:8]}+{d[8:]}"
        case "short":
            return f"{d[2:8]}-{d[8:]}"
        case "short-plain":
            return d[2:]
        case "short-plus":
            return f"{d[2:8]}+{d[8:]}"
        case "spaces":
            return f" {d[:8]}-{d[8:]}\t"
        case "apostrophe":
            return f"'{d[:8]}-{d[8:]}"
        case "excel":
            return f'="{d}"'
        case "inner-space":
            return f"{d[:8]} {d[8:]}"
        case "number":
            return draw(st.sampled_from([int(d), float(d), np.int64(int(d)), float(d[2:])]))
        case "numpy-text":
            return np.str_(f"{d[:8]}-{d[8:]}")
        case "nul":
            return f"{d[:8]}-{d[8:]}\x00" if draw(st.booleans()) else f"{d}\x00"
        case _:
            return d[:-1] + chr(ord(d[-1]) - ord("0") + ord("０"))


JUNK = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.dates(),
    st.datetimes(),
    st.text(max_size=14),
    st.text(alphabet="0123456789-+ '\"=", min_size=10, max_size=14),
)
PNR_CELLS = st.one_of(written(), written(), written(), JUNK)


def normalize_or_none(value: object) -> str | None:
    try:
        return personnummer.normalize(value)
    except personnummer.PersonnummerError:
        return None


@given(st.lists(PNR_CELLS, max_size=40))
@example(["19900101-1239", "199001011239", "19900101-1238", "20000229-0007"])
@example(["19000229-1234", "20240229-1234", "19900161-1236", "19900160-1237", "199001011239\x00"])
@QUICK
def test_valid_mask_and_normalize_many_answer_as_parse(values: list[object]) -> None:
    expected_valid = [personnummer.is_valid(v) for v in values]
    expected = [normalize_or_none(v) for v in values]
    assert personnummer.valid_mask(values).tolist() == expected_valid
    assert personnummer.normalize_many(values) == expected
    as_array = np.fromiter(values, dtype=object, count=len(values))
    assert personnummer.valid_mask(as_array).tolist() == expected_valid
    assert personnummer.normalize_many(pd.Series(as_array, dtype=object)) == expected


def test_valid_mask_takes_the_calendar_seriously() -> None:
    values = [
        with_check_digit("20000229123"),  # 2000 is a leap year
        with_check_digit("19000229123"),  # 1900 is not
        with_check_digit("20240289123"),  # samordningsnummer on Feb 29 of a leap year
        with_check_digit("20230289123"),
        with_check_digit("19900160123"),  # day 60: neither a day nor a coordination day
        with_check_digit("00010101123"),  # year 1 is a date
        with_check_digit("00000101123"),  # year 0 is not
    ]
    assert personnummer.valid_mask(values).tolist() == [
        True,
        False,
        True,
        False,
        False,
        True,
        False,
    ]
    assert personnummer.normalize_many(values[:1]) == [values[0]]


# --------------------------------------------------------------------------- checks, cell by cell


def _date_before(value: Any, bound: str, *, latest: bool) -> bool:
    day = cell_values.to_date(value)
    if day is None:
        return True
    return day <= dt.date.fromisoformat(bound) if latest else day >= dt.date.fromisoformat(bound)


def _non_negative(value: Any) -> bool:
    number = cell_values.to_number(value)
    return number is None or number >= 0


# The element-wise definitions the checks had before they were vectorised.
REFERENCE: dict[str, Callable[..., bool]] = {
    "is_personnummer": lambda v: cell_values._is_blank(v) or personnummer.is_valid(v),
    "iso_date": lambda v: cell_values._is_blank(v) or cell_values.to_date(v) is not None,
    "date_not_in_future": lambda v, *, today: _date_before(v, today, latest=True),
    "date_not_before": lambda v, *, earliest: _date_before(v, earliest, latest=False),
    "is_number": lambda v: cell_values._is_blank(v) or cell_values.to_number(v) is not None,
    "non_negative": _non_negative,
    "one_of": lambda v, *, allowed: cell_values._is_blank(v) or v in allowed,
    "mark_of": lambda v, *, allowed: (
        cell_values._is_blank(v) or str(v).strip().upper() in {a.upper() for a in allowed}
    ),
}

WHITESPACE = st.text(alphabet=" \t\n\u00a0\u2003\u3000\x1c", max_size=2)
DATES = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
DATETIMES = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
CELLS = st.one_of(
    st.none(),
    st.just(float("nan")),
    WHITESPACE,
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(),
    st.sampled_from([np.float64(2.5), np.float64("nan"), np.int64(3), np.float32(1.5)]),
    DATES,
    DATETIMES,
    DATETIMES.map(lambda d: d.replace(tzinfo=dt.timezone(dt.timedelta(hours=-11)))),
    st.datetimes(min_value=dt.datetime(1700, 1, 1), max_value=dt.datetime(2200, 1, 1)).map(
        pd.Timestamp
    ),
    st.tuples(WHITESPACE, DATES, WHITESPACE).map(lambda t: f"{t[0]}{t[1].isoformat()}{t[2]}"),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),
    st.sampled_from(["2024-02-29", "2023-02-29", "1900-02-29", "0000-01-01", "２０２４-01-01"]),
    st.text(alphabet="0123456789-.,e +_\u00a0", max_size=10),
    st.sampled_from(["nan", "-inf", "1_000", "٣", " 3,5 ", "-0", "1e400", "0x10", "1\x00"]),
    st.sampled_from([*TH, "u", " 5 ", "VG", "x", "X", " x ", "ß", np.str_("3")]),
    st.text(max_size=6),
    PNR_CELLS,
)
BOUNDS = st.sampled_from([TODAY, COURSE_START, dt.date(1500, 1, 1), dt.date(9999, 12, 31)])
ALLOWED = st.sampled_from([TH, AF, ["X"], ["x", "ß"], [], ["3", 3], "U3"])


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # the check raising is an answer too (pandera reports it)
        return "raises", type(exc).__name__


def assert_same_as_reference(name: str, values: list[Any], **stats: Any) -> None:
    fn, _ = column_checks.CHECKS[name]
    reference = functools.partial(REFERENCE[name], **stats)
    cells = [outcome(functools.partial(reference, v)) for v in values]
    failures = {kind for kind, _ in cells if kind == "raises"}
    series = pd.Series(values, index=range(5, 5 + len(values)), dtype=object)
    got = outcome(lambda: fn(series, **stats))
    array = outcome(lambda: fn(np.fromiter(values, dtype=object, count=len(values)), **stats))
    if failures:
        assert got[0] == "raises" and array[0] == "raises", (values, cells, got)
        return
    assert got[0] == "ok", got
    assert isinstance(got[1], pd.Series) and got[1].dtype == bool
    assert got[1].index.equals(series.index)
    assert got[1].tolist() == [answer for _, answer in cells], values
    assert array[0] == "ok" and isinstance(array[1], np.ndarray)
    assert array[1].tolist() == got[1].tolist()


@pytest.mark.parametrize("name", ["is_personnummer", "iso_date", "is_number", "non_negative"])
@given(values=st.lists(CELLS, max_size=25))
@QUICK
def test_check_answers_as_its_element_wise_definition(name: str, values: list[Any]) -> None:
    assert_same_as_reference(name, values)


@given(values=st.lists(CELLS, max_size=25), bound=BOUNDS)
@QUICK
def test_date_bounds_answer_as_their_element_wise_definition(
    values: list[Any], bound: dt.date
) -> None:
    around = [bound + dt.timedelta(days=d) for d in (-1, 0, 1) if dt.date.min < bound < dt.date.max]
    around += [dt.datetime(d.year, d.month, d.day, 23, 59) for d in around]
    values = values + around + [f" {d:%Y-%m-%d}" for d in around]
    assert_same_as_reference("date_not_in_future", values, today=bound.isoformat())
    assert_same_as_reference("date_not_before", values, earliest=bound.isoformat())


@given(values=st.lists(CELLS, max_size=25), allowed=ALLOWED)
@QUICK
def test_memberships_answer_as_their_element_wise_definition(
    values: list[Any], allowed: Any
) -> None:
    assert_same_as_reference("one_of", values, allowed=allowed)
    assert_same_as_reference("mark_of", values, allowed=allowed)


def test_missing_values_pandera_never_shows_a_check_behave_as_before() -> None:
    for values in ([pd.NaT], [pd.NA], [pd.NaT, dt.date(2026, 1, 1)], [10**400]):
        assert_same_as_reference("iso_date", values)
        assert_same_as_reference("date_not_in_future", values, today="2026-06-01")
        assert_same_as_reference("one_of", values, allowed=TH)
        assert_same_as_reference("is_number", values)


def test_dates_outside_the_nanosecond_range_are_dates() -> None:
    values = [
        dt.datetime(1500, 3, 1, 12),
        dt.date(9999, 12, 31),
        "1500-03-01",
        "9999-12-31",
        dt.date(1, 1, 1),
    ]
    series = pd.Series(values, dtype=object)
    assert column_checks.iso_date(series).all()
    assert column_checks.date_not_in_future(series, today="2026-06-01").tolist() == [
        True,
        False,
        True,
        False,
        True,
    ]
    assert column_checks.date_not_before(series, earliest="2026-01-01").tolist() == [
        False,
        True,
        False,
        True,
        False,
    ]


# --------------------------------------------------------------------------- the fast path


def good_cell(field: str) -> st.SearchStrategy[Any]:
    """What a correct teacher's workbook holds in ``field``."""
    days = st.dates(min_value=COURSE_START, max_value=TODAY)
    match field:
        case "pnr":
            return st.builds(
                lambda d, long: f"{d[:8]}-{d[8:]}" if long else d,
                st.builds(
                    lambda born, serial: with_check_digit(f"{born:%Y%m%d}{serial:03d}"),
                    st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2008, 1, 1)),
                    st.integers(0, 999),
                ),
                st.booleans(),
            )
        case "grade":
            return st.one_of(st.none(), st.sampled_from(TH))
        case "ects_grade":
            return st.one_of(st.none(), st.sampled_from(AF))
        case "grade_date":
            return st.one_of(
                st.none(),
                days.map(lambda d: dt.datetime(d.year, d.month, d.day)),
                days.map(dt.date.isoformat),
            )
        case "points":
            return st.one_of(st.none(), st.floats(0, 100), st.integers(0, 100), st.just("1,5"))
        case "remove":
            return st.sampled_from([None, "X", " x "])
        case _:
            return st.one_of(st.none(), st.text(max_size=10))


def bad_cell(field: str) -> st.SearchStrategy[Any]:
    """A cell a teacher (or a spreadsheet program) may have got wrong, or a blank."""
    days = st.dates(min_value=dt.date(1500, 1, 1), max_value=dt.date(9999, 12, 31))
    specific = {
        "pnr": PNR_CELLS,
        "grade": st.sampled_from(["G", "u", 3, 3.0, "", " ", "Fx", True]),
        "ects_grade": st.sampled_from(["a", "G", "U", 1]),
        "grade_date": st.one_of(
            days,
            days.map(dt.date.isoformat),
            st.sampled_from(["2026-02-30", "31/12/2026", "", 45000.0, pd.NaT, pd.Timestamp(TODAY)]),
        ),
        "points": st.sampled_from(
            ["abc", -1.0, "-2", "nan", float("nan"), True, "3 5", np.int64(2)]
        ),
        "remove": st.sampled_from(["Y", "ja", 1, "xx"]),
    }
    own = specific.get(field, st.nothing())
    return st.one_of(own, own, st.none(), st.just(float("nan")), CELLS)


OPTIONAL = ("ects_grade", "remove")  # required: false in the schemas


@st.composite
def frames(draw: st.DrawFn, fields: list[str], *, clean: bool = False) -> pd.DataFrame:
    """A frame as the reader makes it (object columns, indexed by sheet row number): all
    good, all good but one cell (the case that tells a sloppy fast path), or dirty."""
    mode = "clean" if clean else draw(st.sampled_from(["clean", "one", "one", "dirty"]))
    n = draw(st.integers(1 if mode == "one" else 0, 12))
    first = draw(st.integers(2, 40))
    columns = [f for f in fields if f not in OPTIONAL or draw(st.booleans())]
    if not clean and draw(st.integers(0, 9)) == 0:
        columns.remove(draw(st.sampled_from(columns)))  # a required column missing
    if draw(st.booleans()):
        columns.append("name")  # a column the schema does not know
    data = {name: [draw(good_cell(name)) for _ in range(n)] for name in columns}
    if mode == "one":
        name = draw(st.sampled_from(columns))
        data[name][draw(st.integers(0, n - 1))] = draw(bad_cell(name))
    elif mode == "dirty":
        for name in columns:
            for row in range(n):
                if draw(st.integers(0, 2)) == 0:
                    data[name][row] = draw(bad_cell(name))
    return pd.DataFrame(data, index=range(first, first + n), columns=columns, dtype=object)


T33_FIELDS = ["pnr", "grade", "ects_grade", "grade_date", "points", "comment"]
T34_FIELDS = ["pnr", "grade", "ects_grade", "grade_date", "comment", "remove"]


def problems(
    kind: str, params: dict[str, Any], frame: pd.DataFrame, *, force_pandera: bool
) -> list[Problem]:
    loaded = checks.load_schema(f"{kind}_workbook", params=params)
    return checks.run_schema(
        loaded,
        frame,
        sheet="Resultat",
        letters=LETTERS,
        params={"scale": "TH"},
        force_pandera=force_pandera,
    )


def schema_problems(found: list[Problem]) -> list[Problem]:
    """Leave out the row rules' problems (``requires``), checked beside the schema."""
    rule_slugs = {"grade-without-date", "date-without-grade", "ects-without-grade"}
    return [p for p in found if p.slug not in rule_slugs]


@given(frame=frames(T33_FIELDS))
@FRAMES
def test_t33_fast_path_gives_the_problems_pandera_gives(frame: pd.DataFrame) -> None:
    loaded = checks.load_schema("t33_workbook", params=T33_PARAMS)
    fast = problems("t33", T33_PARAMS, frame, force_pandera=False)
    slow = problems("t33", T33_PARAMS, frame, force_pandera=True)
    assert fast == slow
    if fastpath.passes_fast(loaded.schema, frame):
        assert schema_problems(slow) == []


@given(frame=frames(T34_FIELDS))
@FRAMES
def test_t34_fast_path_gives_the_problems_pandera_gives(frame: pd.DataFrame) -> None:
    fast = problems("t34", T34_PARAMS, frame, force_pandera=False)
    slow = problems("t34", T34_PARAMS, frame, force_pandera=True)
    assert fast == slow


@given(frame=frames(T33_FIELDS, clean=True))
@FRAMES
def test_a_valid_t33_frame_takes_the_fast_path(frame: pd.DataFrame) -> None:
    loaded = checks.load_schema("t33_workbook", params=T33_PARAMS)
    assert fastpath.passes_fast(loaded.schema, frame)
    found = problems("t33", T33_PARAMS, frame, force_pandera=False)
    assert schema_problems(found) == []
    assert found == problems("t33", T33_PARAMS, frame, force_pandera=True)


def test_fast_path_finds_each_kind_of_failure_and_leaves_it_to_pandera() -> None:
    loaded = checks.load_schema("t33_workbook", params=T33_PARAMS)
    good = pd.DataFrame(
        {
            "pnr": ["19900101-1239", "199001611236"],
            "grade": ["3", None],
            "grade_date": [dt.datetime(2026, 9, 1), None],
            "points": [12.5, "3,5"],
            "comment": [None, "sjuk"],
        },
        index=[8, 9],
        dtype=object,
    )
    assert fastpath.passes_fast(loaded.schema, good)
    spoiled = [
        ("pnr", 8, "19900101-1238", "pnr-check-digit"),
        ("pnr", 8, None, "missing-value"),
        ("grade", 8, "G", "grade-not-in-scale"),
        ("grade_date", 8, "2026-02-30", "date-format"),
        ("grade_date", 8, dt.datetime(9999, 1, 1), "date-in-future"),
        ("grade_date", 8, "1500-01-01", "date-before-course-start"),
        ("points", 8, "tolv", "points-not-number"),
        ("points", 8, -1, "points-negative"),
    ]
    for field, row, value, slug in spoiled:
        frame = good.copy()
        frame.at[row, field] = value
        assert not fastpath.passes_fast(loaded.schema, frame), (field, value)
        found = checks.run_schema(loaded, frame, sheet="Resultat", letters=LETTERS)
        assert [(p.slug, p.row, p.field) for p in found] == [(slug, row, field)]
    assert not fastpath.passes_fast(loaded.schema, good.drop(columns=["grade"]))


def test_schemas_with_builtin_checks_go_to_pandera() -> None:
    t34 = checks.load_schema("t34_workbook", params=T34_PARAMS)  # notin is pandera's own
    students = checks.load_schema("registry/students")  # so are str_length and str_matches
    frame = pd.DataFrame(
        {"pnr": ["19900101-1239"], "grade": ["3"], "grade_date": [TODAY], "comment": [None]}
    )
    assert not fastpath.passes_fast(t34.schema, frame.astype(object))
    assert not fastpath.passes_fast(students.schema, frame.astype(object))


def test_row_rules_find_filled_cells_missing_their_partner() -> None:
    loaded = checks.load_schema("t33_workbook", params=T33_PARAMS)
    frame = pd.DataFrame(
        {
            "pnr": ["19900101-1239"] * 4,
            "grade": ["3", " ", "4", math.nan],
            "grade_date": ["\u00a0", "2026-09-01", "2026-09-01", None],
            "points": [None] * 4,
            "comment": [None] * 4,
        },
        index=[10, 11, 12, 13],
        dtype=object,
    )
    found = checks.run_schema(loaded, frame, sheet="Resultat", letters=LETTERS)
    assert [(p.slug, p.row, p.column) for p in found] == [
        ("grade-without-date", 10, "E"),
        ("date-without-grade", 11, "C"),
    ]
