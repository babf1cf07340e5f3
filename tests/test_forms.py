"""The forms people fill in and drop in their own inbox folder (issue 15, items 4-6): the order
workbook, the settings workbook, the student office's confirmation workbook and a signed
archive list's scan. Each is filled with openpyxl as a person would (one order form saved by
LibreOffice), dropped in a real folder and taken by the real inbox; the tests read the
database, the files in each outbox, the receipts and the mails written to ``var/mail``."""

from __future__ import annotations

import datetime as dt
import email
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from pipeline.app import App
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.lifecycle import approval
from pipeline.messages import outbox
from pipeline.models import (
    AuditEvent,
    Course,
    FileOutcome,
    InboxFile,
    ListKind,
    ListState,
    ResultList,
    Staff,
    Teacher,
)
from pipeline.people import furnish
from pipeline.people.directory import OFFICE
from pipeline.xlsx import workbook
from tests.factories import EXAM_DATE, TERM, Seeded, fill, new_exam_list, seed, sent_code
from tests.smtp_server import SMTP_PASSWORD, SmtpServer, smtp_config

ORDER = "bestallning.xlsx"
SETTINGS = "installningar.xlsx"
CONFIRMATION = "bekraftelse.xlsx"


def people(app: App, *, teacher_lang: str = "sv") -> Seeded:
    """The seeded course, a teacher ``teach1`` on it, ``noone`` without a role, an office
    member ``office1``; everyone's folders and forms made."""
    seeded = seed(app)
    with app.db.session() as s:
        course = s.execute(select(Course).where(Course.code == "DV1599")).scalar_one()
        teacher = Staff(
            username="teach1", name="Tea Cher", email="teach1@example.se", language=teacher_lang
        )
        noone = Staff(
            username="noone", name="No One", email="noone@example.se", language=teacher_lang
        )
        office = Staff(
            username="office1", name="Ulla Utbildning", email="office1@example.se", office=True
        )
        s.add_all([teacher, noone, office])
        s.flush()
        s.add(Teacher(course_id=course.id, staff_id=teacher.id, from_term="VT2020"))
    furnish.furnish(app)
    return seeded


def outbox_of(app: App, owner: str) -> Path:
    return app.settings.outbox / owner


def drop(app: App, source: Path, owner: str | None, name: str | None = None) -> FileResult:
    folder = app.settings.inbox / owner if owner else app.settings.inbox
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / (name or source.name))
    [result] = Inbox(app).process_once()
    return result


def receipt(result: FileResult) -> str:
    assert result.receipt is not None
    return result.receipt.read_text(encoding="utf-8")


def fill_rows(path: Path, rows: list[dict[str, Any]], target: Path) -> Path:
    """Fill a form's rows by its header labels (either language), from the first input row."""
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    header = 5
    headers = {str(ws.cell(header, c).value): c for c in range(1, ws.max_column + 1)}
    names = {
        "action": ("Åtgärd", "Action"),
        "course": ("Kurskod", "Course code"),
        "module": ("Provkod", "Module code"),
        "term": ("Termin", "Term"),
        "listnr": ("Listnummer", "List number"),
        "exam_date": ("Tentamensdatum", "Exam date"),
        "registered": ("Registrerade på terminen", "Registered in the term"),
        "students": ("Personnummer", "Personal identity numbers"),
    }
    for offset, values in enumerate(rows):
        for name, value in values.items():
            column = next(headers[h] for h in names[name] if h in headers)
            ws.cell(header + 1 + offset, column, value)
    wb.save(target)
    return target


def mails(app: App) -> list[EmailMessage]:
    outbox.drain(app)
    return [
        email.message_from_bytes(p.read_bytes())
        for p in sorted((app.settings.var / "mail").glob("*.eml"), key=lambda p: int(p.stem))
    ]


@dataclass(frozen=True)
class Made:
    listnr: int
    kind: ListKind
    module: str | None
    students: int
    version: int


def lists_of(app: App, reporter: str) -> list[Made]:
    """The lists ``reporter`` reports, as the database has them."""
    with app.db.session() as s:
        found = s.execute(
            select(ResultList).where(ResultList.reporter == reporter).order_by(ResultList.listnr)
        ).scalars()
        return [
            Made(r.listnr, r.kind, r.module.code if r.module else None, len(r.entries), r.version)
            for r in found
        ]


