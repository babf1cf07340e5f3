"""Due dates of result lists, counted in Swedish working days.

Owns the calendar (which days are working days), the due date of a list and how late a list
is. A list is due ``settings.deadlines.working_days`` working days (default 15) after its exam
date when it has one (a T33 list made from an exam sitting), otherwise after the day it was
created. The deadline is for getting the list *approved*: it counts while a list is ``draft``,
``submitted`` or ``awaiting_approval`` (:data:`PENDING_STATES`) and is done from approval on.

**The calendar.** A working day is a Monday to Friday that is not a day off in Sweden, taken
from the ``holidays`` library (``holidays.Sweden``) with two categories:

- ``PUBLIC``: the public holidays of the Act on public holidays (SFS 1989:253): New Year's Day,
  Epiphany, Good Friday, Easter Sunday and Monday, 1 May, Ascension Day, Whit Sunday, the
  National Day, Midsummer Day, All Saints' Day, Christmas Day and Boxing Day;
- ``DE_FACTO``: Midsummer Eve, Christmas Eve and New Year's Eve. They are not public holidays,
  but the Annual Leave Act (SFS 1977:480, 7 §) treats them as Sundays and nobody at a
  university works on them, so here they are days off.

The other "afton" days (Twelfth Night, Maundy Thursday, Walpurgis Night, All Saints' Eve) and
the days before the holidays are at most shortened days and count as working days, as do
squeeze days (klämdagar). Holy Saturday and Whitsun Eve always fall on a Saturday. The
``DE_FACTO`` category for Sweden needs ``holidays`` 0.88 or newer.

Times in the database are naive UTC; "today" and the reminder hour are Swedish local time
(``Europe/Stockholm``), whatever the machine's own time zone is.

Left to callers: storing the due date when a list is created (:func:`due_date_for`), and
deciding what to do about a late list (:mod:`pipeline.messages.reminders`,
:mod:`pipeline.messages.overview`).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import holidays

from pipeline.models import ListState
from pipeline.settings import DeadlineSettings

SWEDISH_TIME: Final = ZoneInfo("Europe/Stockholm")
#: States in which a list still has to meet its due date.
PENDING_STATES: Final = frozenset(
    {ListState.DRAFT, ListState.SUBMITTED, ListState.AWAITING_APPROVAL}
)
#: Guard against a runaway count (a misconfigured ``working_days``).
MAX_WORKING_DAYS: Final = 3660


@lru_cache(maxsize=1)
def _calendar() -> holidays.HolidayBase:
    # Years are filled in on first lookup, so one object serves every year.
    return holidays.country_holidays(
        "SE", categories=(holidays.PUBLIC, holidays.DE_FACTO), language="sv"
    )


def day_off_name(day: dt.date) -> str | None:
    """The Swedish name of the holiday or day off on ``day`` (``None`` for an ordinary day)."""
    name = _calendar().get(day)
    return str(name) if name is not None else None


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a Swedish public holiday, Midsummer, Christmas or New Year's Eve."""
    return day.weekday() < 5 and day not in _calendar()


def working_days_after(start: dt.date, days: int) -> dt.date:
    """The date ``days`` Swedish working days after ``start``.

    ``start`` itself is not counted, whether or not it is a working day: 15 working days after
    an exam on Friday 19 March 2027 is Tuesday 13 April 2027 (Good Friday and Easter Monday
    are skipped). ``days == 0`` gives ``start``.
    """
    if days < 0 or days > MAX_WORKING_DAYS:
        raise ValueError(f"working days must be between 0 and {MAX_WORKING_DAYS}, not {days}")
    day = _as_date(start)
    left = days
    while left:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def due_date_for(
    exam_date: dt.date | None, created: dt.date, settings: DeadlineSettings
) -> dt.date:
    """The due date of a list: ``settings.working_days`` working days after ``exam_date`` when
    there is one, else after ``created``. ``created`` may be a naive UTC ``datetime`` (as
    ``ResultList.created_at``); it is then read as the Swedish date of that moment."""
    start = exam_date if exam_date is not None else _as_date(created)
    return working_days_after(start, settings.working_days)


def days_overdue(due: dt.date | None, today: dt.date) -> int:
    """Calendar days since ``due``; 0 on or before the due date and when there is none."""
    if due is None:
        return 0
    return max(0, (_as_date(today) - _as_date(due)).days)


def list_days_overdue(state: ListState | str, due: dt.date | None, today: dt.date) -> int:
    """:func:`days_overdue` for a list in ``state``: 0 once the list is approved."""
    if ListState(state) not in PENDING_STATES:
        return 0
    return days_overdue(due, today)


def effective_due(
    due_date: dt.date | None,
    exam_date: dt.date | None,
    created: dt.date,
    settings: DeadlineSettings,
) -> dt.date:
    """The stored due date, or for a list created before due dates were stored, the one it
    would have been given (:func:`due_date_for`)."""
    if due_date is not None:
        return due_date
    return due_date_for(exam_date, created, settings)


def swedish_time(moment: dt.datetime | None = None) -> dt.datetime:
    """``moment`` (default: now) in Swedish local time; a naive value is taken as UTC."""
    if moment is None:
        moment = dt.datetime.now(dt.UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(SWEDISH_TIME)


def swedish_date(moment: dt.datetime | None = None) -> dt.date:
    """The Swedish calendar date of ``moment`` (default: today); naive values are UTC."""
    return swedish_time(moment).date()


def _as_date(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return swedish_date(value)
    return value
