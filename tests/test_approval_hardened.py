"""Approval hardened (issue 16, item 6): wrong tries count per list across codes, a locked list
opens only by an administrator or after the cool-down, ``resend-code`` is the examiner's (or an
administrator's), a code given as a number keeps its leading zeros on every channel, and the
SMS webhook refuses replays and old requests — through the real HTTP path, signed with twilio's
own validator, the message's time asked of a Twilio-speaking server at the wire."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from pipeline.app import App
from pipeline.cli import app as cli_app
from pipeline.errors import InvalidRequest
from pipeline.intake.inbox import Inbox
from pipeline.lifecycle import approval, by_sms, tries
from pipeline.messages.sms_webhook import make_server_for
from pipeline.models import (
    ApprovalTries,
    AuditEvent,
    FileOutcome,
    ListState,
    ResultList,
    SmsReceived,
    Staff,
)
from pipeline.people.furnish import furnish
from pipeline.xlsx import workbook
from tests.factories import fill, new_exam_list, seed, sent_code
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, fake_twilio  # noqa: F401

runner = CliRunner()
GRADE_DATE = "2026-11-02"
EXAMINER = "+46701740605"
PUBLIC_URL = "https://resultat.example.se/sms"
LOCKED = {"sv": "är spärrad efter 5 fel koder", "en": "is locked after 5 wrong codes"}
ASK_ADMIN = {"sv": "be en administratör", "en": "ask an administrator"}


def _submitted(app: App, pnrs: list[str], name: str = "betyg.xlsx") -> int:
    listnr = new_exam_list(app)
    fill(
        workbook.issue(app, listnr).path,
        {p: {"grade": "4", "grade_date": GRADE_DATE} for p in pnrs},
        action="Skicka till examinator",
        target=app.settings.inbox / name,
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    return listnr


def _wrong(code: str, k: int = 1) -> str:
    return f"{(int(code) + k) % 10**6:06d}"


def _events(app: App, action: str) -> list[AuditEvent]:
    with app.db.read_session() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(stmt).scalars())


def _tries(app: App, listnr: int) -> ApprovalTries:
    with app.db.read_session() as session:
        return session.execute(
            select(ApprovalTries).where(ApprovalTries.listnr == listnr)
        ).scalar_one()


def _state(app: App, listnr: int) -> ListState:
    with app.db.read_session() as session:
        return session.execute(
            select(ResultList.state).where(ResultList.listnr == listnr)
        ).scalar_one()


def _review(app: App, listnr: int, code: object, into: Path) -> Path:
    """The newest review workbook of ``listnr`` with ``code`` in the code cell (None: blank)."""
    newest = max(
        app.settings.review_dir.glob(f"{listnr}_v*.xlsx"),
        key=lambda p: p.stat().st_mtime_ns,
    )
    wb = load_workbook(newest)
    wb.worksheets[0]["B13"] = code
    into.parent.mkdir(parents=True, exist_ok=True)
    wb.save(into)
    return into


def _set_language(app: App, username: str, language: str) -> None:
    with app.db.session() as session:
        session.execute(update(Staff).where(Staff.username == username).values(language=language))


def _cli(workspace: Path, monkeypatch: pytest.MonkeyPatch, login: str, *args: str) -> object:
    monkeypatch.setenv("LOGNAME", login)
    monkeypatch.setenv("USER", login)
    return runner.invoke(cli_app, ["-w", str(workspace), *args])


# ------------------------------------------------------------------------ the SMS webhook


@dataclass
class Webhook:
    url: str
    app: App

    def post(self, sid: str, body: str, *, sender: str = EXAMINER) -> tuple[int, str]:
        form = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": sid,
            "From": sender,
            "To": "+46701740600",
            "Body": body,
            "NumMedia": "0",
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL, form)
        request = urllib.request.Request(
            self.url,
            data=urlencode(form).encode("utf-8"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": str(signature),
            },
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            return error.code, ""
        message = ET.fromstring(raw).find("Message")
        return status, (message.text or "") if message is not None else ""


@pytest.fixture
def webhook(workspace: Path, fake_twilio: FakeTwilio) -> Iterator[Webhook]:  # noqa: F811
    """``resultat serve``'s server on a free loopback port, asking the fake Twilio for the
    time of each message (``[sms] api_base_url``) and checking signatures for PUBLIC_URL."""
    config = workspace / "resultat.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            "[sms]\n", f'[sms]\napi_base_url = "{fake_twilio.url}"\nwebhook_url = "{PUBLIC_URL}"\n'
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "RESULTAT_TWILIO_SID": ACCOUNT_SID,
        "RESULTAT_TWILIO_TOKEN": AUTH_TOKEN,
    }
    served = App.open(workspace, actor="sms", env=env)
    server = make_server_for(served, partial(by_sms.reply, served), host="127.0.0.1", port=0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_port}/sms", served)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        served.close()


def _sid(n: int) -> str:
    return f"SM{n:032x}"


# ------------------------------------------------------------------------------ tests


def test_a_code_given_as_a_number_keeps_its_leading_zeros_on_every_channel(
    app: App,
    workspace: Path,
    webhook: Webhook,
    fake_twilio: FakeTwilio,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(app)
    furnish(app)
    monkeypatch.setattr(
        "pipeline.lifecycle.challenge.secrets.randbelow", lambda _n: 12345
    )  # the code 012345
    by_workbook = _submitted(app, s.pnrs[:2], "a.xlsx")
    by_cli = _submitted(app, s.pnrs[2:4], "b.xlsx")
    by_text = _submitted(app, s.pnrs[4:6], "c.xlsx")
    assert sent_code(app, by_workbook) == "012345"
    # A spreadsheet stores the typed 012345 as the number 12345.
    _review(app, by_workbook, 12345, app.settings.inbox / "exam1" / "attest.xlsx")
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    cli = _cli(workspace, monkeypatch, "exam1", "approve", str(by_cli), "012345")
    assert cli.exit_code == 0, cli.output  # type: ignore[attr-defined]
    fake_twilio.receive(
        _sid(1), sender=EXAMINER, to="+46701740600", body="", sent=dt.datetime.now(dt.UTC)
    )
    status, answer = webhook.post(_sid(1), f"{by_text} 012345")
    assert (status, answer.startswith(f"Lista {by_text} är attesterad")) == (200, True), answer
    assert {_state(app, n) for n in (by_workbook, by_cli, by_text)} == {ListState.APPROVED}
    assert not _events(app, "approval.wrong-code")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_wrong_tries_count_per_list_across_codes_until_an_administrator_unlocks(
    app: App,
    workspace: Path,
    webhook: Webhook,
    fake_twilio: FakeTwilio,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    language: str,
) -> None:
    s = seed(app)
    furnish(app)
    _set_language(app, "exam1", language)
    listnr = _submitted(app, s.pnrs[:3])
    first = sent_code(app, listnr)
    # Two wrong codes on the command line, then the examiner asks for a new code by SMS.
    assert approval.approve(app.acting("exam1"), listnr, _wrong(first)).slug == (
        "approval-wrong-code"
    )
    assert approval.approve(app.acting("exam1"), listnr, _wrong(first, 2)).attempts_left == 3
    assert by_sms.reply(app, EXAMINER, f"NY {listnr}")
    second = sent_code(app, listnr)
    assert second != first
    # The new code did not reset the count: 2 tries left, not 4.
    now = dt.datetime.now(dt.UTC)
    fake_twilio.receive(_sid(7), sender=EXAMINER, to="+46701740600", body="", sent=now)
    status, answer = webhook.post(_sid(7), f"{listnr} {_wrong(second)}")
    assert status == 200 and " 2 " in answer, answer
    # The reporter drops a changed workbook: another new code, the count goes on.
    fill(
        workbook.issue(app, listnr).path,
        {s.pnrs[3]: {"grade": "5", "grade_date": GRADE_DATE}},
        action="Skicka till examinator",
        target=app.settings.inbox / "lärare1" / "ändrad.xlsx",
    )
    [changed] = Inbox(app).process_once()
    assert changed.outcome == FileOutcome.ACCEPTED, [p.slug for p in changed.problems]
    third = sent_code(app, listnr)
    assert approval.approve(app.acting("exam1"), listnr, _wrong(third)).attempts_left == 1
    # The fifth wrong try, in the review workbook: locked, for every channel and code.
    _review(app, listnr, _wrong(third, 3), app.settings.inbox / "exam1" / "fel.xlsx")
    [fifth] = Inbox(app).process_once()
    assert fifth.outcome == FileOutcome.REJECTED and fifth.receipt is not None
    receipt = fifth.receipt.read_text("utf-8")
    assert LOCKED[language] in receipt and ASK_ADMIN[language] in receipt, receipt
    counted = _tries(app, listnr)
    assert (counted.wrong, counted.locked_at is not None) == (5, True)
    attempts = [e.details["attempts"] for e in _events(app, "approval.wrong-code")]
    assert attempts == [1, 2, 3, 4, 5]
    # No new code opens it: not NY by SMS, not a blank review workbook, not resend-code.
    assert LOCKED[language] in by_sms.reply(app, EXAMINER, f"NY {listnr}")
    _review(app, listnr, None, app.settings.inbox / "exam1" / "tom.xlsx")
    [blank] = Inbox(app).process_once()
    assert blank.outcome == FileOutcome.REJECTED and blank.receipt is not None
    assert LOCKED[language] in blank.receipt.read_text("utf-8")
    resend = _cli(workspace, monkeypatch, "exam1", "resend-code", str(listnr))
    assert resend.exit_code == 2  # type: ignore[attr-defined]
    assert "spärrad" in resend.output  # type: ignore[attr-defined]  # the workspace's language
    assert sent_code(app, listnr) == third  # nothing new was sent
    assert approval.approve(app.acting("exam1"), listnr, third).slug == "approval-locked"
    assert _tries(app, listnr).wrong == 5  # tries at a locked list are not counted
    assert len(_events(app, "approval.locked-try")) == 1
    # Only an administrator unlocks it, with a reason; the count restarts (audited).
    refused = _cli(workspace, monkeypatch, "admin1", "unlock", str(listnr), "-r", "Kontroll")
    assert refused.exit_code == 3, refused.output  # type: ignore[attr-defined]
    unlocked = _cli(
        workspace, monkeypatch, "admin1", "unlock", str(listnr), "-r", "Kollat per telefon",
        "--admin",
    )  # fmt: skip
    assert unlocked.exit_code == 0, unlocked.output  # type: ignore[attr-defined]
    [event] = _events(app, "approval.unlocked")
    assert event.admin and event.actor == "admin1"
    assert event.details == {"by": "administrator", "reason": "Kollat per telefon",
                             "wrong_before": 5}  # fmt: skip
    counted = _tries(app, listnr)
    assert (counted.wrong, counted.locked_at) == (0, None)
    assert approval.approve(app.acting("exam1"), listnr, third).ok
    assert _state(app, listnr) == ListState.APPROVED


def test_the_cool_down_opens_a_locked_list(app: App, workspace: Path) -> None:
    config = workspace / "resultat.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "lock_cooldown_hours = 0", "lock_cooldown_hours = 2"
        ),
        encoding="utf-8",
    )
    cooled = App.open(workspace, actor="testadmin", admin=True)
    try:
        assert cooled.settings.approval.lock_cooldown_hours == 2
        s = seed(cooled)
        listnr = _submitted(cooled, s.pnrs[:2])
        code = sent_code(cooled, listnr)
        decisions = [approval.approve(cooled, listnr, _wrong(code)) for _ in range(5)]
        assert decisions[-1].slug == "approval-locked"
        for language, opens in (("sv", "Den öppnas igen"), ("en", "It opens again")):
            assert opens in approval.decision_text(decisions[-1], language)
        assert approval.approve(cooled, listnr, code).slug == "approval-locked"
        # Two hours and a bit later (the lock's time moved back): open again, count restarted.
        with cooled.db.session() as session:
            counted = session.execute(
                select(ApprovalTries).where(ApprovalTries.listnr == listnr)
            ).scalar_one()
            assert counted.locked_at is not None
            counted.locked_at -= dt.timedelta(hours=2, minutes=1)
        assert approval.approve(cooled, listnr, code).ok
        [event] = _events(cooled, "approval.unlocked")
        assert (event.actor, event.details["by"]) == ("system", "cool-down")
        assert _tries(cooled, listnr).wrong == 0
    finally:
        cooled.close()


def test_unlock_needs_a_locked_list_and_a_reason(app: App) -> None:
    s = seed(app)
    listnr = _submitted(app, s.pnrs[:2])
    with pytest.raises(InvalidRequest) as open_list:
        tries.unlock(app, listnr, "ingen anledning")
    assert "inte spärrad" in open_list.value.render("sv")
    with pytest.raises(InvalidRequest):
        tries.unlock(app, listnr, "   ")
    assert not _events(app, "approval.unlocked")


@pytest.mark.parametrize(
    ("language", "text"),
    [("sv", "Bara listans examinator"), ("en", "Only the list's examiner")],
)
def test_resend_code_only_by_the_examiner_or_an_administrator(
    app: App, workspace: Path, monkeypatch: pytest.MonkeyPatch, language: str, text: str
) -> None:
    s = seed(app)
    listnr = _submitted(app, s.pnrs[:2])
    first = sent_code(app, listnr)
    monkeypatch.setenv("RESULTAT_LANG", language)
    teacher = _cli(workspace, monkeypatch, "lärare1", "resend-code", str(listnr))
    assert teacher.exit_code == 5 and text in teacher.output  # type: ignore[attr-defined]
    assert sent_code(app, listnr) == first
    own = _cli(workspace, monkeypatch, "exam1", "resend-code", str(listnr))
    assert own.exit_code == 0, own.output  # type: ignore[attr-defined]
    second = sent_code(app, listnr)
    admin = _cli(workspace, monkeypatch, "admin1", "resend-code", str(listnr), "--admin")
    assert admin.exit_code == 0, admin.output  # type: ignore[attr-defined]
    third = sent_code(app, listnr)
    assert len({first, second, third}) == 3
    assert [(e.actor, e.admin) for e in _events(app, "approval.resend")] == [
        ("exam1", False),
        ("admin1", True),
    ]


def test_the_webhook_refuses_a_replay_and_an_old_request_without_costing_tries(
    app: App,
    webhook: Webhook,
    fake_twilio: FakeTwilio,  # noqa: F811
) -> None:
    s = seed(app)
    listnr = _submitted(app, s.pnrs[:2])
    code = sent_code(app, listnr)
    now = dt.datetime.now(dt.UTC)
    fake_twilio.receive(_sid(1), sender=EXAMINER, to="+46701740600", body="", sent=now)
    status, answer = webhook.post(_sid(1), f"{listnr} {_wrong(code)}")
    assert status == 200 and answer.startswith("Fel kod"), answer
    # The captured request, sent again five times: answered with nothing, counted never.
    for _ in range(5):
        assert webhook.post(_sid(1), f"{listnr} {_wrong(code)}") == (200, "")
    assert _tries(app, listnr).wrong == 1
    assert len(_events(app, "sms.replay-refused")) == 5
    # A signed request for a message Twilio received an hour ago (window 600 s): refused.
    old = now - dt.timedelta(hours=1)
    fake_twilio.receive(_sid(2), sender=EXAMINER, to="+46701740600", body="", sent=old)
    assert webhook.post(_sid(2), f"{listnr} {_wrong(code, 2)}") == (200, "")
    # A SID Twilio does not know (made up, yet signed): refused too.
    assert webhook.post(_sid(3), f"{listnr} {_wrong(code, 3)}") == (200, "")
    too_old = _events(app, "sms.too-old")
    assert [e.details["message_sid"] for e in too_old] == [_sid(2), _sid(3)]
    age = too_old[0].details["age_seconds"]
    assert isinstance(age, int) and 3500 < age < 3700
    assert too_old[1].details["age_seconds"] is None
    assert _tries(app, listnr).wrong == 1
    with app.db.read_session() as session:
        seen = set(session.execute(select(SmsReceived.message_sid)).scalars())
    assert seen == {_sid(1), _sid(2), _sid(3)}
    # Twilio was asked for each new SID, with the account's credentials.
    asked = [r for r in fake_twilio.requests if r.method == "GET"]
    assert [r.path.rsplit("/", 1)[1] for r in asked] == [f"{_sid(n)}.json" for n in (1, 2, 3)]
    assert {r.auth for r in asked} == {(ACCOUNT_SID, AUTH_TOKEN)}
    # A fresh message with the right code still approves.
    fake_twilio.receive(_sid(4), sender=EXAMINER, to="+46701740600", body="", sent=now)
    status, answer = webhook.post(_sid(4), f"{listnr} {code}")
    assert status == 200 and _state(app, listnr) == ListState.APPROVED, answer


def test_the_migration_keeps_a_locked_list_locked(tmp_path: Path) -> None:
    """Upgrading 0005 → 0006: a list whose latest code was locked stays locked, per list."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from pipeline.db import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        for cid, listnr, status, attempts in ((1, 7, "locked", 5), (2, 8, "locked", 5),
                                              (3, 8, "active", 0)):  # fmt: skip
            conn.execute(
                text(
                    "INSERT INTO approval_challenges (id, listnr, version, content_hash, "
                    "code_hash, examiner, status, attempts, created_at, expires_at) VALUES "
                    "(:id, :listnr, 1, 'h', 'c', 'exam1', :status, :attempts, "
                    "'2026-12-01 10:00:00', '2026-12-04 10:00:00')"
                ),
                {"id": cid, "listnr": listnr, "status": status, "attempts": attempts},
            )
    command.upgrade(config, "0006")
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT listnr, wrong, locked_at FROM approval_tries")).all()
        statuses: dict[int, str] = {
            r[0]: r[1] for r in conn.execute(text("SELECT id, status FROM approval_challenges"))
        }
    engine.dispose()
    assert [(r[0], r[1], r[2] is not None) for r in rows] == [(7, 5, True)]
    assert statuses == {1: "active", 2: "locked", 3: "active"}
    shutil.rmtree(tmp_path, ignore_errors=True)