def test_furnish_writes_each_form_once_and_again_when_deleted(app: App) -> None:
    people(app)
    mine = outbox_of(app, "teach1")
    assert (mine / ORDER).is_file() and (mine / SETTINGS).is_file()
    assert (outbox_of(app, OFFICE) / CONFIRMATION).is_file()
    assert not (outbox_of(app, "teach1") / CONFIRMATION).exists()
    order = load_workbook(mine / ORDER)
    assert order.sheetnames == ["Beställning", "_resultat"]
    assert order["_resultat"].sheet_state == "hidden"
    meta = {r[0].value: r[1].value for r in order["_resultat"].iter_rows() if r[0].value}
    assert meta["purpose"] == "order" and meta["person"] == "teach1" and meta["hmac"]
    dropdown = order.worksheets[0].data_validations.dataValidation[0]
    assert "Ny T33-lista" in dropdown.formula1 and "Öppna lista" in dropdown.formula1
    before = (mine / SETTINGS).stat().st_mtime_ns
    (mine / ORDER).unlink()
    again = furnish.furnish(app)
    assert mine / ORDER in again and (mine / ORDER).is_file()
    assert (mine / SETTINGS).stat().st_mtime_ns == before


def test_order_form_creates_opens_and_extends_lists(app: App, tmp_path: Path) -> None:
    seeded = people(app)
    existing = new_exam_list(app)
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2010",
                "term": TERM,
                "exam_date": EXAM_DATE,
            },
            {
                "action": "Ny T33-lista",
                "course": "dv1599",
                "module": "2020",
                "term": TERM,
                "students": f"{seeded.pnrs[0]}, {seeded.pnrs[1]}",
            },
            {"action": "Öppna lista", "listnr": existing},
        ],
        tmp_path / "min beställning.xlsx",
    )
    result = drop(app, filled, "teach1")
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    made = lists_of(app, "teach1")
    assert [(r.kind, r.module, r.students) for r in made] == [
        (ListKind.T33, "2010", 8),
        (ListKind.T33, "2020", 2),
    ]
    text = receipt(result)
    assert "UTFÖRT" in text
    for r in made:
        assert f"Ny T33-lista {r.listnr}" in text
        assert (outbox_of(app, "teach1") / f"{r.listnr}.xlsx").is_file()
    assert f"Lista {existing}: arbetsboken ligger i din utkorg" in text
    assert (outbox_of(app, "teach1") / f"{existing}.xlsx").is_file()
    assert not (outbox_of(app, "noone") / f"{existing}.xlsx").exists()
    with app.db.session() as s:
        opened = s.execute(
            select(AuditEvent).where(AuditEvent.action == "list.opened")
        ).scalar_one()
        assert (opened.actor, opened.listnr) == ("teach1", existing)
    got = mails(app)
    to_teacher = [m for m in got if m["To"] == "teach1@example.se"]
    subjects = " ".join(str(m["Subject"]) for m in to_teacher)
    for r in made:
        assert f"Resultatlista {r.listnr}" in subjects
    assert any("Kvitto" in str(m["Subject"]) for m in to_teacher)


def test_an_order_form_taken_again_after_a_stop_makes_no_list_twice(
    app: App, tmp_path: Path
) -> None:
    people(app)
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2010",
                "term": TERM,
                "exam_date": EXAM_DATE,
            },
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2020",
                "term": TERM,
                "registered": "ja",
            },
        ],
        tmp_path / "order.xlsx",
    )
    first = drop(app, filled, "teach1")
    assert first.outcome == FileOutcome.ACCEPTED, receipt(first)
    made = lists_of(app, "teach1")
    assert [r.module for r in made] == ["2010", "2020"]
    # The daemon stopped after the lists were made, before the form's record was committed.
    with app.db.session() as s:
        s.execute(delete(InboxFile))
    again = drop(app, filled, "teach1")
    assert again.outcome == FileOutcome.ACCEPTED, receipt(again)
    assert lists_of(app, "teach1") == made
    for r in made:
        assert f"{r.listnr}" in receipt(again)


