"""Each person's folders, what reaches them, and who may do what (issue: every person
without a shell)."""

from __future__ import annotations

import email
import json
import os
import pwd
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import after_approval, approval, by_sms
from pipeline.lists.create import create_t33
from pipeline.lists.students import StudentSources
from pipeline.models import AuditEvent, FileOutcome, ListState, Message, ResultList, Staff
from pipeline.people import folders
from pipeline.people.furnish import furnish
from pipeline.people.roles import NotPermitted
from pipeline.xlsx import workbook
from tests.factories import EXAM_DATE, TERM, fill, new_exam_list, seed, sent_code

runner = CliRunner()
GRADE_DATE = "2026-11-02"


def _submit(app: App, pnrs: list[str], *, into: Path) -> Path:
    listnr = new_exam_list(app)
    into.parent.mkdir(parents=True, exist_ok=True)
    return fill(
        workbook.issue(app, listnr).path,
        {p: {"grade": "4", "grade_date": GRADE_DATE} for p in pnrs},
        action="Skicka till examinator",
        target=into,
    )


def _events(app: App, action: str) -> list[AuditEvent]:
    with app.db.read_session() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(stmt).scalars())


def _mails(app: App) -> list[email.message.Message]:
    return [
        email.message_from_bytes(p.read_bytes()) for p in (app.settings.var / "mail").glob("*.eml")
    ]


def test_everyone_gets_folders_and_the_office_its_own(app: App) -> None:
    seed(app)
    made = furnish(app)
    for person in ("exam1", "lärare1", "utbildningsstod"):
        assert (app.settings.inbox / person).is_dir() and (app.settings.outbox / person).is_dir()
        assert app.settings.inbox / person in made
    assert furnish(app) == []  # idempotent


def test_a_file_in_a_persons_folder_is_theirs(app: App) -> None:
    """Dropped in inbox/lärare1/: the audit event names lärare1, the receipt and a mail go to
    them, and no other person's outbox gets anything of it."""
    s = seed(app)
    furnish(app)
    _submit(app, s.pnrs[:3], into=app.settings.inbox / "lärare1" / "betyg.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    [event] = _events(app, "list.submit") or _events(app, "list.update")
    assert event.actor == "lärare1"
    mine = folders.outbox_of(app.settings, "lärare1")
    assert result.receipt is not None
    assert (mine / result.receipt.name).read_text("utf-8") == result.receipt.read_text("utf-8")
    # The examiner's outbox has their forms and the review files only, no teacher's receipt.
    forms = {"bestallning.xlsx", "installningar.xlsx"}
    theirs = sorted(p.name for p in folders.outbox_of(app.settings, "exam1").iterdir())
    review = [n for n in theirs if n not in forms]
    assert review and all(n.startswith(f"{result.listnr}_v") for n in review), theirs
    sent_code(app, result.listnr or 0)  # dispatches the queue
    receipt_mails = [m for m in _mails(app) if "betyg.xlsx" in str(m["Subject"])]
    assert [m["To"] for m in receipt_mails] == ["larare1@example.se"]


def test_the_fresh_workbook_in_the_outbox_is_the_lists_own_file(app: App) -> None:
    """The fresh workbook is zipped once: the person's copy is the list's file byte for byte,
    both private (0640), and the receipt's mail carries the receipt as it is."""
    s = seed(app)
    furnish(app)
    _submit(app, s.pnrs[:3], into=app.settings.inbox / "lärare1" / "betyg.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED and result.receipt is not None
    listed = app.settings.lists_dir / f"{result.listnr}.xlsx"
    mine = folders.outbox_of(app.settings, "lärare1")
    copy = mine / listed.name
    assert copy.read_bytes() == listed.read_bytes()
    assert (mine / result.receipt.name).read_bytes() == result.receipt.read_bytes()
    for path in (listed, copy, mine / result.receipt.name):
        assert path.stat().st_mode & 0o777 == 0o640
    assert not [p.name for p in mine.iterdir() if p.name.startswith(".tmp-")]
    sent_code(app, result.listnr or 0)  # dispatches the queue
    [mail] = [m for m in _mails(app) if "betyg.xlsx" in str(m["Subject"])]
    attached = {
        part.get_filename(): part.get_payload(decode=True)
        for part in mail.walk()
        if part.get_filename()
    }
    assert attached == {result.receipt.name: result.receipt.read_bytes()}


def test_a_shared_inbox_file_is_answered_in_the_folder_of_the_person_it_names(app: App) -> None:
    s = seed(app)
    _submit(app, s.pnrs[:2], into=app.settings.inbox / "betyg.xlsx")
    [result] = Inbox(app).process_once()
    assert result.receipt is not None
    assert (folders.outbox_of(app.settings, "lärare1") / result.receipt.name).is_file()
    assert not (app.settings.outbox / "receipts").exists()


def test_the_shared_inbox_can_be_switched_off(app: App) -> None:
    config = app.root / "resultat.toml"
    config.write_text(config.read_text("utf-8").replace("shared = true", "shared = false"))
    off = App.open(app.root, actor="testadmin", admin=True)
    try:
        s = seed(off)
        _submit(off, s.pnrs[:2], into=off.settings.inbox / "betyg.xlsx")
        assert Inbox(off).process_once() == []
        assert (off.settings.inbox / "betyg.xlsx").is_file()  # left alone, not lost
    finally:
        off.close()


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("sv", "tillhör ingen i personalregistret"),
        ("en", "belongs to nobody in the staff directory"),
    ],
)
def test_a_folder_that_is_nobodys_is_refused(app: App, language: str, text: str) -> None:
    s = seed(app)
    config = app.root / "resultat.toml"
    config.write_text(
        config.read_text("utf-8").replace('default = "sv"', f'default = "{language}"')
    )
    fresh = App.open(app.root, actor="testadmin", admin=True)
    try:
        _submit(fresh, s.pnrs[:1], into=fresh.settings.inbox / "okänd" / "betyg.xlsx")
        [result] = Inbox(fresh).process_once()
        assert result.outcome == FileOutcome.REJECTED
        assert result.receipt is not None and text in result.receipt.read_text("utf-8")
        assert not (fresh.settings.outbox / "okänd").exists()  # nobody's outbox is made
        assert result.kept_at is not None and result.kept_at.is_file()
    finally:
        fresh.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another uid")
