"""Examiner approval by SMS code and the whole T33 lifecycle to the archive."""

from __future__ import annotations

import datetime as dt
import email
import json
import re
from collections.abc import Callable
from email.message import Message as EmailMessage
from pathlib import Path

import pikepdf
import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from pipeline.app import App
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import after_approval as lifecycle
from pipeline.lifecycle import approval, by_sms
from pipeline.lifecycle import verify as archive_check
from pipeline.lists.content import content_hash
from pipeline.messages import outbox
from pipeline.models import (
    ApprovalChallenge,
    AuditEvent,
    ChallengeStatus,
    FileOutcome,
    ListEntry,
    ListState,
    Message,
    ResultList,
)
from pipeline.xlsx import workbook
from tests.factories import fill, new_exam_list, seed, sent_code, text_of
from tests.smtp_server import SMTP_PASSWORD, SmtpServer, smtp_config


def _submitted(
    app: App, *, students: int = 4, grades: dict[int, str] | None = None
) -> tuple[int, list[str]]:
    """A T33 list filled and sent to the examiner through the inbox."""
    s = seed(app, students=students)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    grades = grades if grades is not None else {0: "5", 1: "3", 2: "U"}
    fill(
        issued.path,
        # Whole exam points: stored as 17, read back as 17.00; the content hash must not care.
        {
            s.pnrs[i]: {"grade": g, "grade_date": dt.date(2026, 11, 2), "points": 17 + i}
            for i, g in grades.items()
        },
        action="Skicka till examinator",
        target=app.settings.inbox / "betyg.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    return listnr, s.pnrs


def _sent_code(app: App, listnr: int) -> str:
    return sent_code(app, listnr)


def _state(app: App, listnr: int) -> ListState:
    with app.db.session() as session:
        return session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()


def _mails(app: App) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes())
        for p in sorted((app.settings.var / "mail").glob("*.eml"), key=lambda p: int(p.stem))
    ]


def test_submission_queues_review_mail_and_code_sms(app: App) -> None:
    listnr, pnrs = _submitted(app)
    assert _state(app, listnr) == ListState.AWAITING_APPROVAL
    with app.db.session() as session:
        challenge = session.execute(select(ApprovalChallenge)).scalar_one()
        assert challenge.status == ChallengeStatus.ACTIVE and challenge.attempts == 0
        assert re.fullmatch(r"[0-9a-f]{64}", challenge.code_hash)
        hours = (challenge.expires_at - challenge.created_at).total_seconds() / 3600
        assert hours == pytest.approx(72)
        kinds = sorted(m.kind for m in session.execute(select(Message)).scalars())
    # The reporter's receipt is mailed too (mail copies are on unless they opt out).
    assert kinds == ["approval_code", "examiner_review", "receipt_copy", "reporter_forwarded"]
    code = _sent_code(app, listnr)
    with app.db.session() as session:
        challenge = session.execute(select(ApprovalChallenge)).scalar_one()
        assert code not in challenge.code_hash
        # Once sent, the stored SMS keeps no usable code.
        stored = session.execute(
            select(Message).where(Message.kind == "approval_code")
        ).scalar_one()
        assert code not in stored.body and "••••••" in stored.body
    sms = json.loads(next((app.settings.var / "sms").glob("*.json")).read_text("utf-8"))
    assert sms["to"] == "+46701740605"
    assert str(listnr) in sms["body"] and "DV1599" in sms["body"]
    assert not re.search(r"\d{10,12}", sms["body"])
    for pnr in pnrs:
        assert pnr[2:] not in sms["body"]
    mails = {m["To"]: m for m in _mails(app)}
    review = mails["exam1@example.se"]
    # Without [mailin], the review mail offers no answer by mail.
    assert "Svara på SMS:et med" in text_of(review) and "Svara på det här mejlet" not in text_of(
        review
    )
    names = sorted(str(part.get_filename()) for part in review.walk() if part.get_filename())
    assert names == sorted(
        [f"{listnr}_v2_granskning.xlsx", f"{listnr}_v2_preview.pdf", f"{listnr}_v2_betyg.png"]
    )
    assert "larare1@example.se" in mails  # the reporter is told it went to the examiner