def test_more_students_for_a_list(app: App, tmp_path: Path) -> None:
    seeded = people(app)
    first = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2020",
                "term": TERM,
                "students": seeded.pnrs[0],
            }
        ],
        tmp_path / "a.xlsx",
    )
    assert drop(app, first, "teach1").outcome == FileOutcome.ACCEPTED
    [made] = lists_of(app, "teach1")
    more = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [{"action": "Fler studenter", "listnr": made.listnr, "registered": "ja"}],
        tmp_path / "b.xlsx",
    )
    result = drop(app, more, "teach1")
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    assert f"Lista {made.listnr}: 7 nya studenter" in receipt(result)
    [after] = lists_of(app, "teach1")
    assert (after.students, after.version) == (8, 2)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "noone har ingen roll på kursen DV1599 HT2026"),
        ("en", "noone has no role on the course DV1599 HT2026"),
    ],
)
def test_order_without_a_course_role_says_who_to_ask(
    app: App, tmp_path: Path, language: str, expected: str
) -> None:
    people(app, teacher_lang=language)
    filled = fill_rows(
        outbox_of(app, "noone") / ORDER,
        [
            {
                "action": "New T34 list" if language == "en" else "Ny T34-lista",
                "course": "DV1599",
                "term": TERM,
            }
        ],
        tmp_path / "order.xlsx",
    )
    result = drop(app, filled, "noone")
    assert result.outcome == FileOutcome.REJECTED
    text = receipt(result)
    assert expected in text and "Eva Examinatorsson" in text
    assert lists_of(app, "noone") == []
    assert (outbox_of(app, "noone") / result.receipt.name).is_file()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("language", "unknown", "bad_pnr", "position"),
    [
        (
            "sv",
            "Lista 9999 finns inte.",
            "Kontrollsiffran i personnumret",
            "rad 7, kolumn H (Personnummer)",
        ),
        (
            "en",
            "List 9999 does not exist.",
            "check digit",
            "row 7, column H (Personal identity numbers)",
        ),
    ],
)
def test_order_form_problems_all_at_once_located(
    app: App, tmp_path: Path, language: str, unknown: str, bad_pnr: str, position: str
) -> None:
    seeded = people(app, teacher_lang=language)
    good = seeded.pnrs[0]
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [
            {"action": "Öppna lista", "listnr": 9999},
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2010",
                "term": TERM,
                "students": f"{good} {wrong}",
            },
            {"action": "Ny T33-lista", "course": "DV1599", "term": "hösten"},
        ],
        tmp_path / "order.xlsx",
    )
    result = drop(app, filled, "teach1")
    assert result.outcome == FileOutcome.REJECTED
    text = receipt(result)
    assert unknown in text and bad_pnr in text and position in text
    assert {(p.row, p.column) for p in result.problems} >= {(6, "E"), (7, "H"), (8, "C"), (8, "D")}
    assert lists_of(app, "teach1") == []
    marked = load_workbook(next(outbox_of(app, "teach1").glob("*_fel.xlsx")))
    assert marked.worksheets[0]["H7"].comment is not None


def test_order_form_in_the_shared_inbox_answers_to_its_person(app: App, tmp_path: Path) -> None:
    people(app)
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2010",
                "term": TERM,
                "exam_date": "2026-10-30",
            }
        ],
        tmp_path / "order.xlsx",
    )
    result = drop(app, filled, None)
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    [made] = lists_of(app, "teach1")
    assert (outbox_of(app, "teach1") / f"{made.listnr}.xlsx").is_file()
    assert (outbox_of(app, "teach1") / result.receipt.name).is_file()  # type: ignore[union-attr]


def test_a_tampered_order_form_is_refused(app: App, tmp_path: Path) -> None:
    people(app)
    wb = load_workbook(outbox_of(app, "teach1") / ORDER)
    meta = wb["_resultat"]
    for row in meta.iter_rows():
        if row[0].value == "person":
            row[1].value = "noone"
    wb.worksheets[0]["A6"] = "Ny T34-lista"
    wb.save(tmp_path / "x.xlsx")
    result = drop(app, tmp_path / "x.xlsx", "noone")
    assert result.outcome == FileOutcome.REJECTED
    assert "signaturen stämmer inte" in receipt(result)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_order_form_saved_by_libreoffice(app: App, tmp_path: Path) -> None:
    people(app)
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [
            {
                "action": "Ny T33-lista",
                "course": "DV1599",
                "module": "2010",
                "term": TERM,
                "exam_date": EXAM_DATE,
            }
        ],
        tmp_path / "order.xlsx",
    )
    out = tmp_path / "out"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path}/lo",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            str(filled),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    saved = out / "order.xlsx"
    with zipfile.ZipFile(saved) as zf:
        assert b"LibreOffice" in zf.read("docProps/app.xml")
    result = drop(app, saved, "teach1")
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    [made] = lists_of(app, "teach1")
    assert made.students == 8


