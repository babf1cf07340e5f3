"""Drop by mail (issue 17) against a real Dovecot on loopback: mails are delivered with IMAP
APPEND as if received, read by the pipeline through imap-tools, and the answers are read from
the real SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.app import App
from pipeline.domain import deadlines
from pipeline.mailin import answers
from pipeline.messages import outbox
from pipeline.models import (
    ApprovalChallenge,
    AuditEvent,
    FileOutcome,
    ListState,
    ResultList,
    Staff,
)
from tests.dovecot import (
    EXAMINER,
    TEACHER,
    Dovecot,
    files_of,
    filled,
    letter,
    reopen,
    replies,
    take,
    to,
)
from tests.factories import sent_code, text_of
from tests.smtp_server import SmtpServer

#: For the tests whose SQL is the same as another's on both engines (the suite's time).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


# --------------------------------------------------------------------------- (2), (4)


def test_a_teachers_mail_is_their_drop_and_the_receipt_a_reply(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    raw, mid = letter(
        "Lars Lärare <LARARE1@example.se>",
        "Betyg DV1599",
        files=[("betyg.xlsx", filled(mail_app, tmp_path))],
        headers={"References": "<earlier@example.se>"},
    )
    dovecot.deliver(raw)
    [result] = take(mail_app)
    assert (result.status, result.username) == ("done", "lärare1")
    [dropped] = result.files
    assert dropped.outcome == FileOutcome.ACCEPTED and dropped.listnr == 1001
    with mail_app.db.read_session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == 1001)).scalar_one()
        assert rl.state == ListState.AWAITING_APPROVAL
        actors = {e.actor for e in session.execute(select(AuditEvent)).scalars()}
    assert "lärare1" in actors
    # The receipt: a reply in the thread, with the receipt attached, and in the outbox folder.
    [reply] = replies(smtp_server, TEACHER)
    assert reply["In-Reply-To"] == mid
    assert str(reply["References"]).split() == ["<earlier@example.se>", mid]
    assert reply["Subject"] == "Re: Betyg DV1599"
    assert "som du mejlade" in text_of(reply)
    attached = [p.get_filename() for p in reply.iter_attachments()]
    assert dropped.receipt is not None and dropped.receipt.name in attached
    assert (mail_app.settings.outbox / "lärare1" / dropped.receipt.name).is_file()
    assert dovecot.count("INBOX") == 0 and dovecot.count("resultat/done") == 1
    # Nothing in a second pass.
    assert take(mail_app) == [] and len(files_of(mail_app)) == 1


def test_mail_from_anyone_else_is_never_answered_and_goes_to_the_digest(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    raw, _ = letter(
        "Mallory <mallory@example.net>",
        "SUBJECT",
        files=[("betyg.xlsx", filled(mail_app, tmp_path))],
    )
    # An encoded subject that decodes to a line break and a header of its own.
    raw = raw.replace(
        b"Subject: SUBJECT", b"Subject: =?utf-8?q?Betyg=0D=0ABcc:_victim@example.se?="
    )
    dovecot.deliver(raw)
    [result] = take(mail_app)
    assert result.status == answers.UNKNOWN_SENDER and result.files == []
    assert smtp_server.received == [] and files_of(mail_app) == []
    assert dovecot.count("INBOX") == 0 and dovecot.count("resultat/refused") == 1
    # The daily digest: not on the day itself, once the day after, never twice.
    today = deadlines.swedish_date()  # the digest counts Swedish days
    assert answers.send_digest(mail_app, today=today - dt.timedelta(days=1)) == 0
    assert answers.send_digest(mail_app, today=today + dt.timedelta(days=1)) == 1
    assert answers.send_digest(mail_app, today=today + dt.timedelta(days=1)) == 0
    outbox.drain(mail_app)
    [digest] = [r.parsed() for r in to(smtp_server, mail_app.settings.contacts.maintainers)]
    body = text_of(digest)
    assert "mallory@example.net" in body and "okänd avsändare" in body
    assert "resultat/refused" in body
    assert digest["Bcc"] is None and "Betyg Bcc: victim@example.se" in body


# --------------------------------------------------------------------------- (3)


AUTHSERV = "mx.example.se"


@SQLITE_ONLY
@pytest.mark.parametrize(
    "results",
    [
        None,
        "mx.evil.example; dkim=pass header.d=example.se",
        f"{AUTHSERV}; dkim=pass header.d=evil.example; spf=fail smtp.mailfrom=x@example.se",
        f"{AUTHSERV}; dkim=fail header.d=example.se; spf=pass smtp.mailfrom=x@evil.example",
    ],
)
def test_a_mail_the_receiving_server_does_not_vouch_for_is_refused(
    mail_app: App,
    smtp_server: SmtpServer,
    dovecot: Dovecot,
    tmp_path: Path,
    results: str | None,
) -> None:
    with mail_app.db.session() as session:
        teacher = session.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
        teacher.notify_email = "lars.hemma@example.se"
    app = reopen(mail_app, smtp_server, dovecot, require_auth=AUTHSERV)
    try:
        headers = {"Authentication-Results": results} if results else {}
        raw, _ = letter(
            "lars.hemma@example.se",
            "Betyg",
            files=[("betyg.xlsx", filled(app, tmp_path))],
            headers=headers,
        )
        dovecot.deliver(raw)
        [result] = take(app)
    finally:
        app.close()
    assert result.status == answers.NOT_VOUCHED and files_of(mail_app) == []
    assert dovecot.count("resultat/refused") == 1
    # Told at the directory address, never at the From.
    assert to(smtp_server, "lars.hemma@example.se") == []
    [warning] = [r.parsed() for r in to(smtp_server, TEACHER)]
    assert "någon skickade en fil i ditt namn" in str(warning["Subject"])


@SQLITE_ONLY
@pytest.mark.parametrize(
    "results",
    [
        f"{AUTHSERV}; dkim=pass header.d=example.se; spf=none",
        f"{AUTHSERV}; spf=pass smtp.mailfrom=bounce@mail.example.se",
    ],
)
def test_a_vouched_mail_counts(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path, results: str
) -> None:
    app = reopen(mail_app, smtp_server, dovecot, require_auth=AUTHSERV)
    try:
        raw, _ = letter(
            TEACHER,
            "Betyg",
            files=[("betyg.xlsx", filled(app, tmp_path))],
            headers={"Authentication-Results": results},
        )
        dovecot.deliver(raw)
        [result] = take(app)
    finally:
        app.close()
    assert result.status == "done" and result.files[0].outcome == FileOutcome.ACCEPTED


# --------------------------------------------------------------------------- (5)


def test_the_examiner_approves_by_answering_the_review_mail(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    raw, _ = letter(TEACHER, "Betyg", files=[("betyg.xlsx", filled(mail_app, tmp_path))])
    dovecot.deliver(raw)
    take(mail_app)
    code = sent_code(mail_app, 1001)
    [review] = [r.parsed() for r in to(smtp_server, EXAMINER)]
    assert "Svara på det här mejlet med koden ensam på första raden." in text_of(review)
    review_id = str(review["Message-ID"])
    thread = {"In-Reply-To": review_id, "References": review_id}
    subject = f"Re: {review['Subject']}"
    wrong = "000000" if code != "000000" else "111111"

    # The teacher answering the examiner's review mail decides nothing.
    dovecot.deliver(letter(TEACHER, subject, body=f"{code}\n", headers=thread)[0])
    # A wrong code counts as a wrong try, as in the review workbook.
    dovecot.deliver(letter(EXAMINER, subject, body=f"{wrong}\n\n> quoted\n", headers=thread)[0])
    results = take(mail_app)
    assert [r.status for r in results] == ["approval", "approval"]
    with mail_app.db.read_session() as session:
        [challenge] = session.execute(select(ApprovalChallenge)).scalars()
        assert challenge.attempts == 1
    teacher_answer = replies(smtp_server, TEACHER)[-1]
    assert "Bara listans examinator får attestera" in text_of(teacher_answer)
    assert "Examinator är exam1; du är lärare1" in text_of(teacher_answer)
    wrong_answer = replies(smtp_server, EXAMINER)[-1]
    assert wrong_answer["Subject"] == subject and "Fel kod" in text_of(wrong_answer)

    # The right code from a mail client that dropped the thread headers: found by subject.
    dovecot.deliver(letter(EXAMINER, subject, body=f"  {code}  \nMvh Eva\n")[0])
    [result] = take(mail_app)
    assert result.status == "approval"
    with mail_app.db.read_session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == 1001)).scalar_one()
        assert rl.state == ListState.APPROVED
        [approved] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "list.approve")
        ).scalars()
    assert (approved.actor, approved.details["via"]) == ("exam1", "mail")
    assert "Lista 1001 är" in text_of(replies(smtp_server, EXAMINER)[-1])


# --------------------------------------------------------------------------- (6)


def test_the_same_mail_twice_is_answered_as_a_duplicate(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    raw, mid = letter(TEACHER, "Betyg", files=[("betyg.xlsx", filled(mail_app, tmp_path))])
    dovecot.deliver(raw)
    dovecot.deliver(raw)
    results = take(mail_app)
    assert [r.status for r in results] == ["done", "duplicate"]
    assert [f.outcome for f in files_of(mail_app)] == [FileOutcome.ACCEPTED]
    answered = replies(smtp_server, TEACHER)
    assert len(answered) == 2 and all(r["In-Reply-To"] == mid for r in answered)
    assert "togs redan emot" in text_of(answered[1])
    assert dovecot.count("resultat/done") == 2


# --------------------------------------------------------------------------- (7)


@SQLITE_ONLY
def test_a_mail_without_a_file_gets_one_short_answer(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot
) -> None:
    raw, mid = letter(TEACHER, "Hej\x07 där", body="Här kommer betygen!\n")
    dovecot.deliver(raw)
    [result] = take(mail_app)
    assert result.status == "no-attachment"
    assert take(mail_app) == []
    [answer] = [r.parsed() for r in to(smtp_server, TEACHER)]
    assert answer["In-Reply-To"] == mid and answer["Subject"] == "Re: Hej där"
    assert "Bifoga den ifyllda arbetsboken" in text_of(answer)
    assert "resultat@example.se" in text_of(answer)
    # An out-of-office reply is a machine's: never answered (no robots answering each other).
    dovecot.deliver(
        letter(
            TEACHER,
            "Re: Kvitto",
            body="Jag är ledig.\n",
            headers={"Auto-Submitted": "auto-replied"},
        )[0]
    )
    [result] = take(mail_app)
    assert result.status == "automatic" and len(replies(smtp_server, TEACHER)) == 1


@SQLITE_ONLY
def test_limits_on_size_and_attachments(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    app = reopen(mail_app, smtp_server, dovecot, max_attachments=2, max_message_mb=0.05)
    try:
        small = [(f"f{n}.xlsx", b"x") for n in range(3)]
        dovecot.deliver(letter(TEACHER, "Tre filer", files=small)[0])
        dovecot.deliver(letter(TEACHER, "Stor", files=[("stor.xlsx", b"\0" * 80_000)])[0])
        results = take(app)
    finally:
        app.close()
    assert [r.status for r in results] == ["too-many", "too-large"]
    assert files_of(mail_app) == []
    texts = [text_of(r.parsed()) for r in to(smtp_server, TEACHER)]
    assert "fler än 2 bilagor" in texts[0] and "större än 0.05 MB" in texts[1]


@SQLITE_ONLY
def test_attachments_pass_the_same_safety_checks_and_names_are_untrusted(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    files = [
        ("../../../etc/passwd.xlsx", b"PK\x03\x04 not really a workbook"),
        (".dold.xlsx", filled(mail_app, tmp_path)),
    ]
    dovecot.deliver(letter(TEACHER, "Två", files=files)[0])
    [result] = take(mail_app)
    assert [f.outcome for f in result.files] == [FileOutcome.REJECTED, FileOutcome.ACCEPTED]
    assert [f.original_name for f in result.files] == ["passwd.xlsx", "dold.xlsx"]
    for kept in (f.kept_at for f in result.files):
        assert kept is not None and kept.parent.parent == mail_app.settings.inbox
    assert not (mail_app.root.parent / "etc").exists()
    receipts = replies(smtp_server, TEACHER)
    assert len(receipts) == 2
    assert all(r["Subject"] == "Re: Två" for r in receipts)


@SQLITE_ONLY
def test_where_moving_is_not_allowed_a_taken_mail_is_flagged_and_answered_in_english(
    mail_app: App, smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    with mail_app.db.session() as session:
        teacher = session.execute(select(Staff).where(Staff.username == "lärare1")).scalar_one()
        teacher.language = "en"
    app = reopen(mail_app, smtp_server, dovecot, after="flag")
    try:
        raw, mid = letter(TEACHER, "Grades", files=[("grades.xlsx", filled(app, tmp_path))])
        dovecot.deliver(raw)
        [result] = take(app)
        assert result.status == "done"
        assert take(app) == []  # flagged: not taken again
    finally:
        app.close()
    assert dovecot.count("INBOX") == 1 and dovecot.count("resultat/done") == 0
    with dovecot.client() as box:
        [kept] = list(box.fetch(mark_seen=False, headers_only=True))
        assert "resultat-done" in kept.flags and "\\Seen" in kept.flags
    [reply] = replies(smtp_server, TEACHER)
    assert reply["In-Reply-To"] == mid and "the file grades.xlsx you mailed" in text_of(reply)