def test_approval_via_review_workbook_writes_ladok_files(app: App) -> None:
    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    review = app.settings.review_dir / f"{listnr}_v2_granskning.xlsx"
    wb = load_workbook(review)
    wb.worksheets[0]["B13"] = code
    wb.save(app.settings.inbox / "attest.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    assert "ATTESTERAD" in (result.receipt.read_text("utf-8") if result.receipt else "")
    assert _state(app, listnr) == ListState.APPROVED
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        assert rl.approved_by == "exam1" and rl.content_hash == content_hash(rl)
        entries = {e.student.pnr: e for e in rl.entries}
    # The LADOK file, byte for byte: graded students only, sorted by surname, given name.
    graded = sorted(
        (e for e in entries.values() if e.grade),
        key=lambda e: (e.student.last_name.casefold(), e.student.first_name.casefold()),
    )
    expected = "".join(
        f"DV1599\t2010\t{e.student.pnr[:8]}-{e.student.pnr[8:]}\t{e.grade}\t2026-11-02\t"
        "Lars Lärare <larare1@example.se>\tEva Examinatorsson <exam1@example.se>\n"
        for e in graded
    ).encode("utf-8")
    assert (app.settings.office_outbox / "ladok" / f"{listnr}.tsv").read_bytes() == expected
    manual = load_workbook(app.settings.office_outbox / "ladok" / f"{listnr}_manuell.xlsx").active
    assert manual is not None
    rows = list(manual.iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in rows] == [f"{e.student.pnr[:8]}-{e.student.pnr[8:]}" for e in graded]
    assert manual["C2"].number_format == "@"
    pdf_path = app.settings.office_outbox / "print" / f"{listnr}_arkivlista.pdf"
    with pikepdf.open(pdf_path) as pdf:
        assert "pdfaid" in str(pdf.open_metadata())
        assert "/OutputIntents" in pdf.Root
        attached = dict(pdf.attachments)
        assert f"{listnr}_attesterad.json" in attached
    outbox.dispatch(app)
    approved = [
        m
        for m in _mails(app)
        if "attester" in str(m["Subject"]).lower() or "approved" in str(m["Subject"]).lower()
    ]
    assert {m["To"] for m in approved} == {"exam1@example.se", "utbildningsstod@example.se"}


def test_wrong_code_five_times_locks_until_unlocked_then_resend_works(app: App) -> None:
    from pipeline.lifecycle import tries

    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    slugs = [approval.approve(app, listnr, wrong).slug for _ in range(5)]
    assert slugs == ["approval-wrong-code"] * 4 + ["approval-locked"]
    assert approval.approve(app, listnr, code).slug == "approval-locked"
    assert _state(app, listnr) == ListState.AWAITING_APPROVAL
    # A new code does not open the lock (issue 16): only an administrator does.
    with pytest.raises(tries.ListLocked):
        approval.resend_code(app, listnr)
    assert tries.unlock(app, listnr, "checked by phone") == 5
    assert approval.resend_code(app, listnr) == "awaiting_approval"
    new_code = _sent_code(app, listnr)
    assert approval.approve(app, listnr, new_code).ok
    with app.db.session() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.details).where(AuditEvent.listnr == listnr)
        ).all()
    wrong_events = [d for a, d in events if a == "approval.wrong-code"]
    assert len(wrong_events) == 5 and wrong_events[-1]["locked"] is True
    assert not any(code in json.dumps(d) or new_code in json.dumps(d) for _, d in events)


def test_expired_code_refused(app: App) -> None:
    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    with app.db.session() as session:
        session.execute(update(ApprovalChallenge).values(expires_at=dt.datetime(2020, 1, 1)))
    assert approval.approve(app, listnr, code).slug == "approval-expired"
    assert _state(app, listnr) == ListState.AWAITING_APPROVAL


