"""Registry import: every kind, idempotent upserts, located rejections, readers, admin, audit."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from pipeline.app import App
from pipeline.demo import data as demodata
from pipeline.domain import personnummer
from pipeline.errors import AdminRequired
from pipeline.models import (
    AuditEvent,
    Course,
    Examiner,
    ExamSignup,
    Module,
    PriorResult,
    Registration,
    Staff,
    Student,
    Teacher,
)
from pipeline.registry import importer as registry
from pipeline.registry.importer import ImportResult
from pipeline.registry.sources import KIND_ORDER
from tests import hostile

TODAY = dt.date(2026, 11, 28)
RNG = random.Random(7)
PNRS = [personnummer.generate(RNG) for _ in range(6)]

COURSES_CSV = """\
course_code,name_sv,name_en,credits,scale,ects_scale,start_date
DV1599,Programmering i Python,Programming in Python,7.5,TH,AF,2026-08-31
PA1414,Programvaruutveckling,Software Development,"7,5",UG,,2026-08-31
"""
MODULES_CSV = """\
course_code,module_code,name_sv,name_en,credits,scale
DV1599,2010,Tentamen,Written examination,4.5,TH
DV1599,2020,Laborationer,Laboratory work,3,UG
PA1414,TEN1,Tentamen,Written examination,5,UV
"""
STAFF_CSV = """\
username,name,email,mobile,language
anlq,Anna Lindqvist,anna.lindqvist@example.se,+46701740605,sv
dast,David Stone,david.stone@example.se,,en
"""


def students_csv(*pnrs: str) -> str:
    lines = ["personnummer,first_name,last_name,email,lms_username"]
    lines += [f"{p},Åsa{i},Öberg,s{i}@student.example.se,s{i}" for i, p in enumerate(pnrs)]
    return "\n".join(lines) + "\n"


def write(folder: Path, name: str, text: str, *, bom: bool = False) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    return path


def run(app: App, *paths: Path) -> list[ImportResult]:
    return registry.import_files(app, list(paths), admin=True, today=TODAY)


def count(app: App, model: type) -> int:
    with app.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def located(result: ImportResult) -> set[tuple[int | None, str | None, str]]:
    return {(p.row, p.column, p.slug) for p in result.rejected}


@pytest.fixture
def base(app: App, tmp_path: Path) -> App:
    """Two courses with modules, two staff members and the six students of ``PNRS``."""
    results = run(
        app,
        write(tmp_path, "courses.csv", COURSES_CSV),
        write(tmp_path, "modules.csv", MODULES_CSV),
        write(tmp_path, "staff.csv", STAFF_CSV),
        write(tmp_path, "students.csv", students_csv(*(p.long() for p in PNRS))),
    )
    assert all(r.ok for r in results), registry.format_results(results)
    return app


def test_demo_registry_imports_every_kind(app: App, tmp_path: Path) -> None:
    files = demodata.write_registry(tmp_path / "reg", students=25, today=TODAY)
    results = run(app, *reversed(list(files.values())))

    assert [r.kind for r in results] == list(KIND_ORDER)
    assert all(r.ok for r in results), registry.format_results(results)
    with app.db.session() as s:
        dv = s.scalars(select(Course).where(Course.code == "DV1599")).one()
        assert (dv.credits, dv.scale, dv.ects_scale) == (Decimal("7.5"), "TH", "AF")
        assert dv.start_date == dt.date(2026, 8, 31)
        labs = s.scalars(select(Module).where(Module.code == "2020")).one()
        assert (labs.course_id, labs.credits, labs.scale) == (dv.id, Decimal("3.0"), "UG")
        dast = s.scalars(select(Staff).where(Staff.username == "dast")).one()
        assert (dast.language, dast.mobile) == ("en", "+46701740608")
        assert s.scalars(select(Staff).where(Staff.username == "peak")).one().mobile is None
        former = s.scalars(select(Examiner).where(Examiner.to_term.is_not(None))).one()
        assert (former.from_term, former.to_term) == ("VT2022", "VT2024")
        pnrs = s.scalars(select(Student.pnr)).all()
        assert len(pnrs) == 25 and all(re.fullmatch(r"\d{12}", p) for p in pnrs)
        assert set(s.scalars(select(Registration.term))) == {"HT2026"}
        assert set(s.scalars(select(ExamSignup.exam_date))) == {dt.date(2026, 10, 30)}
        assert set(s.scalars(select(PriorResult.grade))) == {"G"}
        office = s.scalars(select(Staff.username).where(Staff.office.is_(True))).all()
        assert office == ["peak"]
        teaching = s.execute(
            select(Course.code, Staff.username)
            .join(Teacher, Teacher.course_id == Course.id)
            .join(Staff, Staff.id == Teacher.staff_id)
            .order_by(Course.code)
        ).all()
        assert [tuple(row) for row in teaching] == [("DV1599", "jobe"), ("PA1414", "jobe")]
    registrations = results[KIND_ORDER.index("registrations")]
    assert count(app, Registration) == registrations.added > 0


def test_reimport_changes_nothing(base: App, tmp_path: Path) -> None:
    before = {m: count(base, m) for m in (Course, Module, Staff, Student)}
    again = run(
        base,
        write(tmp_path, "students.csv", students_csv(*(p.short() for p in PNRS))),
        write(tmp_path, "courses.csv", COURSES_CSV),
        write(tmp_path, "modules.csv", MODULES_CSV),
        write(tmp_path, "staff.csv", STAFF_CSV),
    )
    assert [(r.kind, r.added, r.changed, r.unchanged) for r in again] == [
        ("courses", 0, 0, 2),
        ("modules", 0, 0, 3),
        ("staff", 0, 0, 2),
        ("students", 0, 0, 6),
    ]
    assert {m: count(base, m) for m in before} == before


def test_changed_values_are_counted_and_stored(base: App, tmp_path: Path) -> None:
    changed = COURSES_CSV.replace("Programmering i Python", "Programmering med Python")
    changed = changed.replace("UG,,2026-08-31", "UG,,2026-09-01")
    [result] = run(base, write(tmp_path, "courses2.csv", changed))
    assert (result.added, result.changed, result.unchanged) == (0, 2, 0)
    with base.db.session() as s:
        dv, pa = s.scalars(select(Course).order_by(Course.code)).all()
        assert dv.name_sv == "Programmering med Python"
        assert pa.start_date == dt.date(2026, 9, 1)
        assert dv.ects_scale == "AF"  # untouched values stay


def test_missing_optional_column_leaves_stored_value(base: App, tmp_path: Path) -> None:
    text = "username,name,email\nanlq,Anna Lindqvist,anna.lindqvist@example.se\n"
    [result] = run(base, write(tmp_path, "staff2.csv", text))
    assert (result.kind, result.unchanged) == ("staff", 1)
    with base.db.session() as s:
        anna = s.scalars(select(Staff).where(Staff.username == "anlq")).one()
        assert anna.mobile == "+46701740605"


def test_bad_students_rejected_at_their_cell_good_rows_imported(app: App, tmp_path: Path) -> None:
    good1, good2, other = PNRS[0], PNRS[1], PNRS[2]
    wrong_check = other.digits[:-1] + str((int(other.digits[-1]) + 1) % 10)
    text = students_csv(good1.long(), wrong_check, "19900230-1234", "1.99001E+11", good2.digits)
    text = text.replace("s4@student.example.se", "not-an-address")
    [result] = run(app, write(tmp_path, "students.csv", text))

    assert located(result) == {
        (3, "A", "pnr-check-digit"),
        (4, "A", "pnr-invalid-date"),
        (5, "A", "pnr-as-number"),
        (6, "D", "bad-email"),
    }
    assert result.added == 1
    with app.db.session() as s:
        assert s.scalars(select(Student.pnr)).all() == [good1.digits]
    text = registry.format_results([result])
    assert "rad 3, kolumn A (personnummer)" in text
    assert "Kontrollsiffran" in text
    assert wrong_check not in text and wrong_check[:8] + "-" + wrong_check[8:] not in text


def test_bad_courses_and_modules(app: App, tmp_path: Path) -> None:
    courses = (
        COURSES_CSV
        + "D1599,Fel,Wrong,7.5,TH,,2026-08-31\n"
        + "ME1003,Mekanik,Mechanics,sex,XX,AF,31/8 2026\n"
        + "DV1599,Dubbel,Double,7.5,TH,,2026-08-31\n"
    )
    modules = (
        MODULES_CSV
        + "ZZ9999,2010,Tentamen,Exam,1,TH\n"
        + "PA1414,TEN-1,Tentamen,Exam,1,UV\n"
        + "PA1414,PRO1,Projekt,Project,3,UG\n"
    )
    c, m = run(app, write(tmp_path, "m.csv", modules), write(tmp_path, "c.csv", courses))
    assert (c.kind, c.added) == ("courses", 2)
    assert located(c) == {
        (4, "A", "bad-course-code"),
        (5, "D", "credits-not-number"),
        (5, "E", "bad-scale"),
        (5, "G", "date-format"),
        (6, "A", "registry-duplicate"),
    }
    duplicate = next(p for p in c.rejected if p.slug == "registry-duplicate")
    assert duplicate.params["other"] == 2
    assert (m.kind, m.added) == ("modules", 3)
    assert located(m) == {
        (5, "A", "unknown-course"),
        (6, "B", "bad-module-code"),
        (7, "E", "module-credits-exceed"),
    }
    assert count(app, Module) == 3


def test_staff_and_examiner_problems(base: App, tmp_path: Path) -> None:
    staff = STAFF_CSV + "kahg,Karin Hägglund,karin@example.se,0701740609,sv\n"
    staff += "peak,Per Åkerlund,per@example.se,+46 70-174 06 10,fi\n"
    staff += "jobe,Johan Bergström,johan@example.se,+46 70-174 06 11,\n"
    examiners = (
        "kurskod;användarnamn;från_termin;till_termin\n"
        "DV1599;anlq;HT2024;\n"
        "DV1599;nobody;HT2024;\n"
        "PA1414;jobe;HT26;\n"
        "PA1414;dast;HT2024;VT2024\n"
        "PA1414;anlq;VT2022;VT2024\n"
    )
    s, e = run(
        base,
        write(tmp_path, "examiners.csv", examiners, bom=True),
        write(tmp_path, "staff.csv", staff),
    )
    assert (s.added, s.unchanged) == (1, 2)
    assert located(s) == {(4, "D", "bad-mobile"), (5, "E", "bad-language")}
    with base.db.session() as session:
        johan = session.scalars(select(Staff).where(Staff.username == "jobe")).one()
        assert (johan.mobile, johan.language) == ("+46701740611", "sv")
    assert e.kind == "examiners"
    assert located(e) == {
        (3, "B", "unknown-staff"),
        (4, "C", "bad-term"),
        (5, "D", "term-order"),
    }
    assert {p.field for p in e.rejected} == {"användarnamn", "från_termin", "till_termin"}
    assert e.added == 2
    with base.db.session() as session:
        rows = session.execute(select(Examiner.from_term, Examiner.to_term)).all()
        assert sorted(rows, key=str) == [("HT2024", None), ("VT2022", "VT2024")]


def test_registrations_signups_and_prior_results(base: App, tmp_path: Path) -> None:
    stranger = personnummer.generate(random.Random(99))
    a, b = PNRS[0], PNRS[1]
    registrations = (
        "personnummer;course_code;term\n"
        f"{a.digits};DV1599;HT2026\n"
        f"{stranger.long()};DV1599;HT2026\n"
        f"{b.short()};XX1234;HT2026\n"
        f"{b.long()};PA1414;Höst 2026\n"
        f"{b.long()};pa1414;ht2026\n"
    )
    signups = (
        "personnummer,course_code,module_code,exam_date\n"
        f"{a.long()},DV1599,2010,2026-10-30\n"
        f"{b.long()},DV1599,TEN1,2026-10-30\n"
        f"{b.long()},PA1414,TEN1,2026-10-32\n"
        f"{b.long()},PA1414,TEN1,2026-10-30\n"
    )
    prior = (
        "personnummer,course_code,module_code,grade,grade_date\n"
        f"{a.long()},DV1599,2020,g,2026-10-16\n"
        f"{a.long()},DV1599,2010,G,2026-10-16\n"
        f"{b.long()},DV1599,2020,G,2026-12-24\n"
        f"{b.long()},PA1414,TEN1,VG,2026-10-30\n"
    )
    r, s, p = run(
        base,
        write(tmp_path, "prior.csv", prior),
        write(tmp_path, "signups.csv", signups),
        write(tmp_path, "registrations.csv", registrations),
    )
    assert (r.kind, r.added) == ("registrations", 2)
    assert located(r) == {
        (3, "A", "unknown-student"),
        (4, "B", "unknown-course"),
        (5, "C", "bad-term"),
    }
    unknown = next(x for x in r.rejected if x.slug == "unknown-student")
    assert unknown.value == stranger.masked()
    assert (s.kind, s.added) == ("signups", 2)
    assert located(s) == {(3, "C", "unknown-module"), (4, "D", "date-format")}
    assert (p.kind, p.added) == ("prior_results", 2)
    assert located(p) == {(3, "D", "grade-not-in-scale"), (4, "E", "date-in-future")}
    not_in_scale = next(x for x in p.rejected if x.slug == "grade-not-in-scale")
    assert not_in_scale.params == {"scale": "TH", "allowed": "U, 3, 4, 5"}
    with base.db.session() as session:
        grades = session.execute(select(PriorResult.grade, PriorResult.grade_date)).all()
        assert sorted(grades) == [("G", dt.date(2026, 10, 16)), ("VG", dt.date(2026, 10, 30))]

    [changed] = run(base, write(tmp_path, "prior2.csv", prior.replace(",VG,", ",G,")))
    assert (changed.added, changed.changed, changed.unchanged) == (0, 1, 1)


def test_semicolons_bom_and_swedish_headers(app: App, tmp_path: Path) -> None:
    text = (
        "Kurskod;Benämning SV;Benämning EN;HP;Betygsskala;Startdatum;Kommentar\r\n"
        "\r\n"
        "DV1599;Programmering i Python;Programming in Python;7,5;th;2026-08-31;ny\r\n"
        "ME1003;Mekanik för ingenjörer;Mechanics;6;AF;2026-08-31;\r\n"
    )
    [result] = run(app, write(tmp_path, "kurser.csv", text, bom=True))
    assert (result.kind, result.added, result.rejected) == ("courses", 2, [])
    [ignored] = result.warnings
    assert (ignored.slug, ignored.params) == ("registry-ignored-columns", {"columns": "Kommentar"})
    with app.db.session() as s:
        names = s.execute(select(Course.code, Course.name_sv, Course.scale).order_by(Course.code))
        assert names.all() == [
            ("DV1599", "Programmering i Python", "TH"),
            ("ME1003", "Mekanik för ingenjörer", "AF"),
        ]
    bad = text.replace("6;AF", "6;QQ")
    [again] = run(app, write(tmp_path, "kurser2.csv", bad, bom=True))
    assert located(again) == {(4, "E", "bad-scale")}  # the blank line 2 still counts


def test_xlsx_first_sheet_with_typed_cells(base: App, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Anmälda"
    sheet.append(["Anmälningar från LADOK"])
    sheet.append([])
    sheet.append(["personnummer", "course_code", "module_code", "exam_date"])
    sheet.append([PNRS[0].long(), "DV1599", 2010, dt.datetime(2026, 10, 30)])
    sheet.append([int(PNRS[1].digits), "DV1599", 2010, dt.date(2026, 10, 30)])
    sheet.append([dt.date(1990, 1, 1), "DV1599", "2010", "2026-10-30"])
    sheet.append([PNRS[2].short(), "PA1414", "TEN1", "2026-10-30"])
    workbook.create_sheet("Other").append(["nothing", "here"])
    path = tmp_path / "anmalda.xlsx"
    workbook.save(path)

    [result] = run(base, path)
    assert result.kind == "signups"
    assert located(result) == {(5, "A", "pnr-as-number"), (6, "A", "pnr-as-date")}
    assert {p.sheet for p in result.rejected} == {"Anmälda"}
    assert result.added == 2
    with base.db.session() as s:
        assert set(s.scalars(select(ExamSignup.exam_date))) == {dt.date(2026, 10, 30)}
    assert str(PNRS[1].digits) not in registry.format_results([result], "en")


def test_unknown_header_and_unreadable_files(app: App, tmp_path: Path) -> None:
    unknown = write(tmp_path, "export.csv", "Namn,Telefon\nAnna,070\n")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("course_code,name_sv\nDV1599,Åsa\n".encode("cp1252"))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    empty = write(tmp_path, "empty.csv", "\n\n")
    entities = tmp_path / "entities.xlsx"  # read through the same safe reader as the inbox
    entities.write_bytes(hostile.rezip(hostile.xlsx_skeleton(b'<!DOCTYPE x [<!ENTITY a "b">]>')))
    results = run(app, unknown, latin1, broken, empty, entities)

    assert [(r.path.name, r.kind, [p.slug for p in r.problems]) for r in results] == [
        ("export.csv", None, ["unknown-registry-kind"]),
        ("latin1.csv", None, ["registry-not-utf8"]),
        ("broken.xlsx", None, ["not-a-spreadsheet"]),
        ("empty.csv", None, ["empty-registry-file"]),
        ("entities.xlsx", None, ["xml-entities"]),
    ]
    assert results[4].problems[0].message("en").startswith("The file contains a DTD")
    message = results[0].problems[0].message("en")
    assert "Namn, Telefon" in message and "students: personnummer, first_name" in message
    assert count(app, AuditEvent) == 0


def test_refused_without_admin_and_nothing_written(app: App, tmp_path: Path) -> None:
    path = write(tmp_path, "courses.csv", COURSES_CSV)
    with pytest.raises(AdminRequired, match="--admin"):
        registry.import_files(app, [path], admin=False)
    assert count(app, Course) == 0
    assert count(app, AuditEvent) == 0


def test_one_audit_event_per_file_without_personnummer(base: App, tmp_path: Path) -> None:
    with base.db.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.admin, e.actor) for e in events] == [
        ("registry.import", True, "testadmin")
    ] * 4
    assert events[3].details == {
        "file": "students.csv",
        "kind": "students",
        "added": 6,
        "changed": 0,
        "unchanged": 0,
        "rejected_rows": 0,
    }
    dumped = json.dumps([e.details for e in events])
    assert not any(p.digits in dumped or p.digits[2:8] in dumped for p in PNRS)


def test_format_results_in_both_languages(base: App, tmp_path: Path) -> None:
    [result] = run(
        base,
        write(
            tmp_path, "r.csv", f"personnummer,course_code,term\n{PNRS[0].long()},DV1598,HT2026\n"
        ),
    )
    sv = registry.format_results([result])
    en = registry.format_results([result], "en")
    assert sv.splitlines() == [
        "r.csv (registreringar): nya 0, ändrade 0, oförändrade 0, avvisade rader 1",
        "  rad 2, kolumn B (course_code): Kursen DV1598 finns inte i registret. "
        "Importera kursen först.",
    ]
    assert (
        en.splitlines()[0]
        == "r.csv (registrations): added 0, changed 0, unchanged 0, rejected rows 1"
    )
    assert "row 2, column B (course_code): The course DV1598 is not in the registry" in en


def test_values_too_large_for_the_database_are_rejected(app: App, tmp_path: Path) -> None:
    long_name = "Å" * 301
    text = COURSES_CSV + f"ME1003,{long_name},Mechanics,6,AF,,2026-08-31\n"
    text += "ME1004,Mekanik,Mechanics,100000,AF,,2026-08-31\n"
    [result] = run(app, write(tmp_path, "c.csv", text))
    assert located(result) == {(4, "B", "text-too-long"), (5, "D", "credits-too-large")}
    assert result.added == 2
