"""Daily reminders: reporters of late lists and examiners of lists waiting for approval.

Owns deciding who is reminded of what on a given day, and sending each reminder at most once
a day. Two kinds:

- ``reminder_draft`` to the **reporter** of a list past its due date that is still a
  ``draft``, or ``submitted`` but not passed on to the examiner (no examiner or no mobile);
- ``reminder_approval`` to the **examiner** of a list ``awaiting_approval`` for longer than
  ``settings.deadlines.approval_days`` days: with 5, a list submitted on 1 March is reminded
  of from 7 March (more than five whole days have passed).

A reminder goes to the person's notification address (``Staff.notify_email``, their own
setting) or else their address in the staff directory, in their language. Each one is a
:class:`~pipeline.models.Reminder` row keyed on list, kind, recipient (the staff username, so
changing one's address does not bring a second reminder) and Swedish date: the row is inserted
in a savepoint before the email is queued, in the same transaction, so a second reminder the
same day is impossible even with two daemons running. Each reminder is an audit event
``reminder.sent``.

Reminders go out on Swedish working days only (:func:`pipeline.domain.deadlines.is_working_day`);
lists late over a weekend or holiday are reminded on the next working day. Called with
``now`` (as the daemon does, often), nothing happens before ``reminder_hour`` local time.

Left to callers: calling :func:`send_reminders` (``resultat remind``, ``resultat watch``) and
dispatching the queued messages.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from pipeline import audit
from pipeline.app import App
from pipeline.domain import deadlines
from pipeline.messages import outbox
from pipeline.models import ListState, Reminder, ResultList, Staff

log = logging.getLogger("resultat.reminders")

DRAFT: Final = "reminder_draft"
APPROVAL: Final = "reminder_approval"
#: States in which the reporter is reminded of a late list.
REPORTER_STATES: Final = frozenset({ListState.DRAFT, ListState.SUBMITTED})
#: Attempts per reminder when another writer appended to the audit log at the same moment.
ATTEMPTS: Final = 5

#: Why a run did nothing at all (:attr:`ReminderReport.reason`).
BEFORE_HOUR: Final = "before-reminder-hour"
NOT_WORKING_DAY: Final = "not-a-working-day"


@dataclass
class ReminderReport:
    """What one run did: reminders queued per kind, and reminders not sent (already sent
    today, or the person is not in the staff directory or has no usable address)."""

    drafts: int = 0
    approvals: int = 0
    skipped: int = 0
    #: Set when the run did nothing because of the day or hour (:data:`BEFORE_HOUR`,
    #: :data:`NOT_WORKING_DAY`).
    reason: str | None = None
    day: dt.date | None = None

    @property
    def sent(self) -> int:
        return self.drafts + self.approvals

    def as_dict(self) -> dict[str, object]:
        return {
            "drafts": self.drafts,
            "approvals": self.approvals,
            "skipped": self.skipped,
            "reason": self.reason,
            "day": self.day.isoformat() if self.day else None,
        }


@dataclass(frozen=True)
class _Due:
    """One reminder to send: its kind, list and recipient, and the template's facts."""

    kind: str
    listnr: int
    username: str
    context: dict[str, Any]


def send_reminders(
    app: App, *, today: dt.date | None = None, now: dt.datetime | None = None
) -> ReminderReport:
    """Queue today's reminders; safe to call any number of times a day.

    ``today`` is the Swedish date to remind for (default: from ``now``, else the current
    date). With ``now`` (naive values are UTC), nothing is sent before
    ``settings.deadlines.reminder_hour`` Swedish time; without it, the hour is not checked
    (``resultat remind`` sends at once).
    """
    local = deadlines.swedish_time(now)
    day = today or local.date()
    report = ReminderReport(day=day)
    if now is not None and local.hour < app.settings.deadlines.reminder_hour:
        report.reason = BEFORE_HOUR
        return report
    if not deadlines.is_working_day(day):
        report.reason = NOT_WORKING_DAY
        return report
    with app.db.session() as session:
        due = _due_reminders(session, app, day)
        # Those already sent today are left out here, so the daemon's frequent calls cost a
        # query, not a write transaction per list; the unique key still decides races.
        sent = {
            (row.listnr, row.kind, row.recipient)
            for row in session.execute(
                select(Reminder.listnr, Reminder.kind, Reminder.recipient).where(
                    Reminder.sent_on == day
                )
            )
        }
    for item in due:
        if (item.listnr, item.kind, item.username) in sent:
            report.skipped += 1
            continue
        if _send_one(app, item, day):
            if item.kind == DRAFT:
                report.drafts += 1
            else:
                report.approvals += 1
        else:
            report.skipped += 1
    return report