def test_code_from_before_a_change_is_refused(app: App) -> None:
    listnr, pnrs = _submitted(app)
    old_code = _sent_code(app, listnr)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {pnrs[3]: {"grade": "4", "grade_date": "2026-11-02"}},
        action="Skicka till examinator",
        target=app.settings.inbox / "ny.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    assert approval.approve(app, listnr, old_code).slug in {"approval-wrong-code", "approval-stale"}
    with app.db.session() as session:
        statuses = [
            c.status
            for c in session.execute(
                select(ApprovalChallenge).order_by(ApprovalChallenge.id)
            ).scalars()
        ]
    assert statuses[0] == ChallengeStatus.VOIDED and statuses[-1] == ChallengeStatus.ACTIVE
    assert approval.approve(app, listnr, _sent_code(app, listnr)).ok


def test_replayed_code_refused(app: App) -> None:
    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    assert approval.approve(app, listnr, code).ok
    assert approval.approve(app, listnr, code).slug == "approval-wrong-state"


def test_reject_sends_back_to_draft_with_reason(app: App) -> None:
    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    decision = approval.reject(app, listnr, "Fel datum för Åsa")
    assert decision.ok and _state(app, listnr) == ListState.DRAFT
    assert approval.approve(app, listnr, code).slug == "approval-wrong-state"
    outbox.dispatch(app)
    [mail] = [
        m
        for m in _mails(app)
        if m["To"] == "larare1@example.se" and "Fel datum för Åsa" in text_of(m)
    ]
    assert str(listnr) in str(mail["Subject"])


def test_sms_reply_from_the_examiners_number_approves(app: App) -> None:
    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    assert by_sms.reply(app, "+46701740699", f"{listnr} {code}") == (
        "Attesteringen kan inte tas emot från det här numret."
    )
    assert _state(app, listnr) == ListState.AWAITING_APPROVAL
    answer = by_sms.reply(app, "0701740605", f"{listnr} {code}")
    assert "attesterad" in answer
    assert _state(app, listnr) == ListState.APPROVED


def test_registered_mails_each_student_only_their_result_and_signed_archives(
    app: App, tmp_path: Path
) -> None:
    listnr, pnrs = _submitted(app, students=5, grades={0: "5", 1: "4", 2: "3"})
    assert approval.approve(app, listnr, _sent_code(app, listnr)).ok
    outbox.dispatch(app)
    before = len(_mails(app))
    assert lifecycle.registered(app, listnr) == 3
    outbox.dispatch(app)
    student_mails = _mails(app)[before:]
    assert len(student_mails) == 3
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        by_email = {e.student.email: e for e in rl.entries}
        others = {e.student.first_name + " " + e.student.last_name for e in rl.entries}
    for mail in student_mails:
        entry = by_email[mail["To"]]
        body = text_of(mail)
        assert entry.grade and entry.grade in body and "DV1599" in body and "2026-11-02" in body
        for pnr in pnrs:
            assert pnr[2:8] not in body
        mine = entry.student.first_name + " " + entry.student.last_name
        assert not any(name in body for name in others - {mine})
    scan = tmp_path / "signerad.pdf"
    scan.write_bytes(b"%PDF-1.4 scanned signature")
    package = lifecycle.signed(app, listnr, scan=scan)
    assert (
        package == app.settings.archive / "2026" / str(listnr)
        or package.parent.parent == app.settings.archive
    )
    assert _state(app, listnr) == ListState.ARCHIVED
    data = package / "data"
    assert (data / "scan" / "signerad.pdf").read_bytes() == scan.read_bytes()
    assert (data / "ladok" / f"{listnr}.tsv").is_file()
    assert (data / "print" / f"{listnr}_arkivlista.pdf").is_file()
    assert any((data / "received").iterdir()) and any((data / "receipts").iterdir())
    report = archive_check.verify(app, listnr)
    assert report.ok, archive_check.format_report(report)
    target = data / "ladok" / f"{listnr}.tsv"
    target.write_bytes(target.read_bytes().replace(b"\t5\t", b"\t4\t", 1))
    assert not archive_check.verify(app, listnr).ok