@pytest.mark.parametrize(
    ("language", "text"), [("sv", "av någon annan"), ("en", "by someone else")]
)
def test_check_owner_refuses_a_file_owned_by_someone_else(
    app: App, language: str, text: str
) -> None:
    """With check_owner, the file's owner on disk must be the folder's person (their os_login):
    real files chowned to two different uids."""
    nobody = pwd.getpwnam("nobody")
    config = app.root / "resultat.toml"
    config.write_text(
        config.read_text("utf-8")
        .replace("check_owner = false", "check_owner = true")
        .replace('default = "sv"', f'default = "{language}"')
    )
    checked = App.open(app.root, actor="testadmin", admin=True)
    try:
        s = seed(checked)
        with checked.db.session() as session:
            teacher = session.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
            teacher.os_login = "nobody"
            teacher.language = language
        furnish(checked)
        inbox = checked.settings.inbox / "lärare1"
        foreign = _submit(checked, s.pnrs[:1], into=inbox / "fel-ägare.xlsx")  # owned by root
        [refused] = Inbox(checked).process_once()
        assert refused.outcome == FileOutcome.REJECTED
        assert refused.receipt is not None
        answer = (folders.outbox_of(checked.settings, "lärare1") / refused.receipt.name).read_text()
        assert text in answer and "root" in answer
        with checked.db.read_session() as session:
            [alert] = session.execute(
                select(Message).where(Message.kind == "admin_owner_mismatch")
            ).scalars()
        assert alert.recipient == checked.settings.contacts.maintainers
        assert not foreign.exists() and refused.kept_at is not None and refused.kept_at.is_file()

        own = fill(
            workbook.issue(checked, 1001).path,
            {s.pnrs[0]: {"grade": "5", "grade_date": GRADE_DATE}},
            target=inbox / "min.xlsx",
        )
        os.chown(own, nobody.pw_uid, nobody.pw_gid)
        [accepted] = Inbox(checked).process_once()
        assert accepted.outcome == FileOutcome.ACCEPTED
    finally:
        checked.close()