def _due_reminders(session: Session, app: App, day: dt.date) -> list[_Due]:
    settings = app.settings.deadlines
    rows = session.execute(
        select(ResultList)
        .where(
            or_(
                and_(
                    ResultList.state.in_(REPORTER_STATES),
                    or_(ResultList.due_date < day, ResultList.due_date.is_(None)),
                ),
                and_(
                    ResultList.state == ListState.AWAITING_APPROVAL,
                    ResultList.submitted_at.is_not(None),
                ),
            )
        )
        .options(selectinload(ResultList.course), selectinload(ResultList.module))
        .order_by(ResultList.listnr)
    ).scalars()
    lists = list(rows)
    staff = _staff(session, {rl.reporter for rl in lists} | {rl.examiner or "" for rl in lists})
    due: list[_Due] = []
    for rl in lists:
        due_date = deadlines.effective_due(rl.due_date, rl.exam_date, rl.created_at, settings)
        late = deadlines.days_overdue(due_date, day)
        if rl.state in REPORTER_STATES:
            if late <= 0:
                continue
            kind, username = DRAFT, rl.reporter
            extra: dict[str, Any] = {}
        else:
            assert rl.submitted_at is not None
            submitted_on = deadlines.swedish_date(rl.submitted_at)
            waiting = (day - submitted_on).days
            if waiting <= settings.approval_days or not rl.examiner:
                continue
            kind, username = APPROVAL, rl.examiner
            extra = {"submitted_on": submitted_on.isoformat(), "waiting_days": waiting}
        context = {
            **_list_context(rl, staff, _language(staff.get(username), app)),
            "due_date": due_date.isoformat(),
            "days_overdue": late,
            "working_days": settings.working_days,
            "student_office": app.settings.contacts.student_office,
            **extra,
        }
        due.append(_Due(kind, rl.listnr, username, context))
    return due


def _staff(session: Session, usernames: Iterable[str]) -> dict[str, Staff]:
    names = sorted({u for u in usernames if u})
    if not names:
        return {}
    found = session.execute(select(Staff).where(Staff.username.in_(names))).scalars()
    return {s.username: s for s in found}


def _language(person: Staff | None, app: App) -> str:
    if person is not None and person.language in outbox.LANGUAGES:
        return person.language
    return app.settings.language


def _list_context(rl: ResultList, staff: dict[str, Staff], language: str) -> dict[str, Any]:
    def name(obj: Any) -> str:
        return str(obj.name_en if language == "en" and obj.name_en else obj.name_sv)

    def person(username: str | None) -> str:
        if not username:
            return "–"
        found = staff.get(username)
        return found.name if found is not None else username

    course, module = rl.course, rl.module
    return {
        "listnr": rl.listnr,
        "course_code": course.code,
        "course_name": name(course),
        "module_code": module.code if module else course.code,
        "module_name": name(module) if module else name(course),
        "term": rl.term,
        "state": rl.state.value,
        "exam_date": rl.exam_date.isoformat() if rl.exam_date else None,
        "reporter_name": person(rl.reporter),
        "examiner_name": person(rl.examiner),
    }


def _send_one(app: App, item: _Due, day: dt.date) -> bool:
    """Record and queue one reminder in its own transaction; ``False`` when it is not sent."""
    for attempt in range(ATTEMPTS):
        try:
            with app.db.session() as session:
                return _record_and_queue(session, app, item, day)
        except IntegrityError:
            # Another process appended to the audit log between our read of its last hash
            # and our insert; the whole reminder is rolled back and tried again.
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _record_and_queue(session: Session, app: App, item: _Due, day: dt.date) -> bool:
    person = session.execute(
        select(Staff).where(Staff.username == item.username)
    ).scalar_one_or_none()
    if person is None:
        log.warning(
            "list %s: %s %s is not in the staff directory", item.listnr, item.kind, item.username
        )
        return False
    address = (person.notify_email or "").strip() or person.email
    try:
        with session.begin_nested():
            session.add(
                Reminder(listnr=item.listnr, kind=item.kind, recipient=person.username, sent_on=day)
            )
    except IntegrityError:
        return False  # already sent today, by this or another process
    language = _language(person, app)
    context = {**item.context, "recipient_name": person.name}
    try:
        message = outbox.queue_email(
            session,
            kind=item.kind,
            to=address,
            language=language,
            context=context,
            listnr=item.listnr,
            dedupe_key=f"{item.kind}:{item.listnr}:{person.username}:{day.isoformat()}",
            workspace=app.root,
        )
    except ValueError:
        # An unusable address: no reminder row either, so a corrected address is used the
        # same day. The database row is rolled back with the transaction.
        log.warning(
            "list %s: %s for %s has no usable address", item.listnr, item.kind, person.username
        )
        session.rollback()
        return False
    audit.record(
        session,
        actor=app.actor,
        action="reminder.sent",
        listnr=item.listnr,
        details={
            "kind": item.kind,
            "recipient": person.username,
            "to": address,
            "day": day.isoformat(),
            "due_date": item.context["due_date"],
            "days_overdue": item.context["days_overdue"],
            "message": message.id,
        },
    )
    log.info(
        "list %s: %s queued for %s (message %s)",
        item.listnr,
        item.kind,
        person.username,
        message.id,
    )
    return True
