"""Personnummer: every written form staff use, what spreadsheets do to them, masking, and
property tests over generated numbers and arbitrary input."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import personnummer
from pipeline.domain.personnummer import Personnummer, PersonnummerError, parse

TODAY = dt.date(2026, 11, 28)
VALID = "199001011239"  # born 1990-01-01, check digit 9


@pytest.mark.parametrize(
    ("written", "digits"),
    [
        ("900101-1239", VALID),
        ("9001011239", VALID),
        ("199001011239", VALID),
        ("19900101-1239", VALID),
        ("  19900101-1239\t", VALID),
        ("'199001011239", VALID),
        ("'900101-1239", VALID),
        ('="19900101-1239"', VALID),
        ("250101+1239", "192501011239"),  # over 100: the plus sign
        ("250101-1239", "202501011239"),  # without it: the latest possible century
        ("261201-1235", "192612011235"),  # birthday not yet reached this century
        ("900161-1236", "199001611236"),  # samordningsnummer: day + 60
        ("19900161-1236", "199001611236"),
    ],
)
def test_accepted_forms(written: str, digits: str) -> None:
    assert parse(written, today=TODAY).digits == digits


def test_samordningsnummer_birth_date() -> None:
    number = parse("900161-1236", today=TODAY)
    assert number.is_samordningsnummer
    assert number.birth_date == dt.date(1990, 1, 1)
    assert not parse(VALID).is_samordningsnummer


@pytest.mark.parametrize(
    ("value", "slug"),
    [
        ("19900101-1238", "pnr-check-digit"),
        ("900101-1230", "pnr-check-digit"),
        ("19900230-1234", "pnr-invalid-date"),
        ("19901301-1234", "pnr-invalid-date"),
        ("19900100-1234", "pnr-invalid-date"),
        ("900160-1234", "pnr-invalid-date"),  # day 60 is neither a day nor a coordination day
        ("abc", "pnr-invalid-format"),
        ("", "pnr-invalid-format"),
        ("1990010-11239", "pnr-invalid-format"),
        ("19900101--1239", "pnr-invalid-format"),
        (None, "pnr-invalid-format"),
        (True, "pnr-invalid-format"),
        # what a spreadsheet program makes of them
        (199001011239, "pnr-as-number"),
        (199001011239.0, "pnr-as-number"),
        ("1.99001E+11", "pnr-as-number"),
        ("199001011239.0", "pnr-as-number"),
        ("1,99001E+11", "pnr-as-number"),
        (dt.date(1990, 1, 1), "pnr-as-date"),
        (dt.datetime(1990, 1, 1, 0, 0), "pnr-as-date"),
        ("1990-01-01", "pnr-as-date"),
        ("1990-01-01T00:00:00", "pnr-as-date"),
        pytest.param(
            "1990-01-01 00:00:00",
            "pnr-as-date",
        ),
    ],
)
def test_rejected_with_the_reason(value: object, slug: str) -> None:
    with pytest.raises(PersonnummerError) as caught:
        parse(value, today=TODAY)
    assert caught.value.slug == slug
    assert not personnummer.is_valid(value)


def test_normalize_and_forms() -> None:
    assert personnummer.normalize("900101-1239") == VALID
    number = Personnummer(VALID)
    assert (number.short(), number.long(), str(number)) == ("900101-1239", "19900101-1239", VALID)


def test_mask() -> None:
    assert personnummer.mask(VALID) == "199001**-****"
    assert Personnummer(VALID).masked() == "199001**-****"
    assert personnummer.mask("9001011239") == "********-****"
    assert personnummer.mask("not a number") == "********-****"


def test_mask_text() -> None:
    text = "a 19900101-1239 b 900101-1239 c 199001011239 d 9001011239 e 900101+1239 f"
    assert personnummer.mask_text(text) == (
        "a 199001**-**** b 9001**-**** c 199001**-**** d 9001**-**** e 9001**-**** f"
    )
    assert personnummer.mask_text("listnr 1234, DV1599, 2026-10-30") == (
        "listnr 1234, DV1599, 2026-10-30"
    )
    assert personnummer.mask_text("tel 1234567890123") == "tel 1234567890123"


def test_generate_is_valid_and_deterministic() -> None:
    first = [personnummer.generate(random.Random(5)) for _ in range(3)]
    again = [personnummer.generate(random.Random(5)) for _ in range(3)]
    assert first == again
    coordination = personnummer.generate(
        random.Random(1), birth=dt.date(2001, 2, 28), samordning=True
    )
    assert coordination.digits[:8] == "20010288"
    assert coordination.is_samordningsnummer
    assert parse(coordination.digits).birth_date == dt.date(2001, 2, 28)


def _hundredth_birthday(birth: dt.date) -> dt.date:
    try:
        return birth.replace(year=birth.year + 100)
    except ValueError:  # born on 29 February
        return dt.date(birth.year + 100, 3, 1)


births = st.dates(min_value=TODAY.replace(year=TODAY.year - 119), max_value=TODAY)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), birth=births, samordning=st.booleans())
def test_generated_numbers_parse_back_in_every_form(
    seed: int, birth: dt.date, samordning: bool
) -> None:
    number = personnummer.generate(random.Random(seed), birth=birth, samordning=samordning)
    digits = number.digits
    centenarian = _hundredth_birthday(birth) <= TODAY
    short = f"{digits[2:8]}{'+' if centenarian else '-'}{digits[8:]}"
    forms = [digits, number.long(), short, f" {number.long()} ", f"'{digits}", f'="{digits}"']
    if not centenarian:
        forms.append(digits[2:])
    for form in forms:
        assert parse(form, today=TODAY) == number, form
    assert personnummer.mask_text(number.long()) == number.masked()


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(
        st.text(),
        st.text(alphabet="0123456789-+ '=\".,eE", max_size=16),
        st.integers(),
        st.floats(),
        st.dates(),
        st.datetimes(),
        st.none(),
        st.booleans(),
    )
)
def test_parse_raises_only_personnummer_error(value: object) -> None:
    try:
        number = parse(value, today=TODAY)
    except PersonnummerError as exc:
        assert exc.slug.startswith("pnr-")
    else:
        assert len(number.digits) == 12


# Found while writing these tests; pipeline/personnummer.py is not ours to change, so they
# stay marked until it is fixed (strict: they will say so when they start passing).


@pytest.mark.parametrize("value", ["١٩٩٠٠١٠١١٢٣٩", "１９９００１０１１２３９"])
def test_non_ascii_digits_are_not_a_personnummer(value: str) -> None:
    with pytest.raises(PersonnummerError):
        parse(value, today=TODAY)


def test_numpy_integer_is_reported_as_a_number() -> None:
    with pytest.raises(PersonnummerError) as caught:
        parse(np.int64(int(VALID)), today=TODAY)
    assert caught.value.slug == "pnr-as-number"


def test_every_accepted_form_is_masked_in_text() -> None:
    assert parse("900101 1239", today=TODAY).digits == VALID
    assert personnummer.mask_text("pnr 900101 1239") == "pnr 9001**-****"


def test_short_form_of_a_centenarian_parses_back() -> None:
    number = parse("250101+1239", today=TODAY)
    assert parse(number.short(), today=TODAY) == number