def _set_cell(path: Path, ref: str, value: Any, target: Path) -> Path:
    wb = load_workbook(path)
    wb.worksheets[0][ref] = value
    wb.save(target)
    return target


def _staff(app: App, username: str) -> Staff:
    with app.db.session() as s:
        return s.execute(select(Staff).where(Staff.username == username)).scalar_one()


def test_settings_form_changes_own_settings(app: App, tmp_path: Path) -> None:
    people(app)
    form = outbox_of(app, "teach1") / SETTINGS
    wb = load_workbook(form)
    ws = wb.worksheets[0]
    assert (ws["B5"].value, ws["B6"].value, ws["B7"].value) == ("svenska", "ja", "ja")
    ws["B5"], ws["B6"], ws["B7"], ws["B8"] = "engelska", "nej", "nej", "tea@example.se"
    wb.save(tmp_path / "inst.xlsx")
    result = drop(app, tmp_path / "inst.xlsx", "teach1")
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    staff = _staff(app, "teach1")
    assert (staff.language, staff.mail_copies, staff.reminders, staff.notify_email) == (
        "en",
        False,
        False,
        "tea@example.se",
    )
    assert "Changed: language English, copies by mail no, reminders no" in receipt(result)
    with app.db.session() as s:
        event = s.execute(
            select(AuditEvent).where(AuditEvent.action == "settings.change")
        ).scalar_one()
        assert event.actor == "teach1" and not event.admin
    fresh = load_workbook(form).worksheets[0]
    assert (fresh.title, fresh["B5"].value, fresh["B6"].value) == ("Settings", "English", "no")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "Formuläret är utfärdat för teach1, men kom från mappen för noone"),
        ("en", "The form was issued for teach1 but came from the folder of noone"),
    ],
)
def test_settings_form_of_another_person_is_refused(
    app: App, tmp_path: Path, language: str, expected: str
) -> None:
    people(app, teacher_lang=language)
    filled = _set_cell(
        outbox_of(app, "teach1") / SETTINGS,
        "B6",
        "nej" if language == "sv" else "no",
        tmp_path / "s.xlsx",
    )
    result = drop(app, filled, "noone")
    assert result.outcome == FileOutcome.REJECTED
    assert expected in receipt(result)
    assert _staff(app, "teach1").mail_copies is True
    assert _staff(app, "noone").mail_copies is True


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "Administrationsläge och andra behörigheter kan aldrig ändras med en arbetsbok"),
        ("en", "Administration mode and other rights can never be changed by a workbook"),
    ],
)
def test_settings_form_cannot_switch_on_administration_mode(
    app: App, tmp_path: Path, language: str, expected: str
) -> None:
    people(app, teacher_lang=language)
    wb = load_workbook(outbox_of(app, "teach1") / SETTINGS)
    meta = wb["_resultat"]
    meta.insert_rows(1)
    meta["A1"], meta["B1"] = "admin", "true"
    wb.worksheets[0]["B7"] = "nej"
    wb.save(tmp_path / "s.xlsx")
    result = drop(app, tmp_path / "s.xlsx", "teach1")
    assert result.outcome == FileOutcome.REJECTED
    assert expected in receipt(result)
    assert _staff(app, "teach1").reminders is True
    with app.db.session() as s:
        changes = s.execute(select(AuditEvent).where(AuditEvent.action == "settings.change"))
        assert changes.first() is None


def _approved(app: App, seeded: Seeded) -> int:
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr)
    fill(
        issued.path,
        {
            seeded.pnrs[0]: {"grade": "5", "grade_date": dt.date(2026, 11, 2)},
            seeded.pnrs[1]: {"grade": "3", "grade_date": dt.date(2026, 11, 2)},
        },
        action="Skicka till examinator",
        target=app.settings.inbox / "betyg.xlsx",
    )
    [result] = Inbox(app).process_once()
    assert result.outcome == FileOutcome.ACCEPTED
    assert approval.approve(app, listnr, sent_code(app, listnr)).ok
    return listnr


