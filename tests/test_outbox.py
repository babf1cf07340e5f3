"""The message outbox: templates, queueing, and the dispatcher against a real SMTP server
(aiosmtpd) and a real HTTP server speaking Twilio's API, both on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from sqlalchemy import select

from pipeline.app import App
from pipeline.lifecycle.chart import grade_chart_png
from pipeline.messages import mail, outbox
from pipeline.models import Message, MessageStatus, utcnow
from tests.smtp_server import (
    EXAMINER,
    FROM_NUMBER,
    MOBILE,
    MOBILE_E164,
    OFFICE,
    SENDER,
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    free_port,
    smtp_config,
)

if TYPE_CHECKING:
    from tests.fake_twilio import FakeTwilio

# The fixture ``fake_twilio`` (until conftest.py lists this plugin for every test module).

# Login without TLS is fine on loopback; aiosmtpd warns about it all the same.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


# --------------------------------------------------------------------------- message content

COUNTS = [("A", 2), ("B", 3), ("C", 5), ("F", 1)]
REVIEW = {
    "listnr": 4711,
    "course_code": "DV1599",
    "course_name": "Programvaruutveckling för nätverk",
    "module_code": "2010",
    "module_name": "Skriftlig tentamen",
    "term": "HT2026",
    "reporter_name": "Åsa Öberg",
    "counts": COUNTS,
    "total": 12,
    "graded": 11,
    "expires_at": "2026-12-01 12:00",
    "by_mail": True,
}
APPROVED = {
    "listnr": 4711,
    "course_code": "DV1599",
    "module_code": "2010",
    "approved_at": "2026-11-28 14:03",
    "approved_via": "sms",
    "files": ["4711_ladok.tsv", "4711_arkiv.pdf"],
}
CODE = {
    "code": "480213",
    "listnr": 4711,
    "course_code": "DV1599",
    "module_code": "2010",
    "count": 11,
    "expires_at": "2026-12-01 12:00",
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "examiner_review": REVIEW,
    "approval_code": CODE,
    "code_resent": CODE,
    "reporter_forwarded": {
        "listnr": 4711,
        "course_code": "DV1599",
        "module_code": "2010",
        "examiner_name": "Eva Examinator",
    },
    "approved": APPROVED,
    "rejected": {
        "listnr": 4711,
        "course_code": "DV1599",
        "module_code": "2010",
        "examiner_name": "Eva Examinator",
        "reason": "Betygsdatum saknas för två studenter.\nRätta och skicka igen.",
    },
    "student_result": {
        "first_name": "Märta",
        "course_code": "DV1599",
        "course_name": "Programvaruutveckling för nätverk",
        "module_code": "2010",
        "module_name": "Skriftlig tentamen",
        "grade": "B",
        "grade_date": "2026-10-30",
    },
}
SMS_KINDS = {"approval_code", "code_resent"}
TEN_OR_TWELVE_DIGITS = re.compile(r"(?<!\d)(\d{10}|\d{12})(?!\d)")


def make_attachments(root: Path) -> dict[str, bytes]:
    """Files as callers leave them in outbox/ before queueing: name -> bytes."""
    lists = root / "outbox" / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    files = {
        "4711_granskning.xlsx": b"PK\x03\x04 not really a workbook \x00\xff",
        "4711_förhandsvisning.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "4711_ladok.tsv": b"DV1599\t2010\t19900101xxxx\tB\t2026-10-30\r\n",
    }
    for name, data in files.items():
        (lists / name).write_bytes(data)
    chart = grade_chart_png(COUNTS, lists / "Betygsfördelning 4711.png", title="4711")
    files[chart.name] = chart.read_bytes()
    return files


def attachments_of(parsed: EmailMessage) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[str(part.get_filename())] = (part.get_content_type(), payload)
    return found


def later(seconds: float = 1) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def messages(application: App) -> list[Message]:
    with application.db.session() as session:
        return list(session.scalars(select(Message).order_by(Message.id)))


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_every_template_renders_without_personnummer(kind: str, language: str) -> None:
    subject, body = outbox.render(kind, language, CONTEXTS[kind])
    if kind in SMS_KINDS:
        assert subject is None
        assert "480213" in body and "4711" in body
        assert len(body) <= 306  # two SMS segments at most
    else:
        assert subject and "\n" not in subject
        assert "4711" in subject or kind == "student_result"
        assert "{{" not in body and "{%" not in body
        assert not body.startswith("\n")
    assert not TEN_OR_TWELVE_DIGITS.search(f"{subject} {body}")


def test_templates_say_what_they_must() -> None:
    subject, body = outbox.render("examiner_review", "sv", REVIEW)
    assert subject == "Resultatlista 4711 för DV1599/2010 väntar på din attestering"
    for text in (
        "Åsa Öberg",
        "Skriftlig tentamen",
        "HT2026",
        "12, varav 11 med betyg",
        "Attesteringskod",
        "Svara på SMS:et med: 4711 KOD",
        "din inkorg",
        "NY 4711",
        "4711 KOD",
        "2026-12-01 12:00",
    ):
        assert text in body
    assert re.search(r"^  C +5$", body, re.M)

    _, sms = outbox.render("approval_code", "sv", CODE)
    assert sms.startswith(
        "Attesteringskod för resultatlista 4711 (DV1599/2010, 11 resultat): 480213"
    )

    _, rejected = outbox.render("rejected", "en", CONTEXTS["rejected"])
    assert "  Betygsdatum saknas för två studenter.\n  Rätta och skicka igen." in rejected

    _, approved = outbox.render("approved", "sv", APPROVED)
    assert "(via svar på SMS)" in approved and "  - 4711_ladok.tsv" in approved

    final = {**CONTEXTS["student_result"], "module_code": "DV1599"}
    subject, body = outbox.render("student_result", "sv", final)
    assert subject == "Slutbetyg på DV1599 Programvaruutveckling för nätverk"
    assert "Hej Märta!" in body and "slutbetyget B" in body


def test_missing_context_key_fails_when_queued() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        outbox.render("approval_code", "sv", {"listnr": 1})
    with pytest.raises(ValueError):
        outbox.render("approval_code", "de", CODE)


def test_workspace_template_overrides_shipped_one(app: App) -> None:
    own = app.root / "templates" / "mail" / "approval_code.sv.txt"
    own.parent.mkdir(parents=True)
    own.write_text("Kod {{ code }} för lista {{ listnr }}.\n", encoding="utf-8")
    assert outbox.render("approval_code", "sv", CODE, app.root) == (
        None,
        "Kod 480213 för lista 4711.",
    )


def test_mobile_numbers_are_normalised() -> None:
    assert outbox.e164("070-174 06 40") == MOBILE_E164
    assert outbox.e164("0046 70 174 06 40") == MOBILE_E164
    assert outbox.e164("+46 70 174 06 40") == MOBILE_E164
    with pytest.raises(ValueError):
        outbox.e164("ring mig")


def test_chart_is_a_png_and_importing_the_module_is_cheap(tmp_path: Path) -> None:
    target = grade_chart_png(
        [("U", 1), ("G", 4), ("VG", 2)], tmp_path / "c" / "g.png", title="Fördelning"
    )
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (480, 300)
    check = "import sys, pipeline.lifecycle.chart; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True)


# --------------------------------------------------------------------------- queueing


def test_dedupe_key_queues_once(app: App) -> None:
    with app.db.session() as session:
        first = outbox.queue_sms(
            session,
            kind="approval_code",
            to=MOBILE,
            language="sv",
            context=CODE,
            listnr=4711,
            dedupe_key="code:4711:1",
        )
        again = outbox.queue_sms(
            session,
            kind="approval_code",
            to=MOBILE,
            language="sv",
            context=CODE,
            listnr=4711,
            dedupe_key="code:4711:1",
        )
        assert again is first
    with app.db.session() as session:
        later_one = outbox.queue_sms(
            session,
            kind="approval_code",
            to=MOBILE,
            language="sv",
            context=CODE,
            listnr=4711,
            dedupe_key="code:4711:1",
        )
    rows = messages(app)
    assert [m.id for m in rows] == [first.id] == [later_one.id]
    assert rows[0].recipient == MOBILE_E164 and rows[0].channel == "sms"


def test_attachments_are_stored_relative_to_the_workspace(app: App, tmp_path: Path) -> None:
    make_attachments(app.root)
    outside = tmp_path / "elsewhere.pdf"
    outside.write_bytes(b"%PDF")
    with app.db.session() as session:
        message = outbox.queue_email(
            session,
            kind="approved",
            to=OFFICE,
            language="sv",
            context=APPROVED,
            attachments=[app.root / "outbox/lists/4711_ladok.tsv", outside],
            workspace=app.root,
        )
    assert message.attachments == ["outbox/lists/4711_ladok.tsv", str(outside.resolve())]
    with app.db.session() as session, pytest.raises(FileNotFoundError):
        outbox.queue_email(
            session,
            kind="approved",
            to=OFFICE,
            language="sv",
            context=APPROVED,
            attachments=[app.root / "missing.pdf"],
            workspace=app.root,
        )


# --------------------------------------------------------------------------- SMTP


def queue_review_and_approved(application: App) -> dict[str, bytes]:
    files = make_attachments(application.root)
    lists = application.root / "outbox" / "lists"
    with application.db.session() as session:
        outbox.queue_email(
            session,
            kind="examiner_review",
            to=EXAMINER,
            language="sv",
            context=REVIEW,
            attachments=[
                lists / n
                for n in (
                    "4711_granskning.xlsx",
                    "4711_förhandsvisning.pdf",
                    "Betygsfördelning 4711.png",
                )
            ],
            listnr=4711,
            workspace=application.root,
        )
        outbox.queue_email(
            session,
            kind="approved",
            to=OFFICE,
            language="en",
            context=APPROVED,
            attachments=[lists / "4711_ladok.tsv"],
            listnr=4711,
            workspace=application.root,
        )
    return files


def test_smtp_sends_each_email_exactly_once_with_its_attachments(
    smtp_app: App, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    files = queue_review_and_approved(smtp_app)
    now = later()
    caplog.set_level("DEBUG")

    report = outbox.dispatch(smtp_app, now=now)

    assert report == outbox.DispatchReport(sent=2, failed=0, pending=0)
    assert smtp_server.logins and set(smtp_server.logins) == {(SMTP_USER, SMTP_PASSWORD)}
    review, approved = smtp_server.received
    assert review.rcpt_tos == [EXAMINER] and approved.rcpt_tos == [OFFICE]
    assert review.mail_from == SENDER and review.login == SMTP_USER

    mail = review.parsed()
    assert mail["Subject"] == "Resultatlista 4711 för DV1599/2010 väntar på din attestering"
    assert mail["From"] == SENDER and mail["To"] == EXAMINER
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content_charset() == "utf-8"
    text = body.get_content()
    assert "Åsa Öberg har rapporterat resultat" in text and "Svara på SMS:et med: 4711 KOD" in text
    assert mail.get_body(preferencelist=("html",)) is None  # plain text, not yagmail's HTML
    assert attachments_of(mail) == {
        "4711_granskning.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            files["4711_granskning.xlsx"],
        ),
        "4711_förhandsvisning.pdf": ("application/pdf", files["4711_förhandsvisning.pdf"]),
        "Betygsfördelning 4711.png": ("image/png", files["Betygsfördelning 4711.png"]),
    }
    other = approved.parsed()
    assert other["Subject"] == "Result list 4711 (DV1599/2010) has been approved"
    assert attachments_of(other) == {
        "4711_ladok.tsv": ("text/tab-separated-values", files["4711_ladok.tsv"])
    }

    rows = messages(smtp_app)
    assert [m.status for m in rows] == [MessageStatus.SENT, MessageStatus.SENT]
    assert [m.sent_at for m in rows] == [now, now]
    assert (
        rows[0].provider_id == mail["Message-ID"] == outbox.message_id(rows[0], smtp_app.settings)
    )
    assert mail["Message-ID"] != other["Message-ID"]

    again = outbox.dispatch(smtp_app, now=later(3600))
    assert again == outbox.DispatchReport(sent=0, failed=0, pending=0)
    assert len(smtp_server.received) == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "väntar" not in logged and "Åsa" not in logged  # no bodies, no subjects


def test_relay_without_login(
    smtp_server: SmtpServer, reopen: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.stop()
    smtp_server.require_auth = False
    smtp_server.start()
    monkeypatch.delenv("RESULTAT_SMTP_PASSWORD", raising=False)
    config = smtp_config(smtp_server)
    del config["user"]
    application = reopen(mail=config)
    with application.db.session() as session:
        outbox.queue_email(
            session,
            kind="reporter_forwarded",
            to=EXAMINER,
            language="en",
            context=CONTEXTS["reporter_forwarded"],
        )
    assert outbox.dispatch(application, now=later()) == outbox.DispatchReport(1, 0, 0)
    (received,) = smtp_server.received
    assert received.login is None and smtp_server.logins == []
    assert received.mail_from == SENDER and received.rcpt_tos == [EXAMINER]


def test_missing_password_is_an_error_not_a_prompt(
    smtp_server: SmtpServer, reopen: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESULTAT_SMTP_PASSWORD", raising=False)
    application = reopen(mail=smtp_config(smtp_server))
    with application.db.session() as session:
        outbox.queue_email(
            session,
            kind="reporter_forwarded",
            to=EXAMINER,
            language="sv",
            context=CONTEXTS["reporter_forwarded"],
        )
    assert outbox.dispatch(application, now=later()) == outbox.DispatchReport(0, 1, 1)
    (row,) = messages(application)
    assert "RESULTAT_SMTP_PASSWORD" in str(row.last_error)
    assert smtp_server.received == []


def test_unreachable_server_keeps_the_message_until_it_can_be_sent(
    smtp_app: App, smtp_server: SmtpServer
) -> None:
    make_attachments(smtp_app.root)
    with smtp_app.db.session() as session:
        outbox.queue_email(
            session,
            kind="approved",
            to=OFFICE,
            language="sv",
            context=APPROVED,
            attachments=[smtp_app.root / "outbox/lists/4711_ladok.tsv"],
            workspace=smtp_app.root,
        )
    smtp_server.stop()
    now = later()

    assert outbox.dispatch(smtp_app, now=now) == outbox.DispatchReport(0, 1, 1)
    (row,) = messages(smtp_app)
    assert row.status == MessageStatus.QUEUED and row.attempts == 1
    assert row.last_error and "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at == now + dt.timedelta(seconds=30)

    smtp_server.start()
    assert outbox.dispatch(smtp_app, now=now + dt.timedelta(seconds=20)) == outbox.DispatchReport(
        0, 0, 1
    )
    assert smtp_server.received == []
    assert outbox.dispatch(smtp_app, now=now + dt.timedelta(seconds=31)) == outbox.DispatchReport(
        1, 0, 0
    )
    assert outbox.dispatch(smtp_app, now=now + dt.timedelta(hours=2)) == outbox.DispatchReport(
        0, 0, 0
    )
    assert len(smtp_server.received) == 1
    (row,) = messages(smtp_app)
    assert row.status == MessageStatus.SENT and row.attempts == 1


def test_refused_message_is_retried_with_growing_delay(
    smtp_app: App, smtp_server: SmtpServer
) -> None:
    queue_review_and_approved(smtp_app)
    smtp_server.refuse = True
    now = later()
    assert outbox.dispatch(smtp_app, now=now) == outbox.DispatchReport(0, 2, 2)
    retry = now + dt.timedelta(seconds=30)
    assert outbox.dispatch(smtp_app, now=retry) == outbox.DispatchReport(0, 2, 2)
    rows = messages(smtp_app)
    assert [m.attempts for m in rows] == [2, 2]
    assert all(m.last_error and "451" in m.last_error for m in rows)
    assert [m.next_attempt_at for m in rows] == [retry + dt.timedelta(seconds=60)] * 2

    smtp_server.refuse = False
    assert outbox.dispatch(smtp_app, now=retry + dt.timedelta(seconds=60)) == outbox.DispatchReport(
        2, 0, 0
    )
    assert len(smtp_server.received) == 2
    assert outbox.backoff(20) == dt.timedelta(hours=1)


def test_two_dispatchers_never_send_the_same_message(
    smtp_app: App, smtp_server: SmtpServer
) -> None:
    with smtp_app.db.session() as session:
        for n in range(12):
            outbox.queue_email(
                session,
                kind="reporter_forwarded",
                to=f"rapportor{n}@example.se",
                language="sv",
                context=CONTEXTS["reporter_forwarded"],
            )
    second = App.open(smtp_app.root, actor="other")
    reports: list[outbox.DispatchReport] = []
    now = later()
    try:
        threads = [
            threading.Thread(target=lambda a=a: reports.append(outbox.dispatch(a, now=now)))
            for a in (smtp_app, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        second.close()
    assert sum(r.sent for r in reports) == 12 and sum(r.failed for r in reports) == 0
    recipients = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert recipients == sorted(f"rapportor{n}@example.se" for n in range(12))


# --------------------------------------------------------------------------- file backends


def test_file_backends_write_one_file_per_message(app: App) -> None:
    files = make_attachments(app.root)
    with app.db.session() as session:
        mail = outbox.queue_email(
            session,
            kind="approved",
            to=OFFICE,
            language="sv",
            context=APPROVED,
            attachments=[app.root / "outbox/lists/4711_ladok.tsv"],
            workspace=app.root,
        )
        sms = outbox.queue_sms(
            session, kind="approval_code", to=MOBILE, language="sv", context=CODE
        )

    assert outbox.dispatch(app, now=later()) == outbox.DispatchReport(2, 0, 0)

    eml = app.root / "var" / "mail" / f"{mail.id}.eml"
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Resultatlista 4711 (DV1599/2010) är attesterad"
    assert parsed["To"] == OFFICE and parsed["From"] == "resultat@example.se"
    assert attachments_of(parsed) == {  # type: ignore[arg-type]
        "4711_ladok.tsv": ("text/tab-separated-values", files["4711_ladok.tsv"])
    }
    record = json.loads((app.root / "var" / "sms" / f"{sms.id}.json").read_text(encoding="utf-8"))
    assert record["to"] == MOBILE_E164 and record["from"] == FROM_NUMBER
    assert record["body"].startswith("Attesteringskod för resultatlista 4711")
    rows = {m.id: m for m in messages(app)}
    assert rows[mail.id].provider_id == f"var/mail/{mail.id}.eml"
    assert rows[sms.id].provider_id == f"var/sms/{sms.id}.json"


def test_stale_sending_message_is_taken_back(app: App) -> None:
    with app.db.session() as session:
        stuck = outbox.queue_sms(
            session, kind="approval_code", to=MOBILE, language="sv", context=CODE
        )
        busy = outbox.queue_sms(session, kind="code_resent", to=MOBILE, language="sv", context=CODE)
    now = later()
    with app.db.session() as session:
        for message, age in ((stuck, 11), (busy, 5)):
            row = session.get(Message, message.id)
            assert row is not None
            row.status = MessageStatus.SENDING
            row.next_attempt_at = now - dt.timedelta(minutes=age)

    assert outbox.dispatch(app, now=now) == outbox.DispatchReport(sent=1, failed=0, pending=1)
    rows = {m.id: m for m in messages(app)}
    assert rows[stuck.id].status == MessageStatus.SENT and rows[stuck.id].attempts == 1
    assert "requeued" in str(rows[stuck.id].last_error)
    assert rows[busy.id].status == MessageStatus.SENDING  # another dispatcher is on it
    assert (app.root / "var" / "sms" / f"{stuck.id}.json").is_file()
    assert not (app.root / "var" / "sms" / f"{busy.id}.json").exists()


# --------------------------------------------------------------------------- Twilio


def twilio_app(
    reopen: Callable[..., App], fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> App:
    monkeypatch.setenv("RESULTAT_TWILIO_SID", fake.account_sid)
    monkeypatch.setenv("RESULTAT_TWILIO_TOKEN", fake.auth_token)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return reopen(sms={"backend": "twilio", "from_number": FROM_NUMBER, "api_base_url": fake.url})


def test_sms_goes_through_the_twilio_client(
    reopen: Callable[..., App],
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    application = twilio_app(reopen, fake_twilio, monkeypatch)
    with application.db.session() as session:
        queued = outbox.queue_sms(
            session, kind="approval_code", to=MOBILE, language="sv", context=CODE, listnr=4711
        )

    assert outbox.dispatch(application, now=later()) == outbox.DispatchReport(1, 0, 0)

    (request,) = fake_twilio.requests
    sid, token = fake_twilio.account_sid, fake_twilio.auth_token
    assert request.path == f"/2010-04-01/Accounts/{sid}/Messages.json"
    assert request.auth == (sid, token)
    assert request.form["To"] == MOBILE_E164 and request.form["From"] == FROM_NUMBER
    assert "480213" in request.form["Body"] and "4711" in request.form["Body"]
    assert not TEN_OR_TWELVE_DIGITS.search(request.form["Body"])
    (row,) = messages(application)
    assert row.id == queued.id and row.status == MessageStatus.SENT
    assert row.provider_id is not None and row.provider_id.startswith("SM")
    assert row.provider_id == request.created_sid
    assert outbox.dispatch(application, now=later(3600)).sent == 0
    assert len(fake_twilio.requests) == 1


def test_twilio_errors_leave_sms_queued(
    reopen: Callable[..., App],
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    application = twilio_app(reopen, fake_twilio, monkeypatch)
    with application.db.session() as session:
        outbox.queue_sms(session, kind="approval_code", to=MOBILE, language="sv", context=CODE)
    fake_twilio.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    now = later()

    assert outbox.dispatch(application, now=now) == outbox.DispatchReport(0, 1, 1)
    (row,) = messages(application)
    assert row.status == MessageStatus.QUEUED and row.attempts == 1
    assert row.last_error and "21211" in row.last_error and "480213" not in row.last_error

    assert outbox.dispatch(
        application, now=now + dt.timedelta(seconds=31)
    ) == outbox.DispatchReport(1, 0, 0)
    assert len(fake_twilio.messages) == 1


def test_unreachable_twilio_fails_fast(
    reopen: Callable[..., App],
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_twilio.url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    application = twilio_app(reopen, fake_twilio, monkeypatch)
    with application.db.session() as session:
        for kind in ("approval_code", "code_resent"):
            outbox.queue_sms(session, kind=kind, to=MOBILE, language="en", context=CODE)
    assert outbox.dispatch(application, now=later()) == outbox.DispatchReport(0, 2, 2)
    rows = messages(application)
    assert all(m.status == MessageStatus.QUEUED and m.attempts == 1 for m in rows)
    assert all(m.last_error and "Twilio" in m.last_error for m in rows)


def test_the_mail_built_with_the_cached_header_classes_is_the_standard_policys(
    app: App, tmp_path: Path
) -> None:
    """``mail.SMTP_POLICY`` makes each header class once; the mail it builds is byte for
    byte the one ``email.policy.SMTP`` builds (but for the random multipart boundary)."""
    attached = tmp_path / "kvitto.txt"
    attached.write_text("Godtagen: lista 12 – åäö\n" * 40, encoding="utf-8")
    message = Message(
        id=7,
        channel="email",
        kind="receipt_copy",
        recipient="anna.andersson@example.se",
        subject="Kvitto: lista 12 – godtagen, åäö " + "lång rubrik " * 8,
        body="Hej!\n\nDin lista är mottagen: åäö.\n" * 20,
        attachments=[str(attached)],
        created_at=dt.datetime(2026, 12, 7, 12, 0, 0, 123456),
        reply_headers={"In-Reply-To": "<a@example.se>", "References": "<a@example.se>"},
    )
    ours = mail.build_email(message, app.settings)
    assert cast(Any, ours.policy).header_factory is mail.SMTP_POLICY.header_factory

    def flat(built: EmailMessage, policy: Any) -> bytes:
        return re.sub(rb"=+\d+==", b"BOUNDARY", built.as_bytes(policy=policy))

    standard = email.policy.SMTP
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mail, "SMTP_POLICY", standard)
        theirs = mail.build_email(message, app.settings)
    assert cast(Any, theirs.policy).header_factory is standard.header_factory
    assert flat(ours, mail.SMTP_POLICY) == flat(theirs, standard)
    assert flat(ours, standard.clone(linesep="\n")) == flat(theirs, standard.clone(linesep="\n"))
