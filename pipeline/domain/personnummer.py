"""Swedish personal identity numbers (personnummer) and coordination numbers.

Owns parsing every written form staff use, normalising to the 12-digit form we store, the Luhn
check digit, masking for logs, and generating valid numbers for tests and demo data. It also
recognises values a spreadsheet program has mangled (turned into a number or a date) so the
receipt can say exactly that. Samordningsnummer have 60 added to the day of birth.
:func:`valid_mask` and :func:`normalize_many` answer for a whole column at once, with array
operations for the canonical forms our workbooks hold.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import numbers
import operator
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

_PATTERN: Final = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)$", re.ASCII)
_NUMBER_LIKE: Final = re.compile(r"^\d+([.,]\d+)?([eE][+-]?\d+)?$", re.ASCII)
_DATE_LIKE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$", re.ASCII)


class PersonnummerError(ValueError):
    """A value that is not a valid personnummer; ``slug`` says which kind of problem."""

    def __init__(self, slug: str, value: object) -> None:
        super().__init__(f"{slug}: {value!r}")
        self.slug = slug
        self.value = value


@dataclass(frozen=True, order=True)
class Personnummer:
    """A normalised number: ``digits`` is always 12 digits, ``YYYYMMDDNNNN``."""

    digits: str

    @property
    def birth_date(self) -> dt.date:
        return _birth_date(self.digits)

    @property
    def is_samordningsnummer(self) -> bool:
        return int(self.digits[6:8]) > 60

    def short(self, *, today: dt.date | None = None) -> str:
        """The ten-digit form with separator, as printed on Swedish documents: ``+`` for a
        person who is 100 or older (``today``), ``-`` otherwise."""
        today = today or dt.date.today()
        born = self.birth_date
        hundredth = (
            born.replace(year=born.year + 100)
            if (born.month, born.day) != (2, 29)
            else dt.date(born.year + 100, 3, 1)
        )
        sep = "+" if today >= hundredth else "-"
        return f"{self.digits[2:8]}{sep}{self.digits[8:]}"

    def long(self) -> str:
        return f"{self.digits[:8]}-{self.digits[8:]}"

    def masked(self) -> str:
        return mask(self.digits)

    def __str__(self) -> str:
        return self.digits


def luhn_digit(nine: str) -> int:
    """Check digit over the first nine digits of the ten-digit form."""
    total = 0
    for i, ch in enumerate(nine):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def _birth_date(digits: str) -> dt.date:
    day = int(digits[6:8])
    if day > 60:
        day -= 60
    return dt.date(int(digits[:4]), int(digits[4:6]), day)


def parse(value: object, *, today: dt.date | None = None) -> Personnummer:
    """Parse any accepted written form into a :class:`Personnummer`.

    Accepts ``YYMMDD-NNNN``, ``YYMMDD+NNNN`` (a person over 100), ``YYMMDDNNNN``,
    ``YYYYMMDDNNNN`` and ``YYYYMMDD-NNNN``, surrounded by whitespace, a leading apostrophe or
    Excel's ``="..."`` wrapper. Raises :class:`PersonnummerError` with slug ``pnr-as-number``,
    ``pnr-as-date``, ``pnr-invalid-format``, ``pnr-invalid-date`` or ``pnr-check-digit``.
    """
    if isinstance(value, bool):
        raise PersonnummerError("pnr-invalid-format", value)
    if isinstance(value, numbers.Real):
        raise PersonnummerError("pnr-as-number", value)
    if isinstance(value, dt.date | dt.datetime):
        raise PersonnummerError("pnr-as-date", value)
    if not isinstance(value, str):
        raise PersonnummerError("pnr-invalid-format", value)
    text = value.strip().lstrip("'")
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    text = text.strip()
    if _DATE_LIKE.match(text):
        raise PersonnummerError("pnr-as-date", value)
    text = text.replace(" ", "")
    match = _PATTERN.match(text)
    if match is None:
        if _DATE_LIKE.match(text):
            raise PersonnummerError("pnr-as-date", value)
        if _NUMBER_LIKE.match(text) and ("e" in text.lower() or "." in text or "," in text):
            raise PersonnummerError("pnr-as-number", value)
        raise PersonnummerError("pnr-invalid-format", value)
    century, yy, mm, dd, sep, serial, check = match.groups()
    if century is None:
        today = today or dt.date.today()
        year = _century_for(int(yy), int(mm), int(dd), today)
        if sep == "+":
            year -= 100
        full_year = f"{year:04d}"
    else:
        full_year = century + yy
    digits = f"{full_year}{mm}{dd}{serial}{check}"
    try:
        _birth_date(digits)
    except ValueError:
        raise PersonnummerError("pnr-invalid-date", value) from None
    if luhn_digit(digits[2:11]) != int(check):
        raise PersonnummerError("pnr-check-digit", value)
    return Personnummer(digits)


def _century_for(yy: int, mm: int, dd: int, today: dt.date) -> int:
    """The latest year ending in ``yy`` whose birth date is not after ``today``."""
    year = today.year - (today.year - yy) % 100
    day = dd - 60 if dd > 60 else dd
    try:
        if dt.date(year, mm, day) > today:
            year -= 100
    except ValueError:
        pass
    return year


def normalize(value: object) -> str:
    """The 12-digit string of any accepted form (raises :class:`PersonnummerError`)."""
    return parse(value).digits


def is_valid(value: object) -> bool:
    try:
        parse(value)
    except PersonnummerError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Whole columns at once

# The calendar as tables (a lookup is one array operation): for each year from 0 to 9999,
# whether it is a leap year (proleptic Gregorian: every fourth year except centuries not
# divisible by 400) and the days before it (``date.toordinal`` of its 1 January, less one);
# for each month, its days and the days before it in the year, at ``month`` in a common year
# and at ``14 + month`` in a leap year (months 0 and 13 have no days).
_YEARS: Final = np.arange(10000)
_LEAP_YEARS: Final = (_YEARS % 4 == 0) & ((_YEARS % 100 != 0) | (_YEARS % 400 == 0))
_DAYS_BEFORE_YEAR: Final = (
    (_YEARS - 1) * 365 + (_YEARS - 1) // 4 - (_YEARS - 1) // 100 + (_YEARS - 1) // 400
)
_MONTHS: Final = [[0, 31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0] for leap in (0, 1)]
_MONTH_DAYS: Final = np.array(_MONTHS, np.int64).ravel()
_DAYS_BEFORE_MONTH: Final = np.array(
    [[0, *itertools.accumulate(days[:-1])] for days in _MONTHS], np.int64
).ravel()
# Luhn: a doubled digit counts with its digit sum.
_DOUBLED: Final = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], np.int16)
_ZERO: Final = ord("0")
# Where the twelve digits are in ``YYYYMMDD-NNNN``.
_DIGITS_OF_13: Final = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12])


def valid_dates(
    year: npt.NDArray[np.integer], month: npt.NDArray[np.integer], day: npt.NDArray[np.integer]
) -> npt.NDArray[np.bool_]:
    """Which ``(year, month, day)`` triples are real dates, as :class:`datetime.date` sees it
    (years 1 to 9999, proleptic Gregorian calendar: leap years every fourth year except
    centuries not divisible by 400). Also used by :mod:`pipeline.intake.checks` for ISO date
    text."""
    last = _MONTH_DAYS.take(_month_index(year, month))
    valid: npt.NDArray[np.bool_] = (year >= 1) & (year <= 9999) & (day >= 1) & (day <= last)
    return valid


def _month_index(
    year: npt.NDArray[np.integer], month: npt.NDArray[np.integer]
) -> npt.NDArray[np.integer]:
    """Where each month of each year is in ``_MONTH_DAYS`` and ``_DAYS_BEFORE_MONTH`` (a year
    outside 0 to 9999 counts as 0 or 9999, a month outside 0 to 13 as 0 or 13)."""
    leap = _LEAP_YEARS.take(year, mode="clip")
    index: npt.NDArray[np.integer] = np.minimum(np.maximum(month, 0), 13) + 14 * leap
    return index


def date_ordinals(
    year: npt.NDArray[np.integer], month: npt.NDArray[np.integer], day: npt.NDArray[np.integer]
) -> npt.NDArray[np.int64]:
    """``date.toordinal`` of each ``(year, month, day)`` triple that :func:`valid_dates`
    accepts (any number for the others)."""
    ordinals: npt.NDArray[np.int64] = (
        _DAYS_BEFORE_YEAR.take(year, mode="clip")
        + _DAYS_BEFORE_MONTH.take(_month_index(year, month))
        + day
    )
    return ordinals


def _as_objects(values: Iterable[Any]) -> npt.NDArray[np.object_]:
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        return values
    to_numpy = getattr(values, "to_numpy", None)
    if callable(to_numpy):
        array: npt.NDArray[np.object_] = np.asarray(to_numpy(dtype=object), dtype=object)
        return array
    items = list(values)
    return np.fromiter(items, dtype=object, count=len(items))


def _canonical(
    values: npt.NDArray[np.object_], *, all_str: bool = False
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_], npt.NDArray[np.unsignedinteger]]:
    """The fast path over the canonical written forms ``YYYYMMDD-NNNN`` and ``YYYYMMDDNNNN``.

    Returns the positions of the values in one of those forms (exactly ``str``, ASCII digits,
    nothing around them), which of those are valid, and their twelve digits (one row each).
    For these forms :func:`parse` takes the century as written, so validity is a calendar
    date (day minus 60 for samordningsnummer) and the Luhn digit. ``all_str`` tells that
    every value is exactly ``str``."""
    n = len(values)
    if all_str:
        where = np.arange(n)
        texts = values
    else:
        # Exactly str (a subclass goes to parse); map() keeps it one C-level call per value.
        is_text = np.fromiter(map(operator.is_, map(type, values), repeat(str)), bool, count=n)
        where = np.flatnonzero(is_text)
        texts = values if where.size == n else values[where]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=where.size)
    long_form = lengths == 13
    sized = long_form | (lengths == 12)
    if not sized.all():
        where, texts, long_form = where[sized], texts[sized], long_form[sized]
    # Fixed width, one code point per character, one row per position; minus "0", digits
    # are 0 to 9 (a code point below "0" wraps around to a large number). ASCII bytes when
    # every text is ASCII (a quarter of the memory of UCS-4), UCS-4 otherwise.
    codes: npt.NDArray[np.unsignedinteger]
    try:
        codes = texts.astype("S13").view(np.uint8).reshape(-1, 13).T
    except UnicodeEncodeError:
        codes = texts.astype("U13").view(np.uint32).reshape(-1, 13).T
    zero = codes.dtype.type(_ZERO)
    if long_form.all():
        digits = codes[_DIGITS_OF_13] - zero
        form = codes[8] == ord("-")
    else:
        digits = codes[:12] - zero
        digits[8:, long_form] = codes[9:, long_form] - zero
        form = ~long_form | (codes[8] == ord("-"))
    form &= digits.max(axis=0, initial=0) <= 9
    if not form.all():
        where, digits = where[form], digits[:, form]
    return where, _valid_digits(digits), digits.T


#: The last column :func:`_canonical` saw and its result: intake checks the same column of
#: personnummer twice in a row (the schema's check, then the roster's), so the second is free.
_LAST: list[Any] = [None, None]


def _canonical_once(
    values: npt.NDArray[np.object_], *, all_str: bool = False
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_], npt.NDArray[np.unsignedinteger]]:
    key = tuple(values.tolist())
    last_key, last = _LAST
    if last_key is not None and len(last_key) == len(key) and last_key == key:
        return last  # type: ignore[no-any-return]
    result = _canonical(values, all_str=all_str)
    _LAST[:] = [key, result]
    return result


def canonical_validity(
    values: npt.NDArray[np.object_], *, all_str: bool = False
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The positions of the values in a canonical form (``YYYYMMDD-NNNN`` or ``YYYYMMDDNNNN``,
    exactly ``str``) and which of those are valid, with array operations; every other value
    is :func:`is_valid`'s to answer. ``all_str`` tells that every value is exactly ``str``."""
    canonical, valid, _ = _canonical_once(values, all_str=all_str)
    return canonical, valid


