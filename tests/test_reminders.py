"""Daily reminders to reporters of late lists and examiners of lists waiting for approval."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select

from pipeline.app import App
from pipeline.messages import reminders
from pipeline.models import AuditEvent, ListState, Message, Reminder, ResultList, Staff
from tests.factories import new_exam_list, seed

STOCKHOLM = ZoneInfo("Europe/Stockholm")
WED = dt.date(2027, 3, 24)
THU = dt.date(2027, 3, 25)


def _set(app: App, listnr: int, **fields: object) -> None:
    with app.db.session() as s:
        rl = s.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        for name, value in fields.items():
            setattr(rl, name, value)


def _messages(app: App, kind: str | None = None) -> list[Message]:
    with app.db.session() as s:
        stmt = select(Message).order_by(Message.id)
        if kind:
            stmt = stmt.where(Message.kind == kind)
        return list(s.execute(stmt).scalars())


def _reminders(app: App) -> list[tuple[int, str, str, dt.date]]:
    with app.db.session() as s:
        rows = s.execute(select(Reminder).order_by(Reminder.id)).scalars()
        return [(r.listnr, r.kind, r.recipient, r.sent_on) for r in rows]


def _late_draft(app: App, *, due: dt.date = dt.date(2027, 3, 22)) -> int:
    listnr = new_exam_list(app)
    _set(app, listnr, due_date=due, state=ListState.DRAFT)
    return listnr


def test_reporter_reminded_once_a_day(app: App) -> None:
    seed(app)
    listnr = _late_draft(app)
    report = reminders.send_reminders(app, today=WED)
    assert (report.drafts, report.approvals, report.skipped) == (1, 0, 0)
    [message] = _messages(app)
    assert message.kind == "reminder_draft"
    assert message.recipient == "larare1@example.se"
    assert message.listnr == listnr
    assert message.subject == (
        f"Påminnelse: resultatlista {listnr} (DV1599/2010) skulle ha varit klar 2027-03-22"
    )
    assert "Hej Lars Lärare!" in message.body
    assert "Den är 2 dagar försenad." in message.body
    assert f"arbetsboken {listnr}.xlsx i din" in message.body
    assert "Examinator:    Eva Examinatorsson" in message.body
    assert _reminders(app) == [(listnr, "reminder_draft", "lärare1", WED)]

    # The same day again (the daemon calls often): nothing new, and nothing written.
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "SAVEPOINT")):
            writes.append(statement)

    event.listen(app.db.engine, "before_cursor_execute", count)
    try:
        again = reminders.send_reminders(app, today=WED)
    finally:
        event.remove(app.db.engine, "before_cursor_execute", count)
    assert writes == []
    assert (again.drafts, again.skipped) == (0, 1)
    assert len(_messages(app)) == 1
    assert len(_reminders(app)) == 1

    # The next day: one more, and the text counts the extra day.
    nxt = reminders.send_reminders(app, today=THU)
    assert nxt.drafts == 1
    messages = _messages(app)
    assert len(messages) == 2
    assert "Den är 3 dagar försenad." in messages[1].body
    assert _reminders(app) == [
        (listnr, "reminder_draft", "lärare1", WED),
        (listnr, "reminder_draft", "lärare1", THU),
    ]
    with app.db.session() as s:
        events = list(
            s.execute(select(AuditEvent).where(AuditEvent.action == "reminder.sent")).scalars()
        )
    assert [
        (e.listnr, e.details["kind"], e.details["recipient"], e.details["day"]) for e in events
    ] == [
        (listnr, "reminder_draft", "lärare1", "2027-03-24"),
        (listnr, "reminder_draft", "lärare1", "2027-03-25"),
    ]
    assert events[0].details["to"] == "larare1@example.se"
    assert events[0].details["days_overdue"] == 2


def test_only_late_and_unapproved_lists(app: App) -> None:
    seed(app)
    on_time = _late_draft(app, due=WED)  # due today: not late yet
    approved = _late_draft(app)
    _set(app, approved, state=ListState.APPROVED, approved_at=dt.datetime(2027, 3, 23, 9))
    blocked = _late_draft(app)  # submitted, but the examiner has no mobile for the code
    _set(app, blocked, state=ListState.SUBMITTED, submitted_at=dt.datetime(2027, 3, 23, 9))
    report = reminders.send_reminders(app, today=WED)
    assert report.drafts == 1
    [message] = _messages(app)
    assert message.listnr == blocked
    assert "kunnat skickas vidare till examinator" in message.body
    assert "utbildningsstod@example.se" in message.body
    assert on_time not in {m.listnr for m in _messages(app)}


def test_examiner_reminded_only_after_approval_days(app: App) -> None:
    seed(app)
    listnr = new_exam_list(app)
    # Submitted Thursday 18 March, late already (due 22 March); approval_days is 5.
    _set(
        app,
        listnr,
        state=ListState.AWAITING_APPROVAL,
        submitted_at=dt.datetime(2027, 3, 18, 14, 0),
        due_date=dt.date(2027, 3, 22),
    )
    # Tuesday 23 March: five days, not more. Nobody is reminded: not the reporter either,
    # the list is in the examiner's hands.
    early = reminders.send_reminders(app, today=dt.date(2027, 3, 23))
    assert (early.drafts, early.approvals, early.skipped) == (0, 0, 0)
    assert _messages(app) == []

    report = reminders.send_reminders(app, today=WED)
    assert (report.drafts, report.approvals) == (0, 1)
    [message] = _messages(app)
    assert message.kind == "reminder_approval"
    assert message.recipient == "exam1@example.se"
    assert "väntar på din attestering sedan 2027-03-18" in (message.subject or "")
    assert "har väntat på din attestering i 6 dagar" in message.body
    assert f"Svara på SMS:et med: {listnr} KOD" in message.body
    assert "Rapportör:     Lars Lärare" in message.body
    assert "(2 dagar försenad)" in message.body
    assert _reminders(app) == [(listnr, "reminder_approval", "exam1", WED)]


def test_notify_email_and_language(app: App) -> None:
    seed(app, teacher_lang="en")
    with app.db.session() as s:
        teacher = s.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
        teacher.notify_email = "lars.privat@example.se"
    listnr = _late_draft(app)
    reminders.send_reminders(app, today=WED)
    [message] = _messages(app)
    assert message.recipient == "lars.privat@example.se"
    assert message.subject == (f"Reminder: result list {listnr} (DV1599/2010) was due 2027-03-22")
    assert "Hello Lars Lärare," in message.body
    assert "It is 2 days late." in message.body
    assert "Module:      2010 Written exam" in message.body
    # The reminder is keyed on the person, not the address: a new address the same day
    # does not bring a second one.
    with app.db.session() as s:
        teacher = s.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
        teacher.notify_email = None
    assert reminders.send_reminders(app, today=WED).skipped == 1
    assert len(_messages(app)) == 1


def test_waits_for_the_reminder_hour_and_working_days(app: App) -> None:
    seed(app)
    _late_draft(app)
    before = reminders.send_reminders(app, now=dt.datetime(2027, 3, 24, 7, 59, tzinfo=STOCKHOLM))
    assert before.reason == reminders.BEFORE_HOUR
    assert _messages(app) == []
    # Naive times are UTC: 07:30 UTC is 08:30 in Sweden in March.
    at_eight = reminders.send_reminders(app, now=dt.datetime(2027, 3, 24, 7, 30))
    assert (at_eight.reason, at_eight.drafts, at_eight.day) == (None, 1, WED)
    good_friday = reminders.send_reminders(app, today=dt.date(2027, 3, 26))
    assert good_friday.reason == reminders.NOT_WORKING_DAY
    assert len(_messages(app)) == 1


def test_two_daemons_send_one_reminder(app: App) -> None:
    seed(app)
    listnr = _late_draft(app)
    other = App.open(app.root, actor="daemon2")
    barrier = threading.Barrier(2)
    reports: list[reminders.ReminderReport] = []

    def run(application: App) -> None:
        barrier.wait()
        reports.append(reminders.send_reminders(application, today=WED))

    try:
        threads = [threading.Thread(target=run, args=(a,)) for a in (app, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        other.close()
    assert sorted((r.drafts, r.skipped) for r in reports) == [(0, 1), (1, 0)]
    assert [m.listnr for m in _messages(app)] == [listnr]
    assert len(_reminders(app)) == 1
