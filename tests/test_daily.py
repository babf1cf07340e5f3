"""Daily work wired together: due dates at creation, status.xlsx after a pass, `remind`,
`settings`, and receipt copies for staff who asked for them."""

from __future__ import annotations

import datetime as dt
import email
import json
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.domain import deadlines
from pipeline.intake.inbox import Inbox
from pipeline.models import ResultList, Staff
from pipeline.xlsx import workbook
from tests.factories import EXAM_DATE, fill, new_exam_list, seed, text_of

runner = CliRunner()


def test_new_list_gets_its_due_date(app: App) -> None:
    seed(app, students=2)
    listnr = new_exam_list(app)
    with app.db.session() as session:
        due = session.execute(
            select(ResultList.due_date).where(ResultList.listnr == listnr)
        ).scalar_one()
    assert due == deadlines.working_days_after(EXAM_DATE, 15) == dt.date(2026, 11, 20)


def test_process_writes_the_overview_workbook(app: App, workspace: Path) -> None:
    seed(app, students=2)
    listnr = new_exam_list(app)
    result = runner.invoke(cli_app, ["-w", str(workspace), "process"])
    assert result.exit_code == 0, result.output
    ws = load_workbook(workspace / "outbox" / "utbildningsstod" / "status.xlsx").worksheets[0]
    assert ws["A2"].value == listnr


def test_an_idle_pass_rewrites_the_overview_only_when_something_changed(
    app: App, workspace: Path
) -> None:
    seed(app, students=2)
    first = new_exam_list(app)
    status = workspace / "outbox" / "utbildningsstod" / "status.xlsx"
    assert runner.invoke(cli_app, ["-w", str(workspace), "process"]).exit_code == 0
    written = status.stat().st_mtime_ns
    assert runner.invoke(cli_app, ["-w", str(workspace), "process"]).exit_code == 0
    assert status.stat().st_mtime_ns == written  # nothing changed: not rewritten

    second = new_exam_list(app)  # a change (an audit event) after the last overview
    assert runner.invoke(cli_app, ["-w", str(workspace), "process"]).exit_code == 0
    ws = load_workbook(status).worksheets[0]
    assert {ws["A2"].value, ws["A3"].value} == {first, second}


def test_remind_and_settings_commands(
    app: App, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(app, students=2)
    new_exam_list(app)  # due 2026-11-20: overdue from the 23rd
    result = runner.invoke(
        cli_app, ["-w", str(workspace), "remind", "--date", "2026-11-24", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["drafts"] == 1
    mails = list((workspace / "var" / "mail").glob("*.eml"))
    assert len(mails) == 1
    assert email.message_from_bytes(mails[0].read_bytes())["To"] == "larare1@example.se"
    monkeypatch.setenv("LOGNAME", "lärare1")  # the teacher, logged in as themselves
    base = ["-w", str(workspace), "settings"]
    result = runner.invoke(cli_app, [*base, "--notify-email", "lars@example.se", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["notify_email"] == "lars@example.se"
    refused = runner.invoke(cli_app, [*base, "--user", "exam1", "--language", "en"])
    assert refused.exit_code == 3


def test_receipt_copy_mailed_when_asked_for(app: App) -> None:
    s = seed(app, students=2)
    with app.db.session() as session:
        staff = session.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
        staff.mail_copies = True
        staff.notify_email = "lars.kopia@example.se"
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {s.pnrs[0]: {"grade": "X", "grade_date": "2026-11-02"}},
        target=app.settings.inbox / "fel.xlsx",
    )
    [result] = Inbox(app).process_once()
    from pipeline.messages import outbox

    outbox.drain(app)
    [mail] = [
        email.message_from_bytes(p.read_bytes()) for p in (app.settings.var / "mail").glob("*.eml")
    ]
    assert mail["To"] == "lars.kopia@example.se"
    body = next(text_of(part) for part in mail.walk() if part.get_content_type() == "text/plain")
    assert "AVVISAD" in body and "fel.xlsx" in body
    names = [part.get_filename() for part in mail.walk() if part.get_filename()]
    assert [n for n in names if str(n).endswith("_fel.xlsx")], names
    assert result.receipt is not None


def test_an_event_stamped_before_the_overview_but_committed_after_it_counts(
    app: App, workspace: Path
) -> None:
    """An event's time is taken before its commit; the overview compares event ids."""
    from pipeline import audit
    from pipeline.intake.watcher import overview_outdated, write_overview_safely

    seed(app, students=2)
    new_exam_list(app)
    write_overview_safely(app)
    assert not overview_outdated(app)
    # The file looks written after the next event's time stamp (as when that event was
    # stamped, then the overview written, then the event committed).
    status = workspace / "outbox" / "utbildningsstod" / "status.xlsx"
    later = status.stat().st_mtime + 30
    os.utime(status, (later, later))
    with app.db.session() as session:
        audit.record(session, actor="lärare1", action="list.test", details={})
    assert overview_outdated(app)
    write_overview_safely(app)
    assert not overview_outdated(app)