def _state(app: App, listnr: int) -> ListState:
    with app.db.session() as s:
        return s.execute(select(ResultList.state).where(ResultList.listnr == listnr)).scalar_one()


def _confirmation(app: App, rows: list[tuple[Any, Any]], target: Path) -> Path:
    wb = load_workbook(outbox_of(app, OFFICE) / CONFIRMATION)
    ws = wb.worksheets[0]
    for offset, (listnr, action) in enumerate(rows):
        ws.cell(6 + offset, 1, listnr)
        ws.cell(6 + offset, 2, action)
    wb.save(target)
    return target


@pytest.mark.parametrize("owner", [OFFICE, "office1"])
def test_confirmation_marks_registered_and_mails_students(
    app: App, tmp_path: Path, owner: str
) -> None:
    seeded = people(app)
    listnr = _approved(app, seeded)
    mails(app)
    before = len(list((app.settings.var / "mail").glob("*.eml")))
    form = _confirmation(app, [(listnr, "registrerad i Ladok")], tmp_path / "bekr.xlsx")
    result = drop(app, form, owner)
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    assert _state(app, listnr) == ListState.REGISTERED
    assert f"Lista {listnr}: registrerad i Ladok; 2 studenter" in receipt(result)
    new = mails(app)[before:]
    assert {m["To"] for m in new if "student" in m["To"]} == {
        "student0@example.se",
        "student1@example.se",
    }
    assert (outbox_of(app, owner) / result.receipt.name).is_file()  # type: ignore[union-attr]
    with app.db.session() as s:
        event = s.execute(
            select(AuditEvent).where(AuditEvent.action == "list.registered")
        ).scalar_one()
        assert event.actor == owner


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "Bara Utbildningsstöd får bekräfta registrering i Ladok"),
        ("en", "Only the student office (Utbildningsstöd) may confirm LADOK registration"),
    ],
)
def test_confirmation_by_someone_outside_the_office_is_refused(
    app: App, tmp_path: Path, language: str, expected: str
) -> None:
    seeded = people(app, teacher_lang=language)
    listnr = _approved(app, seeded)
    form = _confirmation(app, [(listnr, "registered in LADOK")], tmp_path / "bekr.xlsx")
    result = drop(app, form, "teach1")
    assert result.outcome == FileOutcome.REJECTED
    assert expected in receipt(result) and "Ulla Utbildning" in receipt(result)
    assert _state(app, listnr) == ListState.APPROVED


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "är utkast; det går bara när listan är attesterad"),
        ("en", "is draft; this is only possible when the list is approved"),
    ],
)
def test_confirmation_of_a_list_in_the_wrong_state(
    app: App, tmp_path: Path, language: str, expected: str
) -> None:
    people(app)
    with app.db.session() as s:
        s.execute(select(Staff).where(Staff.username == "office1")).scalar_one().language = language
    listnr = new_exam_list(app)
    rows = [(listnr, "registrerad i Ladok"), ("x", "registrerad i Ladok")]
    result = drop(app, _confirmation(app, rows, tmp_path / "b.xlsx"), "office1")
    assert result.outcome == FileOutcome.REJECTED
    assert {(p.row, p.column) for p in result.problems} == {(7, "A")}
    rows = [(listnr, "registrerad i Ladok")]
    result = drop(app, _confirmation(app, rows, tmp_path / "c.xlsx"), "office1")
    assert result.outcome == FileOutcome.REJECTED
    assert f"{listnr} {expected}" in receipt(result)
    assert _state(app, listnr) == ListState.DRAFT


def _pdf(path: Path) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(path)
    return path


