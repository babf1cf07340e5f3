"""A whole term in which no person types a command: two teachers, an examiner and the
student office act only through their folders, the SMS webhook and mail.

Outgoing mail goes through yagmail to a real SMTP server on loopback, SMS through the real
twilio client to a local server speaking Twilio's API; the examiner's SMS replies are posted,
signed as Twilio signs them, to our webhook over HTTP. The test asserts the files in each
person's outbox, that no outbox holds another person's students, the mails received and the
audit log's acting users."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import ProxyHandler, Request, build_opener

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import by_sms
from pipeline.messages import outbox
from pipeline.messages.sms_webhook import make_server_for
from pipeline.models import AuditEvent, ListState, ResultList
from pipeline.people.directory import OFFICE
from tests.factories import TERM, fill
from tests.fake_twilio import FakeTwilio
from tests.smtp_server import SMTP_PASSWORD, SmtpServer, smtp_config
from tests.test_forms import _confirmation, fill_rows, people

GRADE_DAY = dt.date(2026, 11, 2)
FROM_NUMBER = "+46701740600"


def _configure(
    reopen: Callable[..., App],
    smtp: SmtpServer,
    fake: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    webhook: str,
) -> App:
    monkeypatch.setenv("RESULTAT_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("RESULTAT_TWILIO_SID", fake.account_sid)
    monkeypatch.setenv("RESULTAT_TWILIO_TOKEN", fake.auth_token)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    sms = {"backend": "twilio", "from_number": FROM_NUMBER, "api_base_url": fake.url}
    return reopen(mail=smtp_config(smtp), sms={**sms, "webhook_url": webhook})


@pytest.fixture
def webhook_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    yield port


def _daemon(app: App) -> None:
    """A pass of the daemon: take every dropped file, send what it queued."""
    Inbox(app).process_once()
    outbox.drain(app)


def _reply(url: str, fake: FakeTwilio, sender: str, body: str) -> str:
    """The examiner's SMS reply as Twilio posts it: signed form fields over HTTP (and the
    message kept at Twilio, where the webhook asks for its time)."""
    sid = "SM" + "1" * 32
    fake.receive(sid, sender=sender, to=FROM_NUMBER, body=body, sent=dt.datetime.now(dt.UTC))
    form = {"From": sender, "To": FROM_NUMBER, "Body": body, "MessageSid": sid}
    signature = RequestValidator(fake.auth_token).compute_signature(url, form)
    request = Request(
        url,
        data=urlencode(form).encode(),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    with build_opener(ProxyHandler({})).open(request, timeout=10) as answer:
        return str(answer.read().decode("utf-8"))


def _code(fake: FakeTwilio, listnr: int) -> str:
    for sent in reversed(fake.requests):
        match = re.search(rf"\b{listnr}\b.*?\b(\d{{6}})\b", sent.form.get("Body", ""), re.S)
        if match:
            return match.group(1)
    raise LookupError(listnr)


def _order(app: App, person: str, rows: list[dict[str, Any]], tmp: Path, name: str) -> None:
    form = fill_rows(app.settings.outbox / person / "bestallning.xlsx", rows, tmp / name)
    target = app.settings.inbox / person / name
    shutil.copy(form, target)


def _scan(path: Path, listnr: int) -> Path:
    """A scanned, signed archive list (each scan its own bytes)."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Title"] = f"Arkivlista {listnr}, signerad"
    pdf.save(path)
    return path


def _new_lists(app: App, reporter: str) -> list[int]:
    with app.db.read_session() as s:
        return list(
            s.execute(
                select(ResultList.listnr)
                .where(ResultList.reporter == reporter)
                .order_by(ResultList.listnr)
            ).scalars()
        )


def _pnrs_in(folder: Path) -> set[str]:
    """Every personnummer in the workbooks and texts of ``folder`` (as 12 digits)."""
    found: set[str] = set()
    for path in folder.iterdir():
        if path.suffix == ".xlsx":
            wb = load_workbook(path, read_only=True)
            for ws in wb.worksheets:
                for row in ws.iter_rows(values_only=True):
                    found.update(_digits(str(v)) for v in row if v and _digits(str(v)))
            wb.close()
        elif path.suffix == ".txt":
            found.update(_digits(m) for m in re.findall(r"\d{6,8}-?\d{4}", path.read_text()))
    return {p for p in found if p}


def _digits(text: str) -> str:
    try:
        return personnummer.parse(text).digits
    except Exception:
        return ""