def test_student_results_go_through_smtp_one_mail_each(
    app: App, smtp_server: SmtpServer, reopen: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real yagmail client delivers to aiosmtpd: one mail per student, only their own."""
    listnr, pnrs = _submitted(app, students=4, grades={0: "5", 1: "4", 2: "U"})
    assert approval.approve(app, listnr, _sent_code(app, listnr)).ok
    outbox.dispatch(app)  # the approval mails go to the file sink
    monkeypatch.setenv("RESULTAT_SMTP_PASSWORD", SMTP_PASSWORD)
    smtp_app = reopen(mail=smtp_config(smtp_server))
    assert lifecycle.registered(smtp_app, listnr) == 3
    report = outbox.dispatch(smtp_app)
    assert report.sent == 3 and report.failed == 0
    assert outbox.dispatch(smtp_app).sent == 0
    received = {tuple(r.rcpt_tos): r.parsed() for r in smtp_server.received}
    assert len(smtp_server.received) == 3
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        graded = [e for e in rl.entries if e.grade]
        names = {e.student.last_name for e in rl.entries}
        expected: dict[tuple[str, ...], ListEntry] = {(str(e.student.email),): e for e in graded}
    assert set(received) == set(expected)
    for rcpt, mail in received.items():
        entry = expected[rcpt]
        body = mail.get_content()
        assert f"Betyg: {entry.grade}" in body or entry.grade in body
        assert "DV1599" in body and "2026-11-02" in body
        assert not any(n in body for n in names - {entry.student.last_name})
        assert not any(p[2:8] in body for p in pnrs)


def test_sms_reply_through_the_signed_webhook(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio's webhook with the real approval handler: a wrong sender and a bad signature
    change nothing; the examiner's signed reply approves."""
    import threading
    import urllib.parse
    import urllib.request
    from functools import partial

    from twilio.request_validator import RequestValidator

    from pipeline.messages import sms_webhook

    listnr, _ = _submitted(app)
    code = _sent_code(app, listnr)
    token = "test-twilio-token"
    monkeypatch.setenv("RESULTAT_TWILIO_TOKEN", token)
    # No Twilio REST API here to ask a message's age (tests/test_approval_hardened.py does).
    config = app.root / "resultat.toml"
    config.write_text(
        config.read_text("utf-8").replace(
            "webhook_max_age_seconds = 600", "webhook_max_age_seconds = 0"
        ),
        encoding="utf-8",
    )
    hooked = App.open(app.root, actor="testadmin", admin=True)
    sids = iter(range(1, 100))
    server = sms_webhook.make_server_for(
        hooked, partial(by_sms.reply, hooked), host="127.0.0.1", port=0
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/sms"

    def post(sender: str, body: str, *, signature: str | None = None) -> tuple[int, str]:
        form = {"From": sender, "Body": body, "To": "+46701740600"}
        form["MessageSid"] = f"SM{next(sids):032x}"  # each request its own, as Twilio's
        sig = signature or RequestValidator(token).compute_signature(url, form)
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(form).encode(),
            method="POST",
            headers={"X-Twilio-Signature": sig},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    try:
        assert post("+46701740605", f"{listnr} {code}", signature="bad")[0] == 403
        status, answer = post("+46701740698", f"{listnr} {code}")
        assert status == 200 and "kan inte tas emot" in answer
        assert _state(app, listnr) == ListState.AWAITING_APPROVAL
        status, answer = post("+46701740605", f"{listnr} {code}")
        assert status == 200 and "<Response><Message>" in answer and "attesterad" in answer
        assert _state(app, listnr) == ListState.APPROVED
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        hooked.close()
