"""Due dates in Swedish working days: Easter, Midsummer, Christmas and New Year."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.domain import deadlines
from pipeline.domain.deadlines import days_overdue, due_date_for, is_working_day, working_days_after
from pipeline.models import ListState
from pipeline.settings import DeadlineSettings

D = dt.date
DEFAULT = DeadlineSettings()


def test_easter_2027_skips_good_friday_and_easter_monday() -> None:
    # Wed 24 March: Thu 25 is a working day (Maundy Thursday), Fri 26 Good Friday, the
    # weekend, Mon 29 Easter Monday; then Tue 30 and Wed 31.
    assert working_days_after(D(2027, 3, 24), 3) == D(2027, 3, 31)
    # Fifteen working days from the Friday before: 13 April (17 weekdays minus two holidays).
    assert due_date_for(D(2027, 3, 19), D(2027, 3, 1), DEFAULT) == D(2027, 4, 13)
    assert due_date_for(D(2027, 3, 24), D(2027, 3, 1), DEFAULT) == D(2027, 4, 16)


def test_midsummer_eve_and_day_are_days_off() -> None:
    # Thu 24 June 2027, then Midsummer Eve (Fri 25) and Midsummer Day (Sat 26).
    assert working_days_after(D(2027, 6, 24), 1) == D(2027, 6, 28)
    assert due_date_for(D(2027, 6, 24), D(2027, 6, 1), DEFAULT) == D(2027, 7, 16)
    assert deadlines.day_off_name(D(2027, 6, 25)) == "Midsommarafton"


def test_christmas_and_new_year_2027_2028() -> None:
    # Thu 23 Dec: Christmas Eve (Fri), the weekend (Christmas Day, Boxing Day), then 27-29.
    assert working_days_after(D(2027, 12, 23), 3) == D(2027, 12, 29)
    # From Wed 15 Dec: Christmas Eve, New Year's Eve and Epiphany (Thu 6 Jan 2028) are off.
    assert due_date_for(D(2027, 12, 15), D(2027, 12, 1), DEFAULT) == D(2028, 1, 10)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2027, 3, 25), True),  # Maundy Thursday: a working day (shortened at most)
        (D(2027, 3, 26), False),  # Good Friday
        (D(2027, 3, 29), False),  # Easter Monday
        (D(2027, 4, 30), True),  # Walpurgis Night
        (D(2027, 5, 6), False),  # Ascension Day
        (D(2027, 5, 7), True),  # the squeeze day after it
        (D(2027, 6, 25), False),  # Midsummer Eve (de facto day off)
        (D(2027, 11, 5), True),  # All Saints' Eve
        (D(2027, 12, 24), False),  # Christmas Eve (de facto day off)
        (D(2027, 12, 31), False),  # New Year's Eve (de facto day off)
        (D(2028, 1, 6), False),  # Epiphany
        (D(2028, 6, 6), False),  # National Day on a Tuesday
        (D(2028, 5, 1), False),  # 1 May on a Monday
        (D(2027, 3, 27), False),  # a Saturday
        (D(2027, 3, 30), True),  # an ordinary Tuesday
    ],
)
def test_working_days(day: dt.date, working: bool) -> None:
    assert is_working_day(day) is working


def test_start_day_is_not_counted_even_on_a_holiday() -> None:
    assert working_days_after(D(2027, 3, 26), 1) == D(2027, 3, 30)  # from Good Friday
    assert working_days_after(D(2027, 3, 22), 0) == D(2027, 3, 22)
    with pytest.raises(ValueError):
        working_days_after(D(2027, 3, 22), -1)


def test_due_date_from_exam_date_else_creation() -> None:
    five = DeadlineSettings(working_days=5)
    # Exam Fri 19 March: 22-25, then (Good Friday, weekend, Easter Monday) Tue 30.
    assert due_date_for(D(2027, 3, 19), D(2027, 3, 24), five) == D(2027, 3, 30)
    assert due_date_for(None, D(2027, 3, 19), five) == D(2027, 3, 30)
    # created_at is naive UTC: 23:30 UTC on 23 March is already 24 March in Sweden.
    late_evening = dt.datetime(2027, 3, 23, 23, 30)
    assert due_date_for(None, late_evening, five) == D(2027, 4, 2)
    assert due_date_for(None, dt.datetime(2027, 3, 23, 12, 0), five) == D(2027, 4, 1)


def test_days_overdue_in_calendar_days() -> None:
    due = D(2027, 3, 19)  # a Friday
    assert days_overdue(None, D(2027, 3, 30)) == 0
    assert days_overdue(due, D(2027, 3, 18)) == 0
    assert days_overdue(due, due) == 0
    assert days_overdue(due, D(2027, 3, 20)) == 1
    assert days_overdue(due, D(2027, 3, 22)) == 3  # over the weekend
    assert deadlines.list_days_overdue(ListState.AWAITING_APPROVAL, due, D(2027, 3, 22)) == 3
    assert deadlines.list_days_overdue(ListState.APPROVED, due, D(2027, 3, 22)) == 0
    assert deadlines.list_days_overdue("archived", due, D(2027, 3, 22)) == 0


def test_swedish_date_follows_summer_time() -> None:
    # 22:30 UTC is 23:30 in winter (CET) but 00:30 the next day in summer (CEST).
    assert deadlines.swedish_date(dt.datetime(2027, 1, 15, 22, 30)) == D(2027, 1, 15)
    assert deadlines.swedish_date(dt.datetime(2027, 7, 15, 22, 30)) == D(2027, 7, 16)