def _valid_digits(digits: npt.NDArray[np.unsignedinteger]) -> npt.NDArray[np.bool_]:
    """Calendar date and Luhn check digit of twelve digits ``YYYYMMDDNNNN`` (one row per
    position, one column per number)."""
    # Small integers (a year is at most 9999) keep the temporaries small: int16.
    d = digits.astype(np.int16)
    year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    month = d[4] * 10 + d[5]
    day = d[6] * 10 + d[7]
    day -= 60 * (day > 60)
    total = _DOUBLED[d[2:11:2]].sum(axis=0, dtype=np.int16) + d[3:11:2].sum(axis=0, dtype=np.int16)
    valid: npt.NDArray[np.bool_] = valid_dates(year, month, day) & ((10 - total % 10) % 10 == d[11])
    return valid


def valid_mask(values: Iterable[Any]) -> npt.NDArray[np.bool_]:
    """:func:`is_valid` of every value, as a boolean array.

    The canonical forms (what our workbooks contain) are checked with array operations; any
    other value (ten-digit forms whose century depends on today, ``+``, apostrophes, Excel's
    ``="..."``, numbers, dates) goes through :func:`parse` one by one."""
    array = _as_objects(values)
    canonical, valid, _ = _canonical_once(array)
    out = np.zeros(len(array), dtype=bool)
    out[canonical] = valid
    if canonical.size < len(array):  # the rare other forms
        others = np.ones(len(array), dtype=bool)
        others[canonical] = False
        for i in np.flatnonzero(others):
            out[i] = is_valid(array[i])
    return out


