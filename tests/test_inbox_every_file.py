"""Every file answered (issue 16, item 8): editors' lock and temporary files ignored silently
in every inbox; any other dot-file and any symlink answered with a receipt (the folder's
person, and the administrators' copy) and set aside, kept, a link never followed; names with
control and bidi characters shown escaped in receipts, logs and mails."""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import select, update

from pipeline.app import App
from pipeline.intake.claim import SET_ASIDE
from pipeline.intake.inbox import Inbox
from pipeline.messages import outbox
from pipeline.models import AuditEvent, FileOutcome, InboxFile, Staff
from pipeline.people import folders
from pipeline.people.furnish import furnish
from pipeline.shown import shown
from tests.factories import seed

HIDDEN = {"sv": "Filnamnet börjar med en punkt", "en": "The file name begins with a dot"}
LINK = {"sv": "Filen är en symbolisk länk", "en": "The file is a symbolic link"}
REJECTED = {"sv": "AVVISAD", "en": "REJECTED"}


def _records(app: App) -> list[InboxFile]:
    with app.db.read_session() as session:
        return list(session.execute(select(InboxFile).order_by(InboxFile.id)).scalars())


def _events(app: App, action: str) -> list[AuditEvent]:
    with app.db.read_session() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(stmt).scalars())


def _mails(app: App) -> list[email.message.EmailMessage]:
    outbox.drain(app)
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted((app.settings.var / "mail").glob("*.eml"), key=lambda p: int(p.stem))
    ]


def test_lock_and_temp_files_are_ignored_silently_in_every_inbox(app: App) -> None:
    seed(app)
    furnish(app)
    names = [".~lock.betyg.xlsx#", "~$betyg.xlsx", "betyg.tmp", "~WRL0001.tmp"]
    places = [app.settings.inbox, folders.inbox_of(app.settings, "lärare1")]
    for place in places:
        for name in names:
            (place / name).write_bytes(b"editor's own")
    assert Inbox(app).process_once() == []
    for place in places:
        assert sorted(p.name for p in place.iterdir() if p.is_file()) == sorted(names)
    assert _records(app) == [] and not list(app.settings.receipts_dir.glob("*.txt"))
    assert not (app.settings.inbox / SET_ASIDE).exists() or not any(
        (app.settings.inbox / SET_ASIDE).iterdir()
    )


@pytest.mark.parametrize("language", ["sv", "en"])
def test_a_dot_file_in_a_persons_folder_is_answered_and_set_aside(app: App, language: str) -> None:
    seed(app)
    furnish(app)
    with app.db.session() as session:
        session.execute(update(Staff).where(Staff.username == "lärare1").values(language=language))
    name = "..%2F..%2Fetc%2Fpasswd.xlsx"
    data = os.urandom(300)
    (folders.inbox_of(app.settings, "lärare1") / name).write_bytes(data)
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED and [p.slug for p in result.problems] == [
        "hidden-file"
    ]
    # Moved aside and kept, byte for byte; gone from the folder.
    assert not (folders.inbox_of(app.settings, "lärare1") / name).exists()
    assert result.kept_at is not None and result.kept_at.read_bytes() == data
    assert result.kept_at.parent == app.settings.inbox / SET_ASIDE
    assert result.kept_at.name.endswith("__" + name) and "@lärare1" in result.kept_at.name
    # The receipt: the administrators' copy and the person's own, in their language.
    assert result.receipt is not None and result.receipt.parent == app.settings.receipts_dir
    text = result.receipt.read_text("utf-8")
    assert HIDDEN[language] in text and REJECTED[language] in text and name in text
    assert "inbox/.set-aside/" in text
    own = folders.outbox_of(app.settings, "lärare1") / result.receipt.name
    assert own.read_text("utf-8") == text
    [record] = _records(app)
    assert (record.kind, record.outcome, record.original_name) == (
        "set-aside",
        FileOutcome.REJECTED,
        name,
    )
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert app.root / str(record.stored_path) == result.kept_at
    [event] = _events(app, "inbox.set-aside")
    assert (event.actor, event.details["why"]) == ("lärare1", "hidden-file")
    [mail] = [m for m in _mails(app) if m["To"] == "larare1@example.se"]
    assert name in str(mail["Subject"])
    # A second pass finds nothing: the file is answered once.
    assert Inbox(app).process_once() == []


