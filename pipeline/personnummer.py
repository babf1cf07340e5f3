"""Swedish personal identity numbers (personnummer) and coordination numbers.

Owns parsing every written form staff use, normalising to the 12-digit form we store, the Luhn
check digit, masking for logs, and generating valid numbers for tests and demo data. It also
recognises values a spreadsheet program has mangled (turned into a number or a date) so the
receipt can say exactly that. Samordningsnummer have 60 added to the day of birth.
"""

from __future__ import annotations

import datetime as dt
import numbers
import random
import re
from dataclasses import dataclass
from typing import Final

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