def normalize_many(values: Iterable[Any]) -> list[str | None]:
    """:func:`normalize` of every value: the 12-digit string, or ``None`` where it is not a
    valid number (instead of raising). Same fast path as :func:`valid_mask`."""
    array = _as_objects(values)
    canonical, valid, digits = _canonical_once(array)
    if canonical.size == len(array) and valid.all():  # the usual column: all canonical, valid
        return cast(list[str | None], _digit_texts(digits))
    out = np.full(len(array), None, dtype=object)
    if valid.any():
        out[canonical[valid]] = _digit_texts(digits[valid])
    if canonical.size < len(array):
        others = np.ones(len(array), dtype=bool)
        others[canonical] = False
        for i in np.flatnonzero(others):
            with contextlib.suppress(PersonnummerError):
                out[i] = parse(array[i]).digits
    result: list[str | None] = out.tolist()
    return result


def _digit_texts(digits: npt.NDArray[np.unsignedinteger]) -> list[str]:
    """The texts of rows of twelve digits."""
    codes = np.empty(digits.shape, dtype=np.uint32)
    np.add(digits, _ZERO, out=codes, casting="unsafe")
    texts: list[str] = codes.view("U12").ravel().tolist()
    return texts


def mask(digits: str) -> str:
    """A log-safe form: the birth year and month only (``199001**-****``)."""
    if len(digits) == 12 and digits.isdigit():
        return f"{digits[:6]}**-****"
    return "********-****"


_PNR_IN_TEXT: Final = re.compile(r"(?<!\d)(\d{6}|\d{8})[-+ ]?\d{4}(?!\d)", re.ASCII)


def mask_text(text: str) -> str:
    """Replace anything that looks like a personnummer in free text (for log lines)."""
    return _PNR_IN_TEXT.sub(lambda m: m.group(0)[: len(m.group(1)) - 2] + "**-****", text)


def generate(
    rng: random.Random,
    *,
    birth: dt.date | None = None,
    samordning: bool = False,
) -> Personnummer:
    """A valid number for test and demo data (never a real person's on purpose)."""
    if birth is None:
        birth = dt.date(1975, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 30))
    day = birth.day + (60 if samordning else 0)
    serial = f"{rng.randrange(0, 1000):03d}"
    nine = f"{birth:%y%m}{day:02d}{serial}"
    return Personnummer(f"{birth.year:04d}{birth:%m}{day:02d}{serial}{luhn_digit(nine)}")