def _as(app: App, username: str) -> App:
    return app.acting(username)


@pytest.mark.parametrize(
    ("language", "text"),
    [("sv", "Bara listans examinator"), ("en", "Only the list's examiner")],
)
def test_only_the_examiner_approves_or_rejects(app: App, language: str, text: str) -> None:
    s = seed(app)
    listnr = new_exam_list(app)
    fill(
        workbook.issue(app, listnr).path,
        {p: {"grade": "4", "grade_date": GRADE_DATE} for p in s.pnrs[:2]},
        action="Skicka till examinator",
        target=app.settings.inbox / "b.xlsx",
    )
    Inbox(app).process_once()
    code = sent_code(app, listnr)
    for act in (
        lambda a: approval.approve(a, listnr, code),
        lambda a: approval.reject(a, listnr, "nej"),
        lambda a: approval.resend_code(a, listnr),
    ):
        with pytest.raises(NotPermitted) as refused:
            act(_as(app, "lärare1"))
        assert text in refused.value.render(language)
        assert "Eva Examinatorsson (exam1)" in refused.value.render(language)
    assert approval.approve(_as(app, "exam1"), listnr, code).ok


@pytest.mark.parametrize(
    ("language", "text"), [("sv", "Bara Utbildningsstöd"), ("en", "Only the student office")]
)
def test_only_the_office_confirms_registration(app: App, language: str, text: str) -> None:
    s = seed(app)
    with app.db.session() as session:
        session.add(
            Staff(username="kansli1", name="Kim Kansli", email="kim@example.se", office=True)
        )
    listnr = new_exam_list(app)
    fill(
        workbook.issue(app, listnr).path,
        {p: {"grade": "4", "grade_date": GRADE_DATE} for p in s.pnrs[:2]},
        action="Skicka till examinator",
        target=app.settings.inbox / "b.xlsx",
    )
    Inbox(app).process_once()
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    with pytest.raises(NotPermitted) as refused:
        after_approval.registered(_as(app, "exam1"), listnr)
    assert text in refused.value.render(language) and "Kim Kansli" in refused.value.render(language)
    assert after_approval.registered(_as(app, "kansli1"), listnr) == 2
    with app.db.read_session() as session:
        stored = session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()
    assert stored == ListState.REGISTERED


@pytest.mark.parametrize(
    ("language", "text"), [("sv", "har ingen roll på kursen"), ("en", "has no role on the course")]
)
def test_a_new_list_needs_a_role_on_the_course(app: App, language: str, text: str) -> None:
    seed(app)
    with app.db.session() as session:
        session.add(Staff(username="gäst1", name="Greta Gäst", email="greta@example.se"))
    with pytest.raises(NotPermitted) as refused:
        create_t33(
            _as(app, "gäst1"),
            course_code="DV1599",
            module_code="2010",
            term=TERM,
            sources=StudentSources(exam_date=EXAM_DATE),
        )
    message = refused.value.render(language)
    assert text in message and "Eva Examinatorsson" in message  # who to ask
    assert create_t33(
        _as(app, "lärare1"),
        course_code="DV1599",
        module_code="2010",
        term=TERM,
        sources=StudentSources(exam_date=EXAM_DATE),
    )


