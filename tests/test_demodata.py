"""The demo registry: imports without a single rejected row, holds only valid invented people,
and is the same for the same seed and day."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select

from pipeline.app import App
from pipeline.demo import data as demodata
from pipeline.domain import personnummer
from pipeline.models import (
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
from pipeline.registry.sources import KIND_ORDER

TODAY = dt.date(2026, 11, 28)


def csv_rows(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig")
    delimiter = ";" if text.splitlines()[0].count(";") else ","
    return list(csv.reader(text.splitlines(), delimiter=delimiter))[1:]


def xlsx_rows(path: Path) -> list[list[str]]:
    sheet = load_workbook(path, read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]  # type: ignore[misc]


def rows_of(files: dict[str, Path], kind: str) -> list[list[str]]:
    path = files[kind]
    return xlsx_rows(path) if path.suffix == ".xlsx" else csv_rows(path)


def test_demo_registry_imports_with_nothing_rejected(app: App, tmp_path: Path) -> None:
    files = demodata.write_registry(tmp_path, students=120, today=TODAY)
    results = registry.import_files(app, list(files.values()), admin=True, today=TODAY)

    assert [(r.kind, r.rejected, r.problems, r.warnings) for r in results] == [
        (kind, [], [], []) for kind in KIND_ORDER
    ]
    expected = {kind: len(rows_of(files, kind)) for kind in files}
    assert {r.kind: r.added for r in results} == expected
    assert expected["courses"] == 3 and expected["modules"] == 5 and expected["students"] == 120
    assert expected["staff"] >= 5
    assert 120 < expected["registrations"] < 3 * 120
    models = {
        "courses": Course,
        "modules": Module,
        "staff": Staff,
        "examiners": Examiner,
        "teachers": Teacher,
        "students": Student,
        "registrations": Registration,
        "signups": ExamSignup,
        "prior_results": PriorResult,
    }
    with app.db.session() as session:
        stored = {
            kind: session.scalar(select(func.count()).select_from(model))
            for kind, model in models.items()
        }
    assert stored == expected

    again = registry.import_files(app, list(files.values()), admin=True, today=TODAY)
    assert [(r.added, r.changed) for r in again] == [(0, 0)] * len(files)


def test_people_are_valid_and_invented(tmp_path: Path) -> None:
    files = demodata.write_registry(tmp_path, students=200, today=TODAY)
    students = rows_of(files, "students")
    numbers = [personnummer.parse(row[0], today=TODAY) for row in students]
    assert len({n.digits for n in numbers}) == 200
    assert 1 <= sum(n.is_samordningsnummer for n in numbers) <= 10
    assert all(19 <= (TODAY - n.birth_date).days // 365 <= 45 for n in numbers)
    names = " ".join(f"{row[1]} {row[2]}" for row in students)
    assert {"å", "ä", "ö"} <= set(names.lower())
    assert all(row[3].endswith("example.se") and row[4].endswith("example.se") for row in students)
    assert len({row[4] for row in students}) == 200

    staff = rows_of(files, "staff")
    assert len(staff) >= 5
    mobiles = [row[3].lstrip("'") for row in staff if row[3]]
    assert mobiles and all(re.fullmatch(r"\+467017406(0[5-9]|[1-9]\d)", m) for m in mobiles)
    assert [row[4] for row in staff].count("en") == 1
    assert all(row[2].endswith("@example.se") for row in staff)

    examiners = rows_of(files, "examiners")
    current = {row[0]: row[1] for row in examiners if not row[3]}
    assert current == demodata.EXAMINERS
    assert demodata.TEACHER in demodata.STAFF_USERNAMES
    assert demodata.TEACHER not in demodata.EXAMINERS.values()


def test_dates_follow_the_calendar(tmp_path: Path) -> None:
    files = demodata.write_registry(tmp_path, students=40, today=TODAY)
    cal = demodata.demo_calendar(TODAY)
    assert (cal.term, cal.start_date, cal.lab_date, cal.exam_date) == (
        "HT2026",
        dt.date(2026, 8, 31),
        dt.date(2026, 10, 16),
        dt.date(2026, 10, 30),
    )
    assert {row[6] for row in rows_of(files, "courses")} == {"2026-08-31"}
    assert {row[2] for row in rows_of(files, "registrations")} == {"HT2026"}
    signups = rows_of(files, "signups")
    assert {(row[1], row[2]) for row in signups} == set(demodata.EXAM_MODULES)
    assert {row[3] for row in signups} == {"2026-10-30"}
    prior = rows_of(files, "prior_results")
    assert {(row[1], row[2], row[3], row[4]) for row in prior} == {
        (course, module, "G", "2026-10-16") for course, module in demodata.PASSED_MODULES
    }


def test_calendar_dates_lie_before_today_all_year() -> None:
    for offset in range(366):
        today = dt.date(2027, 1, 1) + dt.timedelta(days=offset)
        cal = demodata.demo_calendar(today)
        assert cal.start_date < cal.lab_date < cal.exam_date < today, today
        assert re.fullmatch(r"(HT|VT)\d{4}", cal.term)


def test_files_vary_the_format(tmp_path: Path) -> None:
    files = demodata.write_registry(tmp_path, students=10, today=TODAY)
    raw = {kind: path.read_bytes() for kind, path in files.items()}
    assert raw["modules"].startswith(b"\xef\xbb\xbfcourse_code;module_code;")
    assert raw["registrations"].startswith(b"\xef\xbb\xbfpersonnummer,")
    assert raw["examiners"].startswith(b"course_code;username;")
    assert raw["courses"].startswith(b"course_code,")
    assert raw["students"].startswith(b"PK\x03\x04")
    assert files["students"].suffix == ".xlsx"


def test_same_seed_same_files_other_seed_other_students(tmp_path: Path) -> None:
    one = demodata.write_registry(tmp_path / "a", seed=11, students=30, today=TODAY)
    two = demodata.write_registry(tmp_path / "b", seed=11, students=30, today=TODAY)
    other = demodata.write_registry(tmp_path / "c", seed=12, students=30, today=TODAY)
    assert {k: p.read_bytes() for k, p in one.items()} == {
        k: p.read_bytes() for k, p in two.items()
    }
    assert rows_of(one, "students") != rows_of(other, "students")