def test_a_whole_term_without_a_command(
    app: App,
    tmp_path: Path,
    reopen: Callable[..., App],
    smtp_server: SmtpServer,
    fake_twilio: FakeTwilio,
    monkeypatch: pytest.MonkeyPatch,
    webhook_port: int,
) -> None:
    seeded = people(app)
    url = f"http://127.0.0.1:{webhook_port}/sms"
    term = _configure(reopen, smtp_server, fake_twilio, monkeypatch, url)
    server = make_server_for(
        term, lambda sender, body: by_sms.reply(term, sender, body), port=webhook_port
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        _run_term(term, seeded.pnrs, tmp_path, fake_twilio, url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    _assert_outcome(term, seeded.pnrs, smtp_server)


def _run_term(app: App, pnrs: list[str], tmp: Path, fake: FakeTwilio, url: str) -> None:
    # Two teachers order their lists with the order workbook in their outbox.
    _order(
        app,
        "lärare1",
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2010",
                "term": TERM,
                "students": ", ".join(pnrs[:4]),
            }
        ],
        tmp,
        "best1.xlsx",
    )
    _order(
        app,
        "teach1",
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2020",
                "term": TERM,
                "students": ", ".join(pnrs[4:8]),
            }
        ],
        tmp,
        "best2.xlsx",
    )
    _daemon(app)
    [first] = _new_lists(app, "lärare1")
    [second] = _new_lists(app, "teach1")
    # Each fills the workbook that arrived in their outbox and drops it in their inbox.
    fill(
        app.settings.outbox / "lärare1" / f"{first}.xlsx",
        {p: {"grade": g, "grade_date": GRADE_DAY} for p, g in zip(pnrs[:4], "5433", strict=True)},
        action="Skicka till examinator",
        target=app.settings.inbox / "lärare1" / "tenta.xlsx",
    )
    fill(
        app.settings.outbox / "teach1" / f"{second}.xlsx",
        {p: {"grade": "G", "grade_date": GRADE_DAY} for p in pnrs[4:8]},
        action="Skicka till examinator",
        target=app.settings.inbox / "teach1" / "labb.xlsx",
    )
    _daemon(app)
    # The examiner: the first list by typing the code into the review workbook in their
    # outbox, the second by answering the SMS.
    [review] = (app.settings.outbox / "exam1").glob(f"{first}_v*_granskning.xlsx")
    wb = load_workbook(review)
    wb.worksheets[0]["B13"] = int(_code(fake, first))  # typed: the sheet makes it a number
    wb.save(app.settings.inbox / "exam1" / "attest.xlsx")
    _daemon(app)
    answer = _reply(url, fake, "+46701740605", f"{second} {_code(fake, second)}")
    assert f"Lista {second} är attesterad" in answer
    outbox.drain(app)
    # The office confirms both in LADOK with its confirmation workbook, then the signed scans.
    rows = [(first, "registrerad i Ladok"), (second, "registrerad i Ladok")]
    shutil.copy(_confirmation(app, rows, tmp / "b.xlsx"), app.settings.inbox / OFFICE / "b.xlsx")
    _daemon(app)
    for listnr in (first, second):
        shutil.copy(
            _scan(tmp / f"{listnr}.pdf", listnr),
            app.settings.inbox / OFFICE / f"{listnr}_signerad.pdf",
        )
    _daemon(app)


def _assert_outcome(app: App, pnrs: list[str], smtp: SmtpServer) -> None:
    with app.db.read_session() as s:
        states = dict(s.execute(select(ResultList.reporter, ResultList.state)).all())
        events = s.execute(select(AuditEvent.action, AuditEvent.actor)).all()
    assert states == {"lärare1": ListState.ARCHIVED, "teach1": ListState.ARCHIVED}
    actors = {(action, actor) for action, actor in events}
    assert ("list.create", "lärare1") in actors and ("list.create", "teach1") in actors
    assert ("list.approve", "exam1") in actors
    assert {a for act, a in actors if act == "list.registered"} == {OFFICE}
    # Each outbox: the person's own files, and nobody else's students.
    outboxes = {p: app.settings.outbox / p for p in ("lärare1", "teach1", "exam1", OFFICE)}
    assert _pnrs_in(outboxes["lärare1"]) <= set(pnrs[:4]) and _pnrs_in(outboxes["lärare1"])
    assert _pnrs_in(outboxes["teach1"]) <= set(pnrs[4:8]) and _pnrs_in(outboxes["teach1"])
    assert list(outboxes[OFFICE].glob("ladok/*.tsv")) and list(outboxes[OFFICE].glob("print/*.pdf"))
    # The mails the SMTP server received: workbooks and receipts to the teachers, review to
    # the examiner, one result mail per graded student with only their own result.
    received = [(tuple(r.rcpt_tos), r.parsed()) for r in smtp.received]
    to_teacher = [m for to, m in received if to == ("larare1@example.se",)]
    assert any(m.get_filename() or any(p.get_filename() for p in m.walk()) for m in to_teacher)
    students = [(to[0], m) for to, m in received if to[0].startswith("student")]
    assert sorted(to for to, _ in students) == sorted(f"student{i}@example.se" for i in range(8))
    for _to, mail in students:
        body = mail.get_body(("plain",))
        assert body is not None
        assert not any(p in body.get_content() for p in pnrs)