def test_the_cli_acts_as_the_os_login_and_as_needs_admin(
    app: App, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(app)
    new_exam_list(app)
    ws = ["-w", str(workspace)]
    monkeypatch.setenv("LOGNAME", "okänd-inloggning")
    unknown = runner.invoke(cli_app, [*ws, "issue", "1001"])
    assert (
        unknown.exit_code == 4
        and "okänd-inloggning finns inte i personalregistret" in unknown.output
    )
    monkeypatch.setenv("LOGNAME", "lärare1")
    refused = runner.invoke(cli_app, [*ws, "--as", "exam1", "issue", "1001"])
    assert refused.exit_code == 3 and "--admin" in refused.output
    opened = runner.invoke(cli_app, [*ws, "issue", "1001"])
    assert opened.exit_code == 0, opened.output
    assert (folders.outbox_of(app.settings, "lärare1") / "1001.xlsx").is_file()
    [event] = _events(app, "list.opened")
    assert event.actor == "lärare1"
    on_behalf = runner.invoke(cli_app, [*ws, "--as", "exam1", "issue", "1001", "--admin"])
    assert on_behalf.exit_code == 0, on_behalf.output
    last = _events(app, "list.opened")[-1]
    assert (last.actor, last.admin) == ("lärare1 acting as exam1", True)
    assert (folders.outbox_of(app.settings, "exam1") / "1001.xlsx").is_file()


def test_process_sends_the_examiners_sms(app: App, workspace: Path) -> None:
    s = seed(app)
    _submit(app, s.pnrs[:2], into=app.settings.inbox / "b.xlsx")
    result = runner.invoke(cli_app, ["-w", str(workspace), "process"])
    assert result.exit_code == 0, result.output
    sms = [json.loads(p.read_text("utf-8")) for p in (app.settings.var / "sms").glob("*.json")]
    assert [m["to"] for m in sms] == ["+46701740605"]
    assert "1001" in sms[0]["body"]
    shutil.rmtree(app.settings.var / "sms")


def test_the_examiner_asks_for_a_new_code_by_sms(app: App) -> None:
    s = seed(app)
    _submit(app, s.pnrs[:2], into=app.settings.inbox / "b.xlsx")
    Inbox(app).process_once()
    first = sent_code(app, 1001)
    assert by_sms.reply(app, "+46701740606", "NY 1001").startswith("Attesteringen kan inte")
    answer = by_sms.reply(app, "+46701740605", "ny 1001")
    assert answer.startswith("En ny kod för lista 1001")
    second = sent_code(app, 1001)
    assert second != first
    assert by_sms.reply(app, "+46701740605", f"1001 {first}").startswith("Fel kod")
    assert by_sms.reply(app, "+46701740605", f"1001 {second}").startswith("Lista 1001 är")
    [event] = _events(app, "approval.resend")
    assert (event.actor, event.details) == ("exam1", {"via": "sms"})


def _review_workbook(app: App, listnr: int) -> Path:
    [review] = sorted(app.settings.review_dir.glob(f"{listnr}_v*_granskning.xlsx"))
    return review


def test_a_blank_review_workbook_from_the_examiner_asks_for_a_new_code(app: App) -> None:
    s = seed(app)
    furnish(app)
    _submit(app, s.pnrs[:2], into=app.settings.inbox / "b.xlsx")
    Inbox(app).process_once()
    first = sent_code(app, 1001)
    shutil.copy(_review_workbook(app, 1001), app.settings.inbox / "exam1" / "ny kod.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED and result.receipt is not None
    assert "en ny kod har skickats" in result.receipt.read_text("utf-8")
    assert sent_code(app, 1001) != first
    [event] = _events(app, "approval.resend")
    assert (event.actor, event.details) == ("exam1", {"via": "workbook"})


@pytest.mark.parametrize(
    ("language", "text"),
    [("sv", "Bara listans examinator (exam1)"), ("en", "Only the list's examiner (exam1)")],
)
def test_a_review_workbook_in_someone_elses_folder_decides_nothing(
    app: App, language: str, text: str
) -> None:
    from openpyxl import load_workbook

    s = seed(app, teacher_lang=language)
    furnish(app)
    _submit(app, s.pnrs[:2], into=app.settings.inbox / "b.xlsx")
    Inbox(app).process_once()
    with app.db.session() as session:
        examiner = session.execute(select(Staff).where(Staff.username == "exam1")).scalar_one()
        examiner.language = language
    wb = load_workbook(_review_workbook(app, 1001))
    wb.worksheets[0]["B13"] = sent_code(app, 1001)
    wb.save(app.settings.inbox / "lärare1" / "attest.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED and result.receipt is not None
    assert text in result.receipt.read_text("utf-8")
    with app.db.read_session() as session:
        state = session.execute(select(ResultList.state)).scalar_one()
    assert state == ListState.AWAITING_APPROVAL


@pytest.mark.parametrize(
    ("value", "text"),
    [(12345, "012345"), (905124, "905124"), (12345.0, "012345"), (" 905124 ", "905124")],
)
def test_a_code_stored_as_a_number_is_read_as_its_digits(value: object, text: str) -> None:
    from pipeline.intake.review_workbook import code_text

    assert code_text(value) == text