@pytest.mark.parametrize(("target_kind"), ["file", "directory", "dangling", "the workspace key"])
def test_a_symlink_is_set_aside_never_followed(app: App, tmp_path: Path, target_kind: str) -> None:
    outside = tmp_path / "utanför"
    outside.mkdir()
    secret = outside / "annans.xlsx"
    secret.write_bytes(b"someone else's grades")
    before = secret.stat()
    target = {
        "file": secret,
        "directory": outside,
        "dangling": outside / "finns-inte.xlsx",
        "the workspace key": app.root / "var" / "secret.key",
    }[target_kind]
    link = app.settings.inbox / "länk.xlsx"
    link.symlink_to(target)
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.REJECTED
    assert [p.slug for p in result.problems] == ["symlink"]
    assert not os.path.lexists(link)
    kept = result.kept_at
    assert kept is not None and kept.is_symlink() and os.readlink(kept) == str(target)
    assert kept.parent == app.settings.inbox / SET_ASIDE
    # Nothing behind the link was read, moved or changed.
    after = secret.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert sorted(p.name for p in outside.iterdir()) == ["annans.xlsx"]
    # The shared inbox answers nobody in particular: the administrators' copy only.
    assert result.receipt is not None and result.receipt.parent == app.settings.receipts_dir
    text = result.receipt.read_text("utf-8")
    assert LINK["sv"] in text and str(target) in text
    [record] = _records(app)
    assert record.kind == "set-aside"
    assert record.sha256 == hashlib.sha256(b"symlink:" + os.fsencode(str(target))).hexdigest()
    assert not [m for m in _mails(app) if "länk" in str(m["Subject"])]


def test_a_symlink_in_a_persons_folder_gets_an_english_receipt(app: App, tmp_path: Path) -> None:
    seed(app, teacher_lang="en")
    furnish(app)
    secret = tmp_path / "hemlig.txt"
    secret.write_text("private", encoding="utf-8")
    (folders.inbox_of(app.settings, "lärare1") / "grades.xlsx").symlink_to(secret)
    [result] = Inbox(app).process_once()
    assert result.receipt is not None
    text = (folders.outbox_of(app.settings, "lärare1") / result.receipt.name).read_text("utf-8")
    assert LINK["en"] in text and "Links are never followed" in text
    assert secret.read_text(encoding="utf-8") == "private"


def test_control_and_bidi_characters_are_shown_escaped(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    seed(app)
    furnish(app)
    # Right-to-left override: reads as "betygxslx.exe" … ; a bell, an escape sequence.
    hidden = ".betyg\u202eslx.exe"
    odd = "betyg\x1b[31m\x07\u2066.xlsx"
    inbox = folders.inbox_of(app.settings, "lärare1")
    (inbox / hidden).write_bytes(b"x" * 50)
    (inbox / odd).write_bytes(os.urandom(200))
    with caplog.at_level(logging.INFO, logger="resultat"):
        results = {r.original_name: r for r in Inbox(app).process_once()}
    assert set(results) == {hidden, odd}  # stored as named: the kept file is found by it
    for name, escaped in (
        (hidden, ".betyg<U+202E>slx.exe"),
        (odd, "betyg<U+001B>[31m<U+0007><U+2066>.xlsx"),
    ):
        assert shown(name) == escaped
        receipt = results[name].receipt
        assert receipt is not None
        text = receipt.read_text("utf-8")
        assert escaped in text and name not in text
        assert not any(c in text for c in "\u202e\u2066\x1b\x07")
        kept = results[name].kept_at
        assert kept is not None and kept.exists()
    # The mails: subject and body escaped too.
    mails = [m for m in _mails(app) if m["To"] == "larare1@example.se"]
    assert len(mails) == 2
    for mail in mails:
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        whole = str(mail["Subject"]) + body.get_content()
        assert "<U+" in whole and not any(c in whole for c in "\u202e\u2066\x1b\x07")
    # The log lines (through the workspace's log filter) show them escaped.
    from pipeline.logs import MaskingFilter

    lines = []
    for record in caplog.records:
        MaskingFilter().filter(record)
        lines.append(record.getMessage())
    assert any(".betyg<U+202E>slx.exe" in line for line in lines), lines
    assert not any(c in line for line in lines for c in "\u202e\u2066\x1b\x07")


def test_a_name_that_is_not_utf8_is_shown_with_its_bytes(app: App) -> None:
    assert shown(os.fsdecode(b".betyg-\xff.xlsx")) == ".betyg-<0xFF>.xlsx"
    assert shown("Ångström 📊 betyg.xlsx") == "Ångström 📊 betyg.xlsx"  # letters and emoji stay
    assert shown("rad 1\nrad 2", keep="\n") == "rad 1\nrad 2"
    assert shown("rad 1\nrad 2") == "rad 1<U+000A>rad 2"


def test_process_prints_names_escaped(app: App, workspace: Path) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app as cli_app

    (app.settings.inbox / "betyg\u202excod.xlsx").write_bytes(os.urandom(100))
    (app.settings.inbox / ".dold\x1b[2J.xlsx").write_bytes(os.urandom(100))
    result = CliRunner().invoke(cli_app, ["-w", str(workspace), "process"])
    assert result.exit_code == 0, result.output
    assert "betyg<U+202E>xcod.xlsx" in result.output
    assert ".dold<U+001B>[2J.xlsx" in result.output
    assert "\u202e" not in result.output and "\x1b" not in result.output