def test_signed_scan_archives_the_list(app: App, tmp_path: Path) -> None:
    seeded = people(app)
    listnr = _approved(app, seeded)
    form = _confirmation(app, [(listnr, "registrerad i Ladok")], tmp_path / "b.xlsx")
    assert drop(app, form, OFFICE).outcome == FileOutcome.ACCEPTED
    result = drop(app, _pdf(tmp_path / "scan.pdf"), OFFICE, f"{listnr}_signerad.pdf")
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    assert _state(app, listnr) == ListState.ARCHIVED
    assert f"Lista {listnr}: den signerade arkivlistan är mottagen" in receipt(result)
    packages = list(app.settings.archive.rglob(f"*{listnr}*/data/scan/*"))
    assert packages and packages[0].read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "är ingen PDF (den börjar inte med %PDF-)"),
        ("en", "is not a PDF (it does not start with %PDF-)"),
    ],
)
def test_a_signed_scan_that_is_not_a_pdf_is_refused(
    app: App, tmp_path: Path, language: str, expected: str
) -> None:
    seeded = people(app)
    with app.db.session() as s:
        s.execute(select(Staff).where(Staff.username == "office1")).scalar_one().language = language
    listnr = _approved(app, seeded)
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a scan")
    result = drop(app, fake, "office1", f"{listnr}_signerad.pdf")
    assert result.outcome == FileOutcome.REJECTED
    assert expected in receipt(result)
    assert _state(app, listnr) == ListState.APPROVED
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnothing else")
    result = drop(app, broken, "office1", f"{listnr}_signerad.pdf")
    assert result.outcome == FileOutcome.REJECTED
    assert [p.slug for p in result.problems] == ["scan-damaged"]
    # A real PDF, but the list is not registered in LADOK yet.
    result = drop(app, _pdf(tmp_path / "real.pdf"), "office1", f"{listnr}_signerad.pdf")
    assert result.outcome == FileOutcome.REJECTED
    wrong_state = {
        "sv": "är attesterad; det går bara när listan är registrerad i Ladok",
        "en": "is approved; this is only possible when the list is registered in LADOK",
    }
    assert f"{listnr} {wrong_state[language]}" in receipt(result)
    assert _state(app, listnr) == ListState.APPROVED


def test_settings_form_problems_are_located_and_nothing_changes(app: App, tmp_path: Path) -> None:
    people(app, teacher_lang="en")
    wb = load_workbook(outbox_of(app, "teach1") / SETTINGS)
    ws = wb.worksheets[0]
    ws["B5"], ws["B6"], ws["B8"] = "klingon", "maybe", "not an address"
    wb.save(tmp_path / "s.xlsx")
    result = drop(app, tmp_path / "s.xlsx", "teach1")
    assert result.outcome == FileOutcome.REJECTED
    assert {(p.row, p.column) for p in result.problems} == {(5, "B"), (6, "B"), (8, "B")}
    text = receipt(result)
    assert 'row 5, column B (Language): "klingon" is not a language' in text
    assert 'row 6, column B (Copies by mail): "maybe" must be yes or no' in text
    assert '"not an address" is not a mail address' in text
    assert _staff(app, "teach1").language == "en"


def test_order_form_workbook_and_receipt_arrive_by_smtp(
    app: App,
    tmp_path: Path,
    smtp_server: SmtpServer,
    reopen: Callable[..., App],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people(app)
    monkeypatch.setenv("RESULTAT_SMTP_PASSWORD", SMTP_PASSWORD)
    smtp_app = reopen(mail=smtp_config(smtp_server))
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [{"action": "Ny T34-lista", "course": "DV1599", "term": TERM}],
        tmp_path / "order.xlsx",
    )
    result = drop(smtp_app, filled, "teach1")
    assert result.outcome == FileOutcome.ACCEPTED, receipt(result)
    assert outbox.dispatch(smtp_app).failed == 0
    received = [r.parsed() for r in smtp_server.received if r.rcpt_tos == ["teach1@example.se"]]
    by_subject = {str(m["Subject"]): m for m in received}
    [workbook_mail] = [m for s, m in by_subject.items() if s.startswith("Resultatlista")]
    attached = [part.get_filename() for part in workbook_mail.iter_attachments()]
    [listnr] = [r.listnr for r in lists_of(app, "exam1")]
    assert attached == [f"{listnr}.xlsx"]
    [receipt_mail] = [m for s, m in by_subject.items() if s.startswith("Kvitto")]
    body = receipt_mail.get_body(("plain",))
    assert body is not None and f"Ny T34-lista {listnr}: DV1599 HT2026" in body.get_content()
